#!/usr/bin/env bash
# Deployment checks, run by .ci/run after the test suite: the container image is built and
# smoke-tested, the Prometheus rules, their unit tests and the Alertmanager example are
# validated, the deploy/ YAML is linted, and the Helm chart is linted and rendered where helm
# is installed. Every step is timed. Assumes the packages of .ci/run's deployment block.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=localhost/cakemail-smtp-gateway:ci
buildah() { command buildah --storage-driver vfs "$@"; }

step() { # $1: name, rest: command
  local name=$1; shift
  local t0=$SECONDS
  echo "::: $name"
  "$@"
  echo "::: $name: done in $((SECONDS - t0)) s"
}

build_image() {
  buildah rmi "$IMAGE" >/dev/null 2>&1 || true
  buildah bud --isolation chroot --pull=never --format docker --quiet \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -t "$IMAGE" . >/dev/null
  buildah images --format 'built {{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$IMAGE"
  buildah inspect --type image --format '{{range $k, $v := .OCIv1.Config.Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$IMAGE" | grep '^org.opencontainers'
}

helm_checks() {
  if command -v helm >/dev/null 2>&1; then
    local chart=deploy/helm/cakemail-smtp-gateway
    helm lint "$chart" -f "$chart/values-staging.yaml"
    helm lint "$chart" -f "$chart/values-production.yaml"
    helm template smtp "$chart" -f "$chart/values-production.yaml" >/dev/null
    echo "helm lint and template: ok"
  else
    echo "helm is not installed here: chart checked by test/deploy (values, templates, schema) only"
  fi
}

total=$SECONDS
step "base image stand-in (node:24-bookworm-slim)" deploy/ci/base-standin.sh
step "image build" build_image
step "image smoke test" deploy/ci/smoke.sh "$IMAGE"
step "promtool check rules" promtool check rules deploy/prometheus/rules.yaml
step "promtool test rules" promtool test rules deploy/prometheus/rules.test.yaml
step "dashboard queries parse" deploy/ci/check-dashboard.sh
step "amtool check-config" amtool check-config deploy/alertmanager/alertmanager.yaml
step "yamllint" yamllint --strict -c deploy/.yamllint.yaml deploy
step "helm" helm_checks
echo "::: deployment checks: all passed in $((SECONDS - total)) s"
