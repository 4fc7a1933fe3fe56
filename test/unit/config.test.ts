import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configMarkdown, describeConfig, loadConfig, sandboxEnabled } from '../../src/config/load.ts';
import { fields } from '../../src/config/schema.ts';

test('defaults load, are documented, and the result is frozen', () => {
  const r = loadConfig({});
  assert.ok(r.ok);
  assert.equal(r.config.submissionPort, 2525);
  assert.equal(r.config.smtpsPort, 2465);
  assert.equal(r.config.maxMessageBytes, 10 * 1024 * 1024);
  assert.equal(r.config.maxRecipients, 100);
  assert.equal(r.config.emailType, 'transactional');
  assert.equal(r.config.attachmentPolicy, 'reject');
  assert.equal(r.config.apiUrl, undefined);
  assert.ok(Object.isFrozen(r.config));
  assert.throws(() => {
    (r.config as { submissionPort: number }).submissionPort = 25;
  }, TypeError);
  assert.equal(sandboxEnabled(r.config), true);
});

test('environment values are coerced and validated', () => {
  const r = loadConfig({
    SMTP_SUBMISSION_PORT: '587',
    CAKEMAIL_API_URL: 'https://api.cakemail.dev',
    ATTACHMENT_POLICY: 'drop',
    SANDBOX_ENABLED: 'false',
  });
  assert.ok(r.ok);
  assert.equal(r.config.submissionPort, 587);
  assert.equal(r.config.attachmentPolicy, 'drop');
  assert.equal(sandboxEnabled(r.config), false);
});

test('every invalid setting is reported at once', () => {
  const r = loadConfig({
    SMTP_SUBMISSION_PORT: '70000',
    MAX_RECIPIENTS: 'many',
    CAKEMAIL_EMAIL_TYPE: 'bulk',
    CAKEMAIL_API_URL: 'not a url',
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 4);
  for (const name of ['SMTP_SUBMISSION_PORT', 'MAX_RECIPIENTS', 'CAKEMAIL_EMAIL_TYPE', 'CAKEMAIL_API_URL']) {
    assert.ok(
      r.errors.some((e) => e.startsWith(`${name}=`)),
      `${name} reported`,
    );
  }
});

test('a parse worker heap too small for a worker to start is refused at start, naming the floor', () => {
  const r = loadConfig({ PARSE_HEAP_MB: '8' });
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.errors.join('\n'), /^PARSE_HEAP_MB="8": .*>=32/m);
  assert.ok(loadConfig({ PARSE_HEAP_MB: '32' }).ok);
});

test('cross-field rules are checked', () => {
  const r = loadConfig({
    TLS_CERT_FILE: '/tmp/cert.pem',
    SMTP_SUBMISSION_PORT: '2600',
    SMTP_SMTPS_PORT: '2600',
    SANDBOX_ENABLED: 'false',
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.ok(r.errors.some((e) => e.includes('TLS_CERT_FILE and TLS_KEY_FILE')));
  assert.ok(r.errors.some((e) => e.includes('must differ')));
  assert.ok(r.errors.some((e) => e.includes('SANDBOX_ENABLED=false needs CAKEMAIL_API_URL')));
});

test('secrets are redacted in the effective configuration and in errors', () => {
  const r = loadConfig({ REDIS_URL: 'redis://user:hunter2@redis.internal:6379/0' });
  assert.ok(r.ok);
  const text = describeConfig(r.config).join('\n');
  assert.ok(!text.includes('hunter2'));
  assert.match(text, /REDIS_URL=redis:\/\/user:redacted@redis\.internal:6379\/0/);
  const bad = loadConfig({ REDIS_URL: 'hunter2 is not a url' });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.ok(!bad.errors.join('').includes('hunter2'));
});

test('the markdown table lists every variable', () => {
  const md = configMarkdown();
  for (const f of Object.values(fields)) assert.ok(md.includes(`\`${f.env}\``), f.env);
});

test('README carries the generated configuration table, unchanged', async () => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(configMarkdown()), 'README.md is out of date: paste `smtp-gateway config --markdown`');
});
