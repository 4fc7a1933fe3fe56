// The deployment artefacts under deploy/ stay consistent with the code: YAML that parses, a Helm
// chart whose templates use only defined values and whose values carry every setting of the
// configuration schema, alert rules identical in both places with a runbook and a unit test per
// alert, and dashboards and alerts that query only metrics the gateway exposes.
// (Helm itself is not available here; `helm lint` runs in deploy/ci/run.sh where it is.)
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { fields } from '../../src/config/schema.ts';
import { createMetrics } from '../../src/observability/metrics.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CHART = join(ROOT, 'deploy/helm/cakemail-smtp-gateway');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const yamlFile = (path: string) => parse(read(path)) as any;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
const templates = walk(join(CHART, 'templates')).filter((f) => /\.(yaml|tpl|txt)$/.test(f));

test('every YAML file under deploy/ parses (Helm templates excepted: they are Go templates)', () => {
  const files = walk(join(ROOT, 'deploy')).filter((f) => /\.ya?ml$/.test(f) && !f.includes('/templates/'));
  assert.ok(files.length >= 8, `found ${files.length} YAML files`);
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
      assert.deepEqual(doc.errors.map((e) => e.message), [], relative(ROOT, f));
    }
  }
});

test('chart templates reference only values defined in values.yaml', () => {
  const missing: string[] = [];
  let count = 0;
  for (const f of templates) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      count++;
      let node: any = values;
      for (const key of m[1]!.slice(1).split('.')) {
        if (node === null || typeof node !== 'object' || !(key in node)) {
          missing.push(`${relative(CHART, f)}: .Values${m[1]}`);
          break;
        }
        node = node[key];
      }
    }
  }
  assert.ok(count > 50, `parsed ${count} references`);
  assert.deepEqual(missing, []);
});

test('values-staging.yaml and values-production.yaml only override keys that values.yaml defines', () => {
  // An empty map or list in values.yaml is free-form (annotations, labels, extra rules).
  const check = (overlay: any, base: any, path: string, bad: string[]) => {
    if (overlay === null || typeof overlay !== 'object' || Array.isArray(overlay)) return;
    if (base !== null && typeof base === 'object' && Object.keys(base).length === 0) return;
    for (const [k, v] of Object.entries(overlay)) {
      if (base === null || typeof base !== 'object' || !(k in base)) bad.push(`${path}.${k}`);
      else check(v, base[k], `${path}.${k}`, bad);
    }
  };
  for (const name of ['values-staging.yaml', 'values-production.yaml']) {
    const bad: string[] = [];
    check(parse(readFileSync(join(CHART, name), 'utf8')), values, '', bad);
    assert.deepEqual(bad, [], name);
  }
});

test('every configuration setting is in the chart values (config or secretConfig) and in the README table', () => {
  const readme = read('README.md');
  const config = values.config as Record<string, unknown>;
  const secret = values.secretConfig as Record<string, unknown>;
  for (const f of Object.values(fields) as { env: string; secret?: boolean }[]) {
    if (f.secret) assert.ok(f.env in secret, `${f.env} (secret) is missing from secretConfig in the chart's values.yaml`);
    else assert.ok(f.env in config, `${f.env} is missing from config in the chart's values.yaml`);
    assert.ok(readme.includes(`| \`${f.env}\` |`), `${f.env} is missing from README's configuration table`);
  }
  const known = new Set((Object.values(fields) as { env: string }[]).map((f) => f.env));
  const unknown = [...Object.keys(config), ...Object.keys(secret)].filter((k) => !known.has(k));
  assert.deepEqual(unknown, [], 'chart values name settings the gateway does not have');
});

