{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart> unless overridden; the prefix of every resource name. */}}
{{- define "gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The release's labels; every selector adds a component so that they never overlap. */}}
{{- define "gateway.baseLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The gateway's pods. */}}
{{- define "gateway.selectorLabels" -}}
{{ include "gateway.baseLabels" . }}
app.kubernetes.io/component: smtp
{{- end -}}

{{/* The optional Redis' pod. */}}
{{- define "gateway.redisSelectorLabels" -}}
{{ include "gateway.baseLabels" . }}
app.kubernetes.io/component: redis
{{- end -}}

{{/* Metadata labels of every resource (no component: resources add their own). */}}
{{- define "gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gateway.baseLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gateway.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "gateway.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "gateway.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "gateway.secretName" -}}
{{- default (include "gateway.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "gateway.redisPasswordSecret" -}}
{{- default (printf "%s-redis" (include "gateway.fullname" .)) .Values.redis.existingPasswordSecret -}}
{{- end -}}

{{/*
The effective environment: .Values.config with what the chart itself decides laid over it
(certificate paths when a TLS Secret is mounted, the PROXY protocol networks).
*/}}
{{- define "gateway.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $cfg "TLS_CERT_FILE" (printf "%s/tls.crt" .Values.tls.mountPath) -}}
{{- $_ := set $cfg "TLS_KEY_FILE" (printf "%s/tls.key" .Values.tls.mountPath) -}}
{{- end -}}
{{- if .Values.proxyProtocol.enabled -}}
{{- $_ := set $cfg "PROXY_PROTOCOL_CIDRS" .Values.proxyProtocol.trustedCidrs -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
