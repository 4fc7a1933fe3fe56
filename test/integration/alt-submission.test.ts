// The optional third listener (SMTP_ALT_SUBMISSION_PORT): the same submission behaviour as
// `submission` on another port, off when the port is 0.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

/** A port that was free a moment ago: 0 cannot be used, it means "off" for this listener. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('alt_submission: STARTTLS required before AUTH, then a message is queued and counted under its own listener label', async () => {
  const port = await freePort();
  const gw = await startTestGateway({ SMTP_ALT_SUBMISSION_PORT: String(port) });
  try {
    assert.equal(gw.ports.altSubmission, port);
    const c = await RawSmtp.connect(port);
    assert.match(await c.cmd('EHLO client.example'), /STARTTLS/);
    assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^538 5\.7\.11 /);
    await c.startTls();
    await c.cmd('EHLO client.example');
    assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 /);
    assert.match(
      await c.transaction(DEMO_USER, ['alt@example.org'], `From: ${DEMO_USER}\r\nSubject: alt listener\r\n\r\nhi\r\n`),
      /^250 2\.0\.0 Ok: queued as /,
    );
    c.close();
    const emails = await sandboxEmails(gw);
    assert.deepEqual(
      emails.map((e) => e.payload.email),
      ['alt@example.org'],
    );
    const metrics = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
    assert.match(metrics, /smtp_gateway_connections_total\{listener="alt_submission"\} 1/);
  } finally {
    await gw.shutdown();
  }
});

test('alt_submission: port 0 turns the listener off', async () => {
  const gw = await startTestGateway({ SMTP_ALT_SUBMISSION_PORT: '0' });
  try {
    assert.equal(gw.ports.altSubmission, undefined);
    const metrics = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
    assert.doesNotMatch(metrics, /listener="alt_submission"/);
  } finally {
    await gw.shutdown();
  }
});

test('alt_submission: a port shared with another listener is a configuration error naming the setting', () => {
  const r = loadConfig({ SMTP_SUBMISSION_PORT: '2600', SMTP_ALT_SUBMISSION_PORT: '2600' });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.errors.some((e) => e.startsWith('SMTP_ALT_SUBMISSION_PORT must differ')), JSON.stringify(r));
  assert.equal(loadConfig({}).ok && loadConfig({}).ok, true, 'defaults 2525/2465/2587 are valid together');
});