test('chart defaults: container ports match the image, and the grace period covers preStop + drain + message deadline', () => {
  const dockerfile = read('Dockerfile');
  const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1]!.split(/\s+/).map(Number).sort();
  const c = values.config;
  assert.deepEqual([c.SMTP_SUBMISSION_PORT, c.SMTP_SMTPS_PORT, c.SMTP_ALT_SUBMISSION_PORT, c.ADMIN_PORT].map(Number).sort(), exposed);
  for (const env of ['SMTP_SUBMISSION_PORT', 'SMTP_SMTPS_PORT', 'SMTP_ALT_SUBMISSION_PORT', 'ADMIN_PORT']) {
    assert.match(dockerfile, new RegExp(`${env}=${c[env]}\\b`), `Dockerfile sets ${env}=${c[env]}`);
  }
  assert.match(dockerfile, /^FROM \$\{NODE_IMAGE\}$/m);
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
  assert.match(dockerfile, /^USER 1000:1000$/m);
  // The spool directory exists in the image for the runtime user, and the chart mounts its volume there.
  assert.match(dockerfile, new RegExp(`SPOOL_DIR=${c.SPOOL_DIR}\\b`), `Dockerfile sets SPOOL_DIR=${c.SPOOL_DIR}`);
  assert.match(dockerfile, new RegExp(`chown 1000:1000 ${c.SPOOL_DIR}\\b`), 'the spool directory belongs to uid 1000');
  for (const name of ['values.yaml', 'values-staging.yaml', 'values-production.yaml']) {
    const v = { ...values, ...(parse(readFileSync(join(CHART, name), 'utf8')) as any) };
    const cfg = { ...values.config, ...v.config };
    const needed = v.preStopSleepSeconds + Number(cfg.SHUTDOWN_TIMEOUT_MS) / 1000 + Number(cfg.MESSAGE_DEADLINE_MS) / 1000 + 10;
    assert.ok(v.terminationGracePeriodSeconds >= needed, `${name}: terminationGracePeriodSeconds ${v.terminationGracePeriodSeconds} < ${needed}`);
  }
  assert.equal(values.securityContext.readOnlyRootFilesystem, true);
  assert.equal(values.podSecurityContext.runAsNonRoot, true);
});

const rules = yamlFile('deploy/prometheus/rules.yaml');
const alerts = (rules.groups as any[]).flatMap((g) => g.rules).filter((r: any) => r.alert);

test("the chart's PrometheusRule uses exactly the plain rules file", () => {
  assert.equal(readFileSync(join(CHART, 'files/prometheus-rules.yaml'), 'utf8'), read('deploy/prometheus/rules.yaml'));
  assert.match(readFileSync(join(CHART, 'templates/prometheusrule.yaml'), 'utf8'), /\.Files\.Get "files\/prometheus-rules\.yaml"/);
});

test('at least 10 alerts, each with a severity, a runbook that exists, and a unit test firing and not firing', () => {
  assert.ok(alerts.length >= 10, `${alerts.length} alerts`);
  const tests = yamlFile('deploy/prometheus/rules.test.yaml').tests.flatMap((t: any) => t.alert_rule_test) as { alertname: string; exp_alerts?: unknown[] }[];
  for (const a of alerts) {
    assert.match(a.labels?.severity ?? '', /^(critical|warning)$/, a.alert);
    assert.ok(a.annotations?.summary && a.annotations?.description, `${a.alert}: summary and description`);
    assert.equal(a.annotations?.runbook_url, `https://github.com/cakemail/cakemail-smtp-gateway/blob/main/docs/runbooks/${a.alert}.md`);
    const runbook = join(ROOT, 'docs/runbooks', `${a.alert}.md`);
    assert.ok(existsSync(runbook), `docs/runbooks/${a.alert}.md exists`);
    const text = readFileSync(runbook, 'utf8');
    for (const section of ['## What it means', '## Confirm', '## What to do']) assert.ok(text.includes(section), `${a.alert} runbook: ${section}`);
    assert.ok(tests.some((t) => t.alertname === a.alert && (t.exp_alerts?.length ?? 0) > 0), `${a.alert}: a test where it fires`);
    assert.ok(tests.some((t) => t.alertname === a.alert && (t.exp_alerts?.length ?? 0) === 0), `${a.alert}: a test where it does not fire`);
  }
});

