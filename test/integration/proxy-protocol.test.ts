// PROXY protocol v1 and v2 from a listed load balancer (the loopback peer plays it), on both
// listeners and for both address families; refused from any other peer.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import { encodeV1, encodeV2 } from '../../src/smtp/proxy-protocol.ts';
import { captureLogs, DEMO_PASSWORD, DEMO_USER, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const MESSAGE = `From: ${DEMO_USER}\r\nSubject: through a balancer\r\n\r\nhi\r\n`;
const captured = captureLogs();
const logs = captured.logs;
let gw: Gateway;

before(async () => {
  gw = await startTestGateway(
    {
      // 127.0.0.1 is the balancer; 127.0.0.2 is a client that talks to the gateway directly.
      PROXY_PROTOCOL_CIDRS: '127.0.0.1/32',
      MAX_CONNECTIONS_PER_IP: '1',
      TLS_HANDSHAKE_TIMEOUT_MS: '500',
    },
    captured.logger,
  );
});
after(() => gw?.shutdown());

const metric = async (series: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

/** A whole submission through the balancer: header, TLS (implicit or STARTTLS), AUTH, one message. */
async function sendThrough(listener: 'submission' | 'smtps', header: Buffer): Promise<string> {
  const c = await RawSmtp.connect(listener === 'smtps' ? gw.ports.smtps : gw.ports.submission, {
    preamble: header,
    tls: listener === 'smtps',
  });
  try {
    assert.match(c.greeting, /^220 /);
    await c.cmd('EHLO client.example');
    if (listener === 'submission') {
      await c.startTls();
      await c.cmd('EHLO client.example');
    }
    assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 /);
    return await c.transaction(DEMO_USER, ['via-lb@example.org'], MESSAGE);
  } finally {
    c.close();
  }
}

// A distinct client per case (MAX_CONNECTIONS_PER_IP is 1 here).
const cases = (n: number) => [
  { name: 'v1 IPv4', header: encodeV1(`203.0.113.${n}`, 40001, '192.0.2.1', 587), client: `203.0.113.${n}` },
  { name: 'v1 IPv6', header: encodeV1(`2001:db8:${n}::7`, 40002, '2001:db8::1', 587), client: `2001:db8:${n}::7` },
  {
    name: 'v2 IPv4',
    header: encodeV2({ src: `198.51.100.${n}`, srcPort: 40003, dst: '192.0.2.1', dstPort: 465 }),
    client: `198.51.100.${n}`,
  },
  {
    name: 'v2 IPv6',
    header: encodeV2({ src: `2001:db8:aa:${n}::9`, srcPort: 40004, dst: '2001:db8::1', dstPort: 465 }),
    client: `2001:db8:aa:${n}::9`,
  },
];

for (const [n, listener] of [
  [1, 'submission'],
  [2, 'smtps'],
] as const) {
  for (const c of cases(n)) {
    test(`${listener}: PROXY ${c.name} → a full submission, logged under the client address`, async () => {
      logs.length = 0;
      assert.match(await sendThrough(listener, c.header), /^250 2\.0\.0 Ok: queued as /);
      const connect = logs.find((l) => l.msg === 'connection');
      assert.equal(connect?.client, c.client);
      assert.equal(connect?.peer, '127.0.0.1');
      for (const msg of ['authenticated', 'message answered'])
        assert.equal(logs.find((l) => l.msg === msg)?.client, c.client, `${msg} line carries the client`);
    });
  }
}

test('the PROXY client address drives the per-IP cap (MAX_CONNECTIONS_PER_IP=1)', async () => {
  const header = encodeV1('203.0.113.50', 40010, '192.0.2.1', 587);
  const first = await RawSmtp.connect(gw.ports.submission, { preamble: header });
  assert.match(first.greeting, /^220 /);
  const second = await RawSmtp.connect(gw.ports.submission, {
    preamble: encodeV2({ src: '203.0.113.50', srcPort: 40011, dst: '192.0.2.1', dstPort: 587 }),
  });
  assert.equal(
    second.greeting,
    '421 4.7.0 Too many connections from your address (MAX_CONNECTIONS_PER_IP), try again later',
  );
  // The same balancer, another client: served. IPv6 clients count per /64.
  const other = await RawSmtp.connect(gw.ports.submission, {
    preamble: encodeV1('2001:db8:1:2::1', 40012, '2001:db8::1', 587),
  });
  assert.match(other.greeting, /^220 /);
  const sameSlash64 = await RawSmtp.connect(gw.ports.submission, {
    preamble: encodeV1('2001:db8:1:2::ffff', 40013, '2001:db8::1', 587),
  });
  assert.match(sameSlash64.greeting, /^421 4\.7\.0 /);
  for (const c of [first, second, other, sameSlash64]) c.close();
});

test('v2 LOCAL (a balancer health check) is served as the balancer itself', async () => {
  logs.length = 0;
  const c = await RawSmtp.connect(gw.ports.submission, { preamble: encodeV2() });
  assert.match(c.greeting, /^220 /);
  assert.match(await c.cmd('QUIT'), /^221 /);
  c.close();
  assert.equal(logs.find((l) => l.msg === 'connection')?.client, '127.0.0.1');
});

test('from a listed balancer, no header or a bad header is refused with 421 4.7.0 and counted', async () => {
  const noHeader = await RawSmtp.connect(gw.ports.submission, { preamble: Buffer.from('EHLO client.example\r\n') });
  assert.equal(noHeader.greeting, '421 4.7.0 PROXY protocol header required from this address (PROXY_PROTOCOL_CIDRS)');
  assert.ok(await noHeader.closed());
  const bad = await RawSmtp.connect(gw.ports.submission, {
    preamble: Buffer.from('PROXY TCP4 203.0.113.999 192.0.2.1 1 2\r\n'),
  });
  assert.equal(bad.greeting, '421 4.7.0 Invalid PROXY protocol header');
  // Silence: the header is due within TLS_HANDSHAKE_TIMEOUT_MS.
  const started = Date.now();
  const silent = await RawSmtp.connect(gw.ports.submission);
  assert.match(silent.greeting, /^421 4\.7\.0 PROXY protocol header required/);
  assert.ok(Date.now() - started >= 450);
  // On the implicit-TLS listener a refusal is a close.
  await assert.rejects(RawSmtp.connect(gw.ports.smtps, { tls: true }));
  assert.equal(await metric('smtp_gateway_connections_refused_total{reason="proxy_invalid"}'), 1);
  assert.equal(await metric('smtp_gateway_connections_refused_total{reason="proxy_required"}'), 3);
});

test('from any other peer a PROXY header is refused and the connection closed (v1, v2, both listeners)', async () => {
  const spoof = '203.0.113.66';
  // Each from its own address: MAX_CONNECTIONS_PER_IP is 1 here.
  let n = 10;
  for (const header of [
    encodeV1(spoof, 1, '192.0.2.1', 587),
    encodeV2({ src: spoof, srcPort: 1, dst: '192.0.2.1', dstPort: 587 }),
  ]) {
    const s = await RawSmtp.connect(gw.ports.submission, { localAddress: `127.0.0.${n++}`, preamble: header });
    assert.equal(s.greeting, '421 4.7.0 PROXY protocol header not accepted from this address (PROXY_PROTOCOL_CIDRS)');
    assert.ok(await s.closed());
    s.close();
    const tlsSocket = net.connect({ port: gw.ports.smtps, host: '127.0.0.1', localAddress: `127.0.0.${n++}` });
    let got = 0;
    tlsSocket.on('data', (d) => (got += d.length));
    tlsSocket.on('error', () => undefined);
    tlsSocket.write(header);
    await new Promise((r) => tlsSocket.once('close', r));
    assert.equal(got, 0, 'implicit TLS: closed without a byte');
  }
  assert.equal(await metric('smtp_gateway_connections_refused_total{reason="proxy_forbidden"}'), 4);
});

test('without PROXY_PROTOCOL_CIDRS a PROXY header is refused, and an IPv6 peer is matched by its own address', async () => {
  const plain = await startTestGateway();
  const v6 = await startTestGateway({ SMTP_HOST: '::1', PROXY_PROTOCOL_CIDRS: '::1/128' });
  try {
    const s = await RawSmtp.connect(plain.ports.submission, {
      preamble: encodeV1('203.0.113.66', 1, '192.0.2.1', 587),
    });
    assert.match(s.greeting, /^421 4\.7\.0 PROXY protocol header not accepted/);
    const c = await RawSmtp.connect(v6.ports.smtps, {
      host: '::1',
      tls: true,
      preamble: encodeV2({ src: '2001:db8::77', srcPort: 5, dst: '::1', dstPort: 465 }),
    });
    assert.match(c.greeting, /^220 /);
    assert.match(await c.cmd('EHLO client.example'), /^250/);
    c.close();
    const none = await RawSmtp.connect(v6.ports.submission, { host: '::1', preamble: Buffer.from('EHLO x\r\n') });
    assert.match(none.greeting, /^421 4\.7\.0 PROXY protocol header required/);
  } finally {
    await plain.shutdown();
    await v6.shutdown();
  }
});
