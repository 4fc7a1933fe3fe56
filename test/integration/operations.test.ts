// Admin HTTP, graceful shutdown and logs, on a running gateway.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { startGateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, setFault, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

test('admin: liveness, readiness and Prometheus metrics with outcomes and API latency', async () => {
  const gw = await startTestGateway();
  try {
    assert.equal((await get(gw.ports.admin, '/health/live')).status, 200);
    assert.equal((await get(gw.ports.admin, '/health/ready')).status, 200);
    const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    assert.match(
      await c.transaction(DEMO_USER, ['m@example.org'], `From: ${DEMO_USER}\r\nSubject: metrics\r\n\r\nhi\r\n`),
      /^250 /,
    );
    c.close();
    const metrics = (await get(gw.ports.admin, '/metrics')).body;
    assert.match(metrics, /smtp_gateway_messages_total\{outcome="accepted"\} 1/);
    assert.match(metrics, /smtp_gateway_connections_total\{listener="smtps"\} 1/);
    assert.match(metrics, /smtp_gateway_api_request_duration_seconds_count\{endpoint="emails"\} 1/);
    assert.match(metrics, /smtp_gateway_auth_total\{result="ok"\} 1/);
  } finally {
    await gw.shutdown();
  }
});

test('shutdown: not ready, idle sessions get 421 4.3.2, the in-flight message settles with 250', async () => {
  const gw = await startTestGateway({ API_TIMEOUT_MS: '5000' });
  const idle = await RawSmtp.connect(gw.ports.submission);
  await idle.cmd('EHLO idle.example');
  const busy = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  await busy.cmd(`MAIL FROM:<${DEMO_USER}>`);
  await busy.cmd('RCPT TO:<late@example.org>');
  await busy.cmd('DATA');
  await setFault(gw, { latencyMs: 800 });
  busy.write(`From: ${DEMO_USER}\r\nSubject: in flight\r\n\r\nhi\r\n.\r\n`);
  await new Promise((r) => setTimeout(r, 200)); // the API call is now under way
  const stopping = gw.shutdown();
  assert.equal(gw.isReady(), false);
  assert.equal((await get(gw.ports.admin, '/health/ready')).status, 503);
  assert.match(await idle.reply(), /^421 4\.3\.2 /);
  assert.match(await busy.reply(), /^250 2\.0\.0 Ok: queued as /);
  await stopping;
  assert.equal((await sandboxEmails(gw).catch(() => [])).length, 0, 'sandbox closed with the gateway');
  idle.close();
  busy.close();
});

test('logs: JSON lines, a session id on every SMTP line, no password, token or body', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const loaded = loadConfig({
    SMTP_SUBMISSION_PORT: '0',
    SMTP_SMTPS_PORT: '0',
    SMTP_ALT_SUBMISSION_PORT: '0',
    ADMIN_PORT: '0',
    SANDBOX_PORT: '0',
  });
  assert.ok(loaded.ok);
  const gw = await startGateway(loaded.config, pino({ level: 'debug' }, sink));
  try {
    const c = await RawSmtp.connect(gw.ports.smtps, { tls: true });
    await c.cmd('EHLO t');
    await c.authPlain(DEMO_USER, 'wrong-secret-password');
    await c.authPlain(DEMO_USER, DEMO_PASSWORD);
    await c.transaction(
      DEMO_USER,
      ['log@example.org'],
      `From: ${DEMO_USER}\r\nSubject: secret subject line\r\n\r\nsecret body text\r\n`,
    );
    c.close();
  } finally {
    await gw.shutdown();
  }
  const all = lines.join('\n');
  for (const secret of [DEMO_PASSWORD, 'wrong-secret-password', 'secret body text', 'secret subject line'])
    assert.ok(!all.includes(secret), `log leaks ${secret}`);
  const emails = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const smtpLines = emails.filter((l) =>
    ['authenticated', 'authentication failed', 'message answered', 'recipient queued'].includes(l.msg as string),
  );
  assert.ok(smtpLines.length >= 4);
  for (const l of smtpLines) assert.equal(typeof l.session, 'string', `session id on "${l.msg}"`);
});
