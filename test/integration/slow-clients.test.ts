// Slow clients on a running gateway: a command line that trickles, DATA under the minimum rate,
// a session past its maximum, TLS handshakes that never finish. Short limits keep this fast;
// the idle timeout is long, so only the limit under test can close the connection.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

let gw: Gateway;
before(async () => {
  gw = await startTestGateway({
    SMTP_IDLE_TIMEOUT_MS: '60000',
    SMTP_COMMAND_TIMEOUT_MS: '500',
    DATA_MIN_RATE_BYTES_PER_S: '2000',
    DATA_RATE_GRACE_MS: '300',
    TLS_HANDSHAKE_TIMEOUT_MS: '400',
    SESSION_MAX_MS: '3000',
  });
});
after(() => gw?.shutdown());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const metric = async (series: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

/** Writes `text` one byte every `everyMs` until the connection closes; returns the bytes sent. */
async function trickle(c: RawSmtp, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (c.socket.destroyed || c.socket.writableEnded || c.socket.readableEnded) break;
    c.write(ch);
    sent++;
    await sleep(everyMs);
  }
  return sent;
}

test('a command line trickled one byte at a time is cut at SMTP_COMMAND_TIMEOUT_MS with 421 4.4.2', async () => {
  const c = await RawSmtp.connect(gw.ports.submission);
  const started = Date.now();
  const sending = trickle(c, 'EHLO a-very-slow-client.example.com\r\n', 40);
  assert.equal(
    await c.reply(3000),
    '421 4.4.2 Command line not completed within 0.5 s (SMTP_COMMAND_TIMEOUT_MS), closing connection',
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 450 && elapsed < 2500, `cut after ${elapsed} ms`);
  assert.ok(await c.closed());
  await sending;
  assert.ok((await metric('smtp_gateway_deadlines_exceeded_total{limit="command"}')) >= 1);
});

test('time between commands and time spent waiting on the server are not held against a command', async () => {
  const c = await RawSmtp.connect(gw.ports.smtps, { tls: true });
  assert.match(await c.cmd('EHLO client.example'), /^250/);
  await sleep(700); // idle longer than the command limit: that is the idle timeout's business
  assert.match(await c.cmd('NOOP'), /^250 /);
  // AUTH with a wrong password waits 1 s for its 535; the next line sent meanwhile is not late.
  c.write(`AUTH PLAIN ${Buffer.from(`\0${DEMO_USER}\0wrong`).toString('base64')}\r\nNOOP\r\n`);
  assert.match(await c.reply(), /^535 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 /);
  c.close();
});

test('DATA slower than DATA_MIN_RATE_BYTES_PER_S after the grace gets 421 4.4.2 and sends nothing', async () => {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
  await c.cmd('RCPT TO:<slow@example.org>');
  assert.match(await c.cmd('DATA'), /^354 /);
  const started = Date.now();
  const body = `From: ${DEMO_USER}\r\nSubject: slow\r\n\r\n${'x'.repeat(400)}\r\n.\r\n`;
  const sending = (async () => {
    // 40 bytes every 50 ms = 800 B/s: fine for the grace, then under 2000 B/s.
    for (let i = 0; i < body.length && !c.socket.destroyed && !c.socket.readableEnded; i += 40) {
      c.write(body.slice(i, i + 40));
      await sleep(50);
    }
  })();
  assert.equal(
    await c.reply(3000),
    '421 4.4.2 Message data slower than 2000 bytes/s (DATA_MIN_RATE_BYTES_PER_S), closing connection',
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 300 && elapsed < 2500, `cut after ${elapsed} ms`);
  await sending;
  assert.ok(await c.closed());
  assert.equal((await sandboxRequests(gw))['POST /v2/emails'] ?? 0, 0, 'no API call for a cut message');
});

test('DATA above the rate floor, in many small writes, is accepted', async () => {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
  await c.cmd('RCPT TO:<steady@example.org>');
  assert.match(await c.cmd('DATA'), /^354 /);
  const body = `From: ${DEMO_USER}\r\nSubject: steady\r\n\r\n${'y'.repeat(3000)}\r\n`;
  for (let i = 0; i < body.length; i += 500) {
    c.write(body.slice(i, i + 500)); // 500 bytes per 100 ms = 5000 B/s
    await sleep(100);
  }
  assert.match(await c.cmd('.'), /^250 2\.0\.0 Ok: queued as /);
  c.close();
});

