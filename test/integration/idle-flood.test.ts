// Slots go to those who use them: many addresses holding idle connections past MAX_CONNECTIONS
// do not lock out a client that sends mail (eviction at the cap, stress-adaptive timeouts), and
// a network's many addresses are capped together (per prefix, also behind a PROXY balancer).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import type { Gateway } from '../../src/app.ts';
import { DEMO_PASSWORD, DEMO_USER, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until } from '../helpers/until.ts';

const metric = async (gw: Gateway, series: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
};
const open = (gw: Gateway) => metric(gw, 'smtp_gateway_connections{listener="submission"}');

/**
 * An idle-flood attacker: `addresses` × `perAddress` connections that say nothing, each one
 * reconnected a moment after the server closes it, until stop() is called.
 */
function idleFlood(port: number, addresses: string[], perAddress: number) {
  const sockets = new Set<net.Socket>();
  let stopped = false;
  const hold = (address: string) => {
    if (stopped) return;
    const s = net.connect({ port, host: '127.0.0.1', localAddress: address });
    sockets.add(s);
    s.on('error', () => undefined);
    s.resume();
    s.once('close', () => {
      sockets.delete(s);
      setTimeout(() => hold(address), 200).unref();
    });
  };
  for (const a of addresses) for (let i = 0; i < perAddress; i++) hold(a);
  return {
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

test('60 addresses holding idle connections past MAX_CONNECTIONS: another client still gets 250 on at least 9 of 10 tries', async () => {
  const gw = await startTestGateway({ MAX_CONNECTIONS: '60', MAX_CONNECTIONS_PER_IP: '2' });
  // 60 networks (127.1.N.0/24), two connections each: 120 wanted, 60 slots.
  const attackers = Array.from({ length: 60 }, (_, i) => `127.1.${i + 1}.1`);
  const flood = idleFlood(gw.ports.submission, attackers, 2);
  try {
    await until('every slot held by the flood', async () => (await open(gw)) >= 60);
    const replies: string[] = [];
    for (let i = 0; i < 10; i++) {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: gw.ports.submission,
        localAddress: '127.0.0.1',
        secure: false,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
        auth: { user: DEMO_USER, pass: DEMO_PASSWORD },
        connectionTimeout: 10_000,
      });
      try {
        const info = await transport.sendMail({
          from: DEMO_USER,
          to: `flood-${i}@example.org`,
          subject: `during an idle flood ${i}`,
          text: 'hello',
        });
        replies.push(info.response);
      } catch (err) {
        replies.push(String((err as Error).message));
      } finally {
        transport.close();
      }
    }
    const accepted = replies.filter((r) => r.startsWith('250 ')).length;
    assert.ok(accepted >= 9, `accepted ${accepted} of 10: ${JSON.stringify(replies)}`);
    assert.ok((await metric(gw, 'smtp_gateway_deadlines_exceeded_total{limit="evicted_idle"}')) >= 1);
  } finally {
    flood.stop();
    await gw.shutdown();
  }
});

test('under stress, an idle connection gets 421 4.4.2 and an unauthenticated one 421 4.7.0; an authenticated client that talks stays', async () => {
  const gw = await startTestGateway({
    MAX_CONNECTIONS: '10',
    MAX_CONNECTIONS_PER_IP: '10',
    STRESS_THRESHOLD_PERCENT: '50',
    STRESS_IDLE_TIMEOUT_MS: '1500',
    STRESS_AUTH_TIMEOUT_MS: '4000',
  });
  const conns: RawSmtp[] = [];
  let keepTalking = true;
  const talk = async (c: RawSmtp) => {
    while (keepTalking) {
      const r = await c.cmd('NOOP');
      if (!r.startsWith('250')) return r;
      await new Promise((res) => setTimeout(res, 1000));
    }
    return 'stopped';
  };
  try {
    const authed = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    const talker = await RawSmtp.connect(gw.ports.submission);
    await talker.cmd('EHLO talker.example');
    const idle = [await RawSmtp.connect(gw.ports.submission), await RawSmtp.connect(gw.ports.submission)];
    conns.push(authed, talker, ...idle);
    const authedTalk = talk(authed);
    const talkerTalk = talk(talker);
    // Four open, below the threshold of five: the short timeouts do not apply.
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(await idle[0]?.closed(1), false, 'idle connection kept while the server is not under stress');
    conns.push(await RawSmtp.connect(gw.ports.submission, { localAddress: '127.0.0.2' }));
    for (const c of idle) {
      assert.equal(
        await c.reply(5000),
        '421 4.4.2 Server busy: no command within 1.5 s (STRESS_IDLE_TIMEOUT_MS), closing connection',
      );
      assert.ok(await c.closed());
    }
    // Two slots went back, so keep the count at the threshold while the talker's AUTH bound runs out.
    conns.push(await RawSmtp.connect(gw.ports.submission, { localAddress: '127.0.0.3' }));
    conns.push(await RawSmtp.connect(gw.ports.submission, { localAddress: '127.0.0.4' }));
    assert.equal(
      await talkerTalk,
      '421 4.7.0 Server busy: not authenticated within 4 s of connecting (STRESS_AUTH_TIMEOUT_MS), closing connection',
    );
    keepTalking = false;
    assert.equal(await authedTalk, 'stopped', 'the authenticated client that kept talking was never cut');
    assert.ok((await metric(gw, 'smtp_gateway_deadlines_exceeded_total{limit="stress_idle"}')) >= 2);
    assert.equal(await metric(gw, 'smtp_gateway_deadlines_exceeded_total{limit="stress_auth"}'), 1);
  } finally {
    keepTalking = false;
    for (const c of conns) c.close();
    await gw.shutdown();
  }
});

test('per-prefix cap behind a PROXY balancer: the /64s of one /48 share MAX_CONNECTIONS_PER_PREFIX, other networks are served', async () => {
  const gw = await startTestGateway({
    PROXY_PROTOCOL_CIDRS: '127.0.0.1',
    MAX_CONNECTIONS_PER_IP: '20',
    MAX_CONNECTIONS_PER_PREFIX: '3',
  });
  const conns: RawSmtp[] = [];
  const via = async (source: string) => {
    const c = await RawSmtp.connect(gw.ports.submission, {
      preamble: Buffer.from(`PROXY TCP6 ${source} 2001:db8::25 40000 587\r\n`),
    });
    conns.push(c);
    return c.greeting;
  };
  try {
    const greetings = [];
    for (let i = 1; i <= 4; i++) greetings.push(await via(`2001:db8:5:${i}::1`));
    assert.deepEqual(
      greetings.slice(0, 3).map((g) => g.slice(0, 4)),
      ['220 ', '220 ', '220 '],
    );
    assert.equal(
      greetings[3],
      '421 4.7.0 Too many connections from your network (MAX_CONNECTIONS_PER_PREFIX), try again later',
    );
    assert.match(await via('2001:db8:6:1::1'), /^220 /);
    assert.equal(await metric(gw, 'smtp_gateway_connections_refused_total{reason="per_prefix"}'), 1);
  } finally {
    for (const c of conns) c.close();
    await gw.shutdown();
  }
});
