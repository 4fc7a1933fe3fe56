// RFC 2920 synchronization at DATA, and how a session that ends in the middle of DATA is logged.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import {
  captureLogs,
  clearSandbox,
  DEMO_PASSWORD,
  DEMO_USER,
  sandboxRequests,
  startTestGateway,
} from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until } from '../helpers/until.ts';

const captured = captureLogs();
const logs = captured.logs;
let gw: Gateway;
before(async () => {
  gw = await startTestGateway({}, captured.logger);
});
after(() => gw?.shutdown());
beforeEach(() => clearSandbox(gw));

const MESSAGE = `From: ${DEMO_USER}\r\nSubject: pipelined\r\n\r\nbody\r\n`;
const emailsCalls = async () => (await sandboxRequests(gw))['POST /v2/emails'] ?? 0;

test('message data in the same write as DATA → 554 5.5.0, no 354, connection closed, nothing sent', async () => {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  c.write(`MAIL FROM:<${DEMO_USER}>\r\nRCPT TO:<sync@example.org>\r\nDATA\r\n${MESSAGE}.\r\nQUIT\r\n`);
  assert.match(await c.reply(), /^250 2\.1\.0 /);
  assert.match(await c.reply(), /^250 2\.1\.5 /);
  assert.equal(await c.reply(), '554 5.5.0 Protocol synchronization error: message data sent before the 354 reply');
  assert.ok(await c.closed());
  assert.equal(await c.reply(), '(closed)', 'no 354 and nothing after the 554');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await emailsCalls(), 0);
});

test('message data in a later write that arrived before the 354 → 554 5.5.0 (STARTTLS listener too)', async () => {
  const c = await RawSmtp.connect(gw.ports.submission);
  await c.cmd('EHLO client.example');
  await c.startTls();
  await c.cmd('EHLO client.example');
  // A wrong password is answered after a 1 s delay; everything written meanwhile, in separate
  // writes, is in the server's hands before it even reaches DATA.
  const plain = (pass: string) => `AUTH PLAIN ${Buffer.from(`\0${DEMO_USER}\0${pass}`).toString('base64')}\r\n`;
  c.write(plain('wrong-password'));
  for (const part of [
    plain(DEMO_PASSWORD),
    `MAIL FROM:<${DEMO_USER}>\r\nRCPT TO:<sync2@example.org>\r\nDATA\r\n`,
    `${MESSAGE}.\r\n`,
  ]) {
    await new Promise((r) => setTimeout(r, 50));
    c.write(part);
  }
  assert.match(await c.reply(), /^535 /);
  assert.match(await c.reply(), /^235 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^554 5\.5\.0 /);
  assert.ok(await c.closed());
  assert.equal(await emailsCalls(), 0);
});

test('legal pipelining: MAIL, RCPT and DATA in one write, the message after 354 → 250', async () => {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  c.write(`MAIL FROM:<${DEMO_USER}>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n`);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^354 /);
  assert.match(await c.cmd(`${MESSAGE}.`), /^250 2\.0\.0 Ok: queued as /);
  // After the message, the next group may again be pipelined.
  c.write(`RSET\r\nNOOP\r\nQUIT\r\n`);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^221 /);
  assert.equal(await emailsCalls(), 2);
});

test('a client hanging up in the middle of DATA (close or reset) is an info line, not an error; nothing is sent', async () => {
  logs.length = 0;
  for (const hangUp of ['close', 'reset'] as const) {
    const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
    await c.cmd(`RCPT TO:<gone-${hangUp}@example.org>`);
    assert.match(await c.cmd('DATA'), /^354 /);
    c.write(`From: ${DEMO_USER}\r\nSubject: half\r\n\r\nhalf a mess`);
    await new Promise((r) => setTimeout(r, 100));
    // A reset (RST) under TLS: reset the TCP socket beneath it.
    if (hangUp === 'reset')
      ((c.socket as unknown as { _parent?: import('node:net').Socket })._parent ?? c.socket).resetAndDestroy();
    else c.close();
  }
  const closed = () => logs.filter((l) => l.msg === 'connection closed during DATA; message not sent');
  await until('both hang-ups to be logged', async () => closed().length >= 2);
  await new Promise((r) => setTimeout(r, 200)); // and nothing more
  const lines = closed();
  assert.equal(lines.length, 2, 'both logged');
  for (const line of lines) {
    assert.equal(line.level, 30);
    assert.equal(line.client, '127.0.0.1');
  }
  assert.deepEqual(
    logs.filter((l) => (l.level as number) >= 40),
    [],
    'no warning or error lines',
  );
  assert.equal(await emailsCalls(), 0);
});

test('connect, auth and message log lines carry the client address', async () => {
  logs.length = 0;
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  assert.match(await c.transaction(DEMO_USER, ['ip@example.org'], MESSAGE), /^250 /);
  c.close();
  for (const msg of ['connection', 'authenticated', 'message answered']) {
    const line = logs.find((l) => l.msg === msg);
    assert.equal(line?.client, '127.0.0.1', `${msg}: ${JSON.stringify(line)}`);
  }
});