test('a session is closed at SESSION_MAX_MS however busy it keeps itself', async () => {
  // The session starts when the connection is accepted, before the login below.
  const started = Date.now();
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  let reply = '';
  while (Date.now() - started < 6000) {
    reply = await c.cmd('NOOP');
    if (!reply.startsWith('250')) break;
    await sleep(100);
  }
  assert.equal(reply, '421 4.4.2 Session longer than 3 s (SESSION_MAX_MS), closing connection');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 2950 && elapsed < 5500, `closed after ${elapsed} ms`);
  assert.ok(await c.closed());
});

test('implicit TLS: a client that never starts the handshake is told why and the slot freed', async () => {
  const before = await metric('smtp_gateway_deadlines_exceeded_total{limit="tls_handshake"}');
  const s = net.connect({ port: gw.ports.smtps, host: '127.0.0.1' });
  let got = '';
  s.on('data', (d) => (got += d.toString('latin1')));
  const started = Date.now();
  await new Promise((r) => s.once('close', r));
  const elapsed = Date.now() - started;
  assert.equal(
    got,
    '421 4.4.2 TLS handshake not completed within 0.4 s (TLS_HANDSHAKE_TIMEOUT_MS), closing connection\r\n',
  );
  assert.ok(elapsed >= 350 && elapsed < 2500, `closed after ${elapsed} ms`);
  assert.equal(await metric('smtp_gateway_deadlines_exceeded_total{limit="tls_handshake"}'), before + 1);
  assert.equal(await metric('smtp_gateway_connections{listener="smtps"}'), 0);
});

test('implicit TLS: a handshake stalled after 5 bytes of ClientHello is dropped at the limit', async () => {
  const s = net.connect({ port: gw.ports.smtps, host: '127.0.0.1' });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
  const started = Date.now();
  let got = 0;
  s.on('data', (d) => (got += d.length));
  await new Promise((r) => s.once('close', r));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 350 && elapsed < 2500, `closed after ${elapsed} ms`);
  assert.equal(got, 0, 'nothing written in the middle of a handshake');
});

test('STARTTLS: no handshake after 220 → the connection is closed at TLS_HANDSHAKE_TIMEOUT_MS', async () => {
  const c = await RawSmtp.connect(gw.ports.submission);
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd('STARTTLS'), /^220 /);
  const started = Date.now();
  assert.ok(await c.closed(3000), 'closed');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 350 && elapsed < 2500, `closed after ${elapsed} ms`);
});

test('STARTTLS: a completed handshake is not cut, and the session continues under TLS', async () => {
  const c = await RawSmtp.connect(gw.ports.submission);
  await c.cmd('EHLO client.example');
  await c.startTls();
  await sleep(600); // past the handshake limit
  assert.match(await c.cmd('EHLO client.example'), /^250-/);
  assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 /);
  c.close();
});

test('client-initiated TLS renegotiation is refused on both listeners (the connection is dropped)', async () => {
  for (const mode of ['implicit', 'starttls'] as const) {
    let socket: tls.TLSSocket;
    if (mode === 'implicit') {
      socket = tls.connect({
        port: gw.ports.smtps,
        host: '127.0.0.1',
        rejectUnauthorized: false,
        maxVersion: 'TLSv1.2',
      });
      await new Promise((r) => socket.once('secureConnect', r));
    } else {
      const tcp = net.connect({ port: gw.ports.submission, host: '127.0.0.1' });
      await new Promise((r) => tcp.once('connect', r));
      const lines: string[] = [];
      tcp.setEncoding('latin1');
      const waitFor = (re: RegExp) =>
        new Promise<void>((resolve) => {
          const on = (d: string) => {
            lines.push(d);
            if (re.test(lines.join(''))) {
              tcp.off('data', on);
              lines.length = 0;
              resolve();
            }
          };
          tcp.on('data', on);
        });
      await waitFor(/^220 .*\r\n/m);
      tcp.write('EHLO client.example\r\n');
      await waitFor(/^250 .*\r\n/m);
      tcp.write('STARTTLS\r\n');
      await waitFor(/^220 .*\r\n/m);
      socket = tls.connect({ socket: tcp, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      await new Promise((r) => socket.once('secureConnect', r));
    }
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let renegotiated = false;
    socket.renegotiate({ rejectUnauthorized: false }, (err) => {
      renegotiated = !err;
    });
    await Promise.race([closed, sleep(3000)]);
    assert.ok(socket.destroyed, `${mode}: connection dropped`);
    assert.equal(renegotiated, false, `${mode}: no renegotiation completed`);
  }
  assert.ok((await metric('smtp_gateway_protocol_violations_total{kind="tls_renegotiation"}')) >= 2);
});