test('dashboard, alert rules, their tests and the runbooks query only metrics the gateway exposes', async () => {
  const metrics = createMetrics();
  const registered = new Map((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
  const exists = (name: string): boolean => {
    if (registered.has(name)) return true;
    const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
    return base !== undefined && registered.get(base) === 'histogram';
  };
  const dashboard = JSON.parse(read('deploy/grafana/dashboard.json'));
  const exprs: [string, string][] = [];
  const collect = (node: any, where: string) => {
    if (Array.isArray(node)) node.forEach((n) => collect(n, where));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if ((k === 'expr' || k === 'series' || k === 'query' || k === 'definition') && typeof v === 'string') exprs.push([where, v]);
        else collect(v, where);
      }
    }
  };
  collect(dashboard, 'dashboard.json');
  collect(rules, 'rules.yaml');
  collect(yamlFile('deploy/prometheus/rules.test.yaml'), 'rules.test.yaml');
  for (const f of readdirSync(join(ROOT, 'docs/runbooks'))) exprs.push([`runbooks/${f}`, read(`docs/runbooks/${f}`)]);
  exprs.push(['docs/deployment.md', read('docs/deployment.md')]);
  const unknown = new Set<string>();
  let seen = 0;
  for (const [where, expr] of exprs) {
    for (const m of expr.matchAll(/\bsmtp_gateway_[a-z0-9_]+/g)) {
      seen++;
      // The custom HPA metric is served by prometheus-adapter, not by the gateway.
      if (m[0] === 'smtp_gateway_messages_per_second') continue;
      if (!exists(m[0])) unknown.add(`${where}: ${m[0]}`);
    }
  }
  assert.ok(seen > 100, `checked ${seen} metric references`);
  assert.deepEqual([...unknown], []);
  // The dashboard covers what operators look at.
  const titles = (dashboard.panels as { title: string }[]).map((p) => p.title.toLowerCase()).join(' | ');
  for (const word of ['messages/s by outcome', 'final dot', 'api latency', 'api attempts', 'open connections', 'circuit', 'rate limited', 'auth', 'token cache', 'cpu', 'memory', 'spool depth', 'spool bytes', 'oldest message age', 'spool delivery attempts', 'dead letters', 'spool write latency']) {
    assert.ok(titles.includes(word), `a dashboard panel about ${word}`);
  }
  const ids = (dashboard.panels as { id: number }[]).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
});

test('Alertmanager example: critical alerts page through PagerDuty, warnings go to chat, no secret inline', () => {
  const am = yamlFile('deploy/alertmanager/alertmanager.yaml');
  const critical = am.route.routes.find((r: any) => r.matchers?.some((m: string) => /severity\s*=\s*"critical"/.test(m)));
  assert.equal(critical?.receiver, 'pagerduty');
  const pd = am.receivers.find((r: any) => r.name === 'pagerduty').pagerduty_configs[0];
  assert.ok(pd.routing_key_file && !pd.routing_key, 'routing key read from a file');
  assert.equal(am.route.receiver, 'chat');
});

test('values.yaml is documented line by line: a comment above every key (list items excepted)', () => {
  const lines = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n');
  const undocumented: string[] = [];
  let sequenceIndent: number | undefined;
  lines.forEach((line, i) => {
    const indent = line.length - line.trimStart().length;
    if (/^\s*- /.test(line)) {
      sequenceIndent = indent;
      return;
    }
    if (sequenceIndent !== undefined && line.trim() && indent > sequenceIndent) return;
    sequenceIndent = undefined;
    if (!/^\s*[A-Za-z0-9_.\-/]+:/.test(line)) return;
    let j = i - 1;
    while (j >= 0 && !lines[j]!.trim()) j--;
    if (!lines[j]?.trimStart().startsWith('#')) undocumented.push(`${i + 1}: ${line.trim()}`);
  });
  assert.deepEqual(undocumented, []);
});
