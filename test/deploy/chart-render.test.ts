// The Helm chart rendered (test/helpers/helm-render.ts, a renderer for the template subset the
// chart uses) with its default values, each overlay, and the optional features switched on and
// off: every manifest parses, the objects refer to each other consistently (ports, selectors,
// Secrets, mounts), the ConfigMap is a configuration the gateway itself accepts, and the
// PrometheusRule carries exactly deploy/prometheus/rules.yaml.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { mergeValues, renderChart } from '../helpers/helm-render.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CHART = join(ROOT, 'deploy/helm/cakemail-smtp-gateway');
const base = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
const overlay = (name: string) => parse(readFileSync(join(CHART, name), 'utf8')) as Record<string, any>;

interface K8s {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string> | null;
  [k: string]: any;
}

function render(values: Record<string, any>): K8s[] {
  const out: K8s[] = [];
  for (const [file, text] of renderChart({ chartDir: CHART, values })) {
    if (file.startsWith('_') || file.endsWith('.txt')) continue;
    for (const doc of parseAllDocuments(text)) {
      assert.deepEqual(doc.errors.map((e) => e.message), [], `${file} renders to valid YAML`);
      const obj = doc.toJS() as K8s | null;
      if (obj === null) continue;
      assert.ok(obj.apiVersion && obj.kind && obj.metadata?.name, `${file}: apiVersion, kind, metadata.name`);
      out.push(obj);
    }
  }
  return out;
}

