// Connection admission on a running gateway: the per-process cap across both listeners, the
// per-IP cap, trusted CIDRs, the refusal counter and an exact connection gauge under a flood.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DEMO_PASSWORD, DEMO_USER, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const metrics = async (gw: Gateway) => (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
const metric = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
};
/** Waits until `check` holds (the server sees a close a moment after the client). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('per-IP cap: the next connection from that IP gets 421 4.7.0 at the greeting, other IPs are served', async () => {
  const gw = await startTestGateway({ MAX_CONNECTIONS_PER_IP: '3' });
  const open: RawSmtp[] = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await RawSmtp.connect(gw.ports.submission));
    for (const c of open) assert.match(c.greeting, /^220 /);
    const refused = await RawSmtp.connect(gw.ports.submission);
    assert.equal(
      refused.greeting,
      '421 4.7.0 Too many connections from your address (MAX_CONNECTIONS_PER_IP), try again later',
    );
    assert.ok(await refused.closed(), 'refused connection closed');
    // The cap counts connections on both listeners: implicit TLS from the same IP is refused
    // too, by closing (nothing readable can be written before a TLS handshake).
    await assert.rejects(RawSmtp.connect(gw.ports.smtps, { tls: true }));
    const other = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.2' });
    assert.match(await other.cmd('EHLO other.example'), /^250/);
    open.push(other);
    // A slot freed is a slot available again.
    open.shift()?.close();
    await eventually(async () => metric(await metrics(gw), 'smtp_gateway_connections{listener="submission"}') === 2);
    const again = await RawSmtp.connect(gw.ports.submission);
    assert.match(again.greeting, /^220 /);
    open.push(again);
    const m = await metrics(gw);
    assert.equal(metric(m, 'smtp_gateway_connections_refused_total{reason="per_ip"}'), 2);
  } finally {
    for (const c of open) c.close();
    await gw.shutdown();
  }
});

test('MAX_CONNECTIONS is one budget for both listeners: 421 4.3.2 once it is spent by clients that use their slots', async () => {
  const gw = await startTestGateway({ MAX_CONNECTIONS: '3', MAX_CONNECTIONS_PER_IP: '100' });
  const open: RawSmtp[] = [];
  try {
    open.push(await RawSmtp.loginStartTls(gw.ports.submission, DEMO_USER, DEMO_PASSWORD));
    open.push(await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD));
    open.push(await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD));
    const refused = await RawSmtp.connect(gw.ports.submission, { localAddress: '127.0.0.3' });
    assert.equal(refused.greeting, '421 4.3.2 Too many connections to this server (MAX_CONNECTIONS), try again later');
    await assert.rejects(RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.3' }));
    const m = await metrics(gw);
    assert.equal(metric(m, 'smtp_gateway_connections_refused_total{reason="max_connections"}'), 2);
    assert.equal(metric(m, 'smtp_gateway_connections{listener="submission"}'), 1);
    assert.equal(metric(m, 'smtp_gateway_connections{listener="smtps"}'), 2);
  } finally {
    for (const c of open) c.close();
    await gw.shutdown();
  }
});

test('TRUSTED_CIDRS are exempt from the per-IP cap (not from MAX_CONNECTIONS)', async () => {
  const gw = await startTestGateway({
    MAX_CONNECTIONS_PER_IP: '1',
    MAX_CONNECTIONS: '4',
    TRUSTED_CIDRS: '127.0.0.1/32, ::1',
  });
  const open: RawSmtp[] = [];
  try {
    for (let i = 0; i < 4; i++) open.push(await RawSmtp.loginStartTls(gw.ports.submission, DEMO_USER, DEMO_PASSWORD));
    const fifth = await RawSmtp.connect(gw.ports.submission);
    assert.match(fifth.greeting, /^421 4\.3\.2 /);
    // An untrusted neighbour still has its cap of one.
    for (const c of open.splice(0, 2)) c.close();
    await eventually(async () => metric(await metrics(gw), 'smtp_gateway_connections{listener="submission"}') === 2);
    open.push(await RawSmtp.connect(gw.ports.submission, { localAddress: '127.0.0.2' }));
    const second = await RawSmtp.connect(gw.ports.submission, { localAddress: '127.0.0.2' });
    assert.match(second.greeting, /^421 4\.7\.0 /);
  } finally {
    for (const c of open) c.close();
    await gw.shutdown();
  }
});

test('the connection gauge stays exact through a flood of refused and dropped connections', async () => {
  const gw = await startTestGateway({ MAX_CONNECTIONS: '20', MAX_CONNECTIONS_PER_IP: '5' });
  try {
    // 300 sockets from three addresses on both listeners, most refused, all dropped at once,
    // some before the server had time to answer.
    const sockets = await Promise.all(
      Array.from(
        { length: 300 },
        (_, i) =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect({
              port: i % 2 ? gw.ports.smtps : gw.ports.submission,
              host: '127.0.0.1',
              localAddress: `127.0.0.${1 + (i % 3)}`,
            });
            s.on('error', () => undefined);
            s.once('connect', () => resolve(s));
            s.once('close', () => resolve(s));
          }),
      ),
    );
    // The kernel completes a connection before the gateway accepts it: on a loaded machine the
    // gateway may take a while to get to them.
    let m = '';
    let open = 0;
    await eventually(async () => {
      m = await metrics(gw);
      open =
        metric(m, 'smtp_gateway_connections{listener="submission"}') +
        metric(m, 'smtp_gateway_connections{listener="smtps"}');
      return open >= 15 || (open > 0 && metric(m, 'smtp_gateway_connections_refused_total{reason="per_ip"}') > 0);
    });
    assert.ok(open <= 15, `open connections within the caps: ${open}`);
    for (const s of sockets) s.destroy();
    await eventually(async () => {
      m = await metrics(gw);
      return (
        metric(m, 'smtp_gateway_connections{listener="submission"}') === 0 &&
        metric(m, 'smtp_gateway_connections{listener="smtps"}') === 0
      );
    });
    const refused =
      metric(m, 'smtp_gateway_connections_refused_total{reason="per_ip"}') +
      metric(m, 'smtp_gateway_connections_refused_total{reason="max_connections"}');
    const accepted =
      metric(m, 'smtp_gateway_connections_total{listener="submission"}') +
      metric(m, 'smtp_gateway_connections_total{listener="smtps"}');
    assert.ok(refused > 0, 'refusals counted');
    assert.equal(
      metric(m, 'smtp_gateway_connection_duration_seconds_count{listener="submission"}') +
        metric(m, 'smtp_gateway_connection_duration_seconds_count{listener="smtps"}'),
      accepted,
      'every admitted connection closed exactly once',
    );
    // A normal client is served after the flood.
    const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    c.close();
  } finally {
    await gw.shutdown();
  }
});

test('refusals are logged without flooding: one line per reason and client per interval', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const loaded = loadConfig({
    SMTP_SUBMISSION_PORT: '0',
    SMTP_SMTPS_PORT: '0',
    SMTP_ALT_SUBMISSION_PORT: '0',
    ADMIN_PORT: '0',
    SANDBOX_PORT: '0',
    MAX_CONNECTIONS_PER_IP: '1',
  });
  assert.ok(loaded.ok);
  const gw = await startGateway(loaded.config, pino({ level: 'warn' }, sink));
  const held = await RawSmtp.connect(gw.ports.submission);
  try {
    for (let i = 0; i < 40; i++) (await RawSmtp.connect(gw.ports.submission)).close();
  } finally {
    held.close();
    await gw.shutdown();
  }
  const refused = lines.filter((l) => l.msg === 'connection refused');
  assert.deepEqual(
    refused.map((l) => [l.reason, l.client]),
    [['per_ip', '127.0.0.1']],
    'one line for 40 refusals from one client',
  );
  // The 39 held back are reported when the interval ends (here: at shutdown).
  const summary = lines.find((l) => l.msg === 'connection refusals not logged individually');
  assert.equal(summary?.suppressed, 39);
});

test('shutdown with connections still in a PROXY header or a TLS handshake closes them cleanly', async () => {
  const gw = await startTestGateway({ PROXY_PROTOCOL_CIDRS: '127.0.0.2/32' });
  const sockets: net.Socket[] = [];
  const open = async (port: number, localAddress: string, bytes: Buffer) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    s.write(bytes);
    sockets.push(s);
  };
  const helloStart = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00, 0x01]);
  await open(gw.ports.smtps, '127.0.0.1', helloStart); // handshake under way
  await open(gw.ports.smtps, '127.0.0.2', Buffer.from('PROXY TCP4 203.0.113.1')); // header half sent
  await open(gw.ports.submission, '127.0.0.2', Buffer.from('PROXY TCP4 203.0.113.1'));
  await new Promise((r) => setTimeout(r, 100));
  await gw.shutdown();
  await Promise.all(sockets.filter((s) => !s.destroyed).map((s) => new Promise((r) => s.once('close', r))));
  await eventually(async () => {
    const m = await gw.metrics.registry.metrics();
    return (
      metric(m, 'smtp_gateway_connections{listener="smtps"}') === 0 &&
      metric(m, 'smtp_gateway_connections{listener="submission"}') === 0
    );
  });
});