const one = (objs: K8s[], kind: string, name?: string): K8s => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0]!;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Checks that hold for every combination of values. */
function consistent(objs: K8s[], values: Record<string, any>) {
  const full = 'smtp-cakemail-smtp-gateway';
  const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.equal(new Set(names).size, names.length, 'no two objects share kind and name');

  // Every workload selects its own pods, and every Service and policy selects some pods.
  const podLabels = objs.filter((o) => o.kind === 'Deployment').map((d) => {
    assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${d.metadata.name} selects its own pods`);
    return d.spec.template.metadata.labels as Record<string, string>;
  });
  for (const o of objs.filter((x) => x.kind === 'Service')) assert.ok(podLabels.some((l) => matches(o.spec.selector, l)), `Service ${o.metadata.name} selects pods`);
  for (const o of objs.filter((x) => x.kind === 'NetworkPolicy')) assert.ok(podLabels.some((l) => matches(o.spec.podSelector.matchLabels, l)), `NetworkPolicy ${o.metadata.name} selects pods`);

  const dep = one(objs, 'Deployment', full);
  const pod = dep.spec.template;
  assert.ok(matches(dep.spec.selector.matchLabels, pod.metadata.labels), 'the Deployment selects its own pods');
  const container = pod.spec.containers.find((c: any) => c.name === 'smtp-gateway');
  const portNames = new Set<string>(container.ports.map((p: any) => p.name));
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) assert.ok(portNames.has(container[probe].httpGet.port), probe);
  assert.equal(container.readinessProbe.httpGet.path, '/health/ready');
  assert.equal(container.livenessProbe.httpGet.path, '/health/live');
  assert.deepEqual(container.lifecycle.preStop.exec.command, ['sleep', String(values.preStopSleepSeconds)]);
  assert.equal(pod.spec.terminationGracePeriodSeconds, values.terminationGracePeriodSeconds);
  assert.deepEqual(container.resources, values.resources);
  assert.deepEqual(Object.keys(container).sort().filter((k) => !['args', 'env', 'envFrom', 'image', 'imagePullPolicy', 'lifecycle', 'livenessProbe', 'name', 'ports', 'readinessProbe', 'resources', 'securityContext', 'startupProbe', 'volumeMounts'].includes(k)), [], 'only known container fields (a broken indent shows up here)');
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  assert.equal(pod.spec.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
  assert.ok(container.volumeMounts.some((m: any) => m.mountPath === '/tmp'), 'a writable /tmp');
  const volumes = new Set(pod.spec.volumes.map((v: any) => v.name));
  for (const m of container.volumeMounts) {
    assert.ok(volumes.has(m.name), `volume ${m.name}`);
    assert.equal(m.subPath, undefined, 'no subPath: Secret updates must reach the files');
  }
  assert.ok(pod.spec.topologySpreadConstraints?.some((c: any) => c.topologyKey === 'topology.kubernetes.io/zone') ?? !values.topologySpread.enabled);

  // Pods of other components (Redis) must never be selected as gateway pods.
  for (const other of objs.filter((o) => o.kind === 'Deployment' && o !== dep)) {
    assert.ok(!matches(dep.spec.selector.matchLabels, other.spec.template.metadata.labels), `${other.metadata.name} is not selected by the gateway Deployment`);
    assert.ok(!matches(other.spec.selector.matchLabels, pod.metadata.labels), `${other.metadata.name} does not select gateway pods`);
  }

  const svc = one(objs, 'Service', full);
  assert.equal(svc.spec.type, values.service.type);
  assert.ok(matches(svc.spec.selector, pod.metadata.labels));
  for (const p of svc.spec.ports) assert.ok(portNames.has(p.targetPort), `Service port ${p.port} → ${p.targetPort} exists on the container`);
  assert.ok(!svc.spec.ports.some((p: any) => p.targetPort === 'admin'), 'the public Service does not expose the admin port');
  const admin = one(objs, 'Service', `${full}-admin`);
  assert.equal(admin.spec.type, 'ClusterIP');
  assert.equal(admin.spec.ports[0].targetPort, 'admin');

  // Configuration: envFrom sources exist (or are the operator's), and the gateway accepts it.
  const cm = one(objs, 'ConfigMap', full);
  assert.equal(container.envFrom[0].configMapRef.name, cm.metadata.name);
  const secretName = container.envFrom[1].secretRef.name;
  if (values.existingSecret) assert.equal(secretName, values.existingSecret);
  else one(objs, 'Secret', secretName);
  const env: Record<string, string> = { ...cm.data };
  if (!values.existingSecret) Object.assign(env, one(objs, 'Secret', secretName).stringData ?? {});
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value.replace('$(REDIS_PASSWORD)', 'password');
  const loaded = loadConfig(env);
  assert.ok(loaded.ok, `the gateway accepts the rendered configuration: ${loaded.ok ? '' : loaded.errors.join('; ')}`);
  for (const [k, v] of Object.entries(values.config as Record<string, string>)) {
    if (v !== '' && !['TLS_CERT_FILE', 'TLS_KEY_FILE', 'PROXY_PROTOCOL_CIDRS'].includes(k)) assert.equal(cm.data?.[k], String(v), `ConfigMap ${k}`);
  }
  assert.equal(Number(container.ports.find((p: any) => p.name === 'submission').containerPort), loaded.config.submissionPort);
  assert.equal(Number(container.ports.find((p: any) => p.name === 'admin').containerPort), loaded.config.adminPort);

  if (values.tls.enabled) {
    const mount = container.volumeMounts.find((m: any) => m.name === 'tls');
    assert.equal(cm.data!.TLS_CERT_FILE, `${mount.mountPath}/tls.crt`);
    assert.equal(cm.data!.TLS_KEY_FILE, `${mount.mountPath}/tls.key`);
    const secretVolume = pod.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName;
    if (values.tls.certManager.enabled) assert.equal(one(objs, 'Certificate').spec.secretName, secretVolume, 'the Certificate writes the Secret the pods mount');
  } else {
    assert.equal(cm.data?.TLS_CERT_FILE, undefined);
  }

  for (const np of objs.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.name === full)) {
    assert.ok(matches(np.spec.podSelector.matchLabels, pod.metadata.labels));
    for (const rule of np.spec.ingress) for (const p of rule.ports) assert.ok(portNames.has(p.port), `NetworkPolicy port ${p.port} exists on the container`);
  }
  if (values.podDisruptionBudget.enabled) assert.deepEqual(one(objs, 'PodDisruptionBudget').spec.selector.matchLabels, dep.spec.selector.matchLabels);
  if (values.autoscaling.enabled) {
    const hpa = one(objs, 'HorizontalPodAutoscaler');
    assert.equal(hpa.spec.scaleTargetRef.name, full);
    assert.equal(dep.spec.replicas, undefined, 'the HPA owns the replica count');
  } else {
    assert.equal(dep.spec.replicas, values.replicaCount);
  }
  if (values.serviceMonitor.enabled) {
    const sm = one(objs, 'ServiceMonitor');
    assert.ok(matches(sm.spec.selector.matchLabels, admin.metadata.labels), 'the ServiceMonitor selects the admin Service');
    assert.ok(!matches(sm.spec.selector.matchLabels, svc.metadata.labels), 'and not the public one');
    assert.equal(sm.spec.endpoints[0].port, 'admin');
  }
  if (values.prometheusRule.enabled) {
    const rules = parse(readFileSync(join(ROOT, 'deploy/prometheus/rules.yaml'), 'utf8').replaceAll('https://github.com/cakemail/cakemail-smtp-gateway/blob/main/docs/runbooks/', values.prometheusRule.runbookBaseUrl));
    assert.deepEqual(one(objs, 'PrometheusRule').spec, rules);
  }
}

test('chart renders consistently with values.yaml alone', () => {
  const objs = render(base);
  consistent(objs, base);
  assert.deepEqual(objs.map((o) => o.kind).sort(), ['Certificate', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount']);
  const svc = one(objs, 'Service', 'smtp-cakemail-smtp-gateway');
  assert.deepEqual(svc.spec.ports.map((p: any) => [p.port, p.targetPort]), [[587, 'submission'], [465, 'smtps'], [2525, 'alt-submission']]);
  assert.equal(svc.spec.externalTrafficPolicy, 'Local');
});

test('chart renders consistently with values-staging.yaml (Redis in the chart, ClusterIssuers, monitoring)', () => {
  const values = mergeValues(base, overlay('values-staging.yaml'));
  const objs = render(values);
  consistent(objs, values);
  assert.deepEqual(objs.filter((o) => o.kind === 'ClusterIssuer').map((o) => [o.metadata.name, o.spec.acme.server]), [
    ['letsencrypt-staging', 'https://acme-staging-v02.api.letsencrypt.org/directory'],
    ['letsencrypt-production', 'https://acme-v02.api.letsencrypt.org/directory'],
  ]);
  assert.equal(one(objs, 'Certificate').spec.issuerRef.name, 'letsencrypt-staging');
  const container = one(objs, 'Deployment', 'smtp-cakemail-smtp-gateway').spec.template.spec.containers[0];
  assert.equal(container.env.find((e: any) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef.name, 'smtp-redis');
  assert.equal(container.env.find((e: any) => e.name === 'REDIS_URL').value, 'redis://:$(REDIS_PASSWORD)@smtp-cakemail-smtp-gateway-redis:6379/0');
  one(objs, 'Service', 'smtp-cakemail-smtp-gateway-redis');
  assert.equal(objs.filter((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-redis')).length, 0, 'the existing password Secret is used');
  const egress = one(objs, 'NetworkPolicy', 'smtp-cakemail-smtp-gateway').spec.egress;
  assert.ok(egress.some((r: any) => r.ports?.some((p: any) => p.port === 6379)), 'egress to Redis');
});

test('chart renders consistently with values-production.yaml (existing Secret, custom metric, monitoring)', () => {
  const values = mergeValues(base, overlay('values-production.yaml'));
  const objs = render(values);
  consistent(objs, values);
  assert.equal(objs.filter((o) => o.kind === 'Secret').length, 0, 'secrets come from the existing Secret only');
  assert.equal(objs.filter((o) => o.kind === 'ClusterIssuer').length, 0);
  const hpa = one(objs, 'HorizontalPodAutoscaler');
  assert.deepEqual(hpa.spec.metrics.map((m: any) => m.type), ['Resource', 'Pods']);
  assert.equal(hpa.spec.metrics[1].pods.metric.name, 'smtp_gateway_messages_per_second');
});

test('chart renders consistently with the optional parts switched the other way', () => {
  const values = mergeValues(base, {
    config: { SMTP_ALT_SUBMISSION_PORT: '0', CAKEMAIL_API_URL: 'https://api.cakemail.dev' },
    tls: { enabled: false },
    proxyProtocol: { enabled: true, trustedCidrs: '10.1.0.0/16' },
    service: { externalTrafficPolicy: 'Cluster', loadBalancerSourceRanges: ['203.0.113.0/24'] },
    autoscaling: { enabled: false },
    podDisruptionBudget: { enabled: false },
    networkPolicy: { egress: { enabled: false }, smtpFromCidrs: ['203.0.113.0/24'] },
    topologySpread: { enabled: false },
    redis: { enabled: true, password: 'c0ffee' },
    secretConfig: { REDIS_URL: 'redis://:ignored@elsewhere:6379/0' },
    priorityClassName: 'mail-critical',
  });
  const objs = render(values);
  consistent(objs, values);
  const dep = one(objs, 'Deployment', 'smtp-cakemail-smtp-gateway');
  const container = dep.spec.template.spec.containers[0];
  assert.ok(!container.ports.some((p: any) => p.name === 'alt-submission'), 'alternate listener off: no port');
  assert.ok(!one(objs, 'Service', 'smtp-cakemail-smtp-gateway').spec.ports.some((p: any) => p.name === 'alt-submission'));
  assert.equal(one(objs, 'ConfigMap').data!.PROXY_PROTOCOL_CIDRS, '10.1.0.0/16');
  assert.equal(objs.filter((o) => o.kind === 'Certificate').length, 0);
  assert.equal(one(objs, 'Secret', 'smtp-cakemail-smtp-gateway-redis').stringData!.password, 'c0ffee');
  // The chart's Redis wins over secretConfig.REDIS_URL: env overrides envFrom.
  assert.match(container.env.find((e: any) => e.name === 'REDIS_URL').value, /@smtp-cakemail-smtp-gateway-redis:6379/);
  const np = one(objs, 'NetworkPolicy', 'smtp-cakemail-smtp-gateway');
  assert.deepEqual(np.spec.policyTypes, ['Ingress']);
  assert.deepEqual(np.spec.ingress[0].from, [{ ipBlock: { cidr: '203.0.113.0/24' } }]);
  assert.equal(dep.spec.template.spec.priorityClassName, 'mail-critical');
});

test('chart refuses Redis without a password', () => {
  assert.throws(() => render(mergeValues(base, { redis: { enabled: true } })), /redis\.enabled needs redis\.password or redis\.existingPasswordSecret/);
});

test('spool mode with the dir backend mounts a writable volume at SPOOL_DIR: an emptyDir on disk by default, an existing claim for one pod', () => {
  const spoolMount = (objs: K8s[]) => one(objs, 'Deployment').spec.template.spec.containers[0].volumeMounts.find((m: any) => m.name === 'spool');
  const spoolVolume = (objs: K8s[]) => one(objs, 'Deployment').spec.template.spec.volumes.find((v: any) => v.name === 'spool');
  // Synchronous mode (the default) has no spool: nothing mounted.
  assert.equal(spoolMount(render(base)), undefined);

  const spool = { config: { DELIVERY_MODE: 'spool' }, secretConfig: { SPOOL_KEY: 'q4HqzCg0nUQ6u0o7pD2Tn0m3y2kQeJp6Yl2b8p5c7xA=' } };
  // An emptyDir goes with its pod, and an autoscaler removes pods at every scale-in.
  assert.throws(() => render(mergeValues(base, spool, { autoscaling: { enabled: true } })), /loses its mail at every scale-in/);
  const values = mergeValues(base, spool, { autoscaling: { enabled: false } });
  const objs = render(values);
  consistent(objs, values);
  assert.equal(spoolMount(objs).mountPath, base.config.SPOOL_DIR);
  assert.equal(one(objs, 'ConfigMap').data!.SPOOL_DIR, spoolMount(objs).mountPath, 'the gateway writes where the volume is');
  assert.deepEqual(spoolVolume(objs), { name: 'spool', emptyDir: { sizeLimit: base.spoolVolume.sizeLimit } }, 'on disk (not medium: Memory, which counts against the memory limit)');
  assert.equal(one(objs, 'Secret').stringData!.SPOOL_KEY, spool.secretConfig.SPOOL_KEY);
  assert.equal(one(objs, 'Deployment').spec.strategy.type, 'RollingUpdate');

  // A claim is one pod's: refused with several pods, mounted (and the pod recreated, not surged) with one.
  assert.throws(() => render(mergeValues(values, { spoolVolume: { existingClaim: 'gateway-spool' } })), /spoolVolume\.existingClaim is one pod's spool/);
  const single = mergeValues(values, { spoolVolume: { existingClaim: 'gateway-spool' }, autoscaling: { enabled: false }, replicaCount: 1 });
  const claimed = render(single);
  consistent(claimed, single);
  assert.deepEqual(spoolVolume(claimed), { name: 'spool', persistentVolumeClaim: { claimName: 'gateway-spool' } });
  assert.equal(one(claimed, 'Deployment').spec.strategy.type, 'Recreate');
});

test('spool mode with the Redis backend needs Redis and mounts no spool directory', () => {
  const spool = { config: { DELIVERY_MODE: 'spool', SPOOL_BACKEND: 'redis' }, secretConfig: { SPOOL_KEY: 'q4HqzCg0nUQ6u0o7pD2Tn0m3y2kQeJp6Yl2b8p5c7xA=' } };
  assert.throws(() => render(mergeValues(base, spool)), /SPOOL_BACKEND=redis needs Redis/);
  assert.throws(() => render(mergeValues(base, { ...spool, secretConfig: { REDIS_URL: 'rediss://:pw@redis.example:6380/0' } })), /SPOOL_BACKEND=redis needs one SPOOL_KEY shared by every pod/);
  const values = mergeValues(base, { ...spool, secretConfig: { ...spool.secretConfig, REDIS_URL: 'rediss://:pw@redis.example:6380/0' } });
  const objs = render(values);
  consistent(objs, values);
  const pod = one(objs, 'Deployment').spec.template.spec;
  assert.ok(!pod.volumes.some((v: any) => v.name === 'spool'));
  assert.ok(!pod.containers[0].volumeMounts.some((m: any) => m.name === 'spool'));
  // With an existing Secret the chart cannot see REDIS_URL: it trusts the operator's Secret.
  render(mergeValues(base, { ...spool, existingSecret: 'gateway-secrets' }));
});
