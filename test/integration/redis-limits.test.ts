// Limits and blocks held in a real Redis: the primitives, two gateways sharing one Redis (a
// random key prefix on the shared 127.0.0.1:6379), and fail-open while a PRIVATE redis-server
// (started here on a random high port, never the shared one) is killed and started again.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { RedisStore } from '../../src/state/redis.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { skipWithout } from '../helpers/tools.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

const metric = async (gw: Gateway, name: string): Promise<string> => {
  const text = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
};

test('RedisStore: token bucket and time left of a block, atomic across clients', async () => {
  const prefix = `test:${randomUUID()}:`;
  const a = new RedisStore(REDIS_URL, prefix);
  const b = new RedisStore(REDIS_URL, prefix);
  await Promise.all([a.ready(), b.ready()]);
  try {
    // 20 takes at once from two clients on a bucket of 10: exactly 10 succeed.
    const takes = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).takeToken('bucket', 10, 60)));
    assert.equal(takes.filter((w) => w === 0).length, 10);
    for (const w of takes.filter((w) => w > 0)) assert.ok(w > 0 && w <= 1000, `wait ${w} ms for 60 per minute`);
    assert.equal(await a.ttlMs('block'), null);
    await a.set('block', '1', 900);
    const left = await b.ttlMs('block');
    assert.ok(left !== null && left > 899_000 && left <= 900_000);
  } finally {
    await a.close();
    await b.close();
  }
});

test('two gateways sharing Redis: an IP blocked on one is blocked on the other, and one rate-limit bucket serves both', async () => {
  const shared = {
    REDIS_URL,
    REDIS_KEY_PREFIX: `test:${randomUUID()}:`,
    AUTH_MAX_FAILURES_PER_IP: '4',
    AUTH_BLOCK_S: '30',
    RATE_LIMIT_IP_PER_MIN: '2',
  };
  const a = await startTestGateway({ ...shared, SANDBOX_ENABLED: 'true' });
  const b = await startTestGateway({ ...shared, SANDBOX_ENABLED: 'false', CAKEMAIL_API_URL: a.apiUrl });
  try {
    // Two failures on each gateway from one IP: the fourth blocks it fleet-wide.
    const fail = async (gw: Gateway, n: number) => {
      const c = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.60' });
      await c.cmd('EHLO client.example');
      const r = [
        await c.authPlain('victim@example.com', `guess-${n}-a`),
        await c.authPlain('victim@example.com', `guess-${n}-b`),
      ];
      c.close();
      return r;
    };
    for (const r of (await Promise.all([fail(a, 1), fail(b, 2)])).flat()) assert.match(r, /^535 /);
    for (const gw of [a, b]) {
      const c = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.60' });
      const m = /^421 4\.7\.0 Too many failed logins from your IP address: blocked, try again in (\d+) s$/.exec(
        c.greeting,
      );
      assert.ok(m && Number(m[1]) > 10 && Number(m[1]) <= 30, c.greeting);
      c.close();
    }

    // Rate limit: one message through each gateway spends the shared bucket of 2.
    const mail = async (gw: Gateway) => {
      const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD, '127.0.0.61');
      const r = await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
      c.close();
      return r;
    };
    assert.match(await mail(a), /^250 /);
    assert.match(await mail(b), /^250 /);
    assert.match(await mail(a), /^451 4\.7\.1 Rate limit of 2 messages per minute reached for your IP address/);
    assert.match(await mail(b), /^451 4\.7\.1 /);
    assert.equal((await sandboxRequests(a))['POST /v2/emails'] ?? 0, 0);
  } finally {
    await b.shutdown();
    await a.shutdown();
  }
});

/** A private redis-server on a random high port (never the shared 6379), without persistence. */
function startPrivateRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)));
  });
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'Redis killed: limits fail open (mail and logins go on), counted, ONE log line; back: enforced again',
  { skip: skipWithout('redis-server', 'redis-server') },
  async () => {
    // Above Linux's ephemeral range (32768-60999), so no outgoing socket already holds it.
    const port = randomInt(61_000, 65_000);
    let redis = await startPrivateRedis(port);
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean))
          lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const loaded = loadConfig({
      SMTP_SUBMISSION_PORT: '0',
      SMTP_SMTPS_PORT: '0',
      SMTP_ALT_SUBMISSION_PORT: '0',
      ADMIN_PORT: '0',
      SANDBOX_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '2000',
      REDIS_URL: `redis://127.0.0.1:${port}/0`,
      AUTH_MAX_FAILURES_PER_IP: '2',
      AUTH_MAX_FAILURES_PER_CONNECTION: '10',
      AUTH_BLOCK_S: '60',
    });
    assert.ok(loaded.ok);
    const gw = await startGateway(loaded.config, pino({ level: 'info' }, sink));
    const stateLines = () => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('state store'));
    try {
      assert.match(await metric(gw, 'smtp_gateway_state_store_up'), /smtp_gateway_state_store_up 1/);
      redis.kill('SIGKILL');
      await new Promise((r) => redis.once('exit', r));
      await until(
        async () => /smtp_gateway_state_store_up 0/.test(await metric(gw, 'smtp_gateway_state_store_up')),
        5000,
        'state_store_up 0',
      );

      // Three failures from one IP with a limit of two: not blocked while the store is away.
      const c = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.70' });
      await c.cmd('EHLO client.example');
      for (const n of [1, 2, 3]) assert.match(await c.authPlain('victim@example.com', `guess-${n}`), /^535 5\.7\.8 /);
      assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 /, 'logins go on');
      const msg = `From: ${DEMO_USER}\r\nTo: r@example.org\r\nSubject: redis down\r\nMessage-ID: <${randomUUID()}@client.example>\r\n\r\nstill sent\r\n`;
      assert.match(await c.transaction(DEMO_USER, ['r@example.org'], msg), /^250 2\.0\.0 /, 'mail goes on');
      c.close();
      assert.match(
        await metric(gw, 'smtp_gateway_state_store_errors_total'),
        /smtp_gateway_state_store_errors_total\{op="[a-zA-Z]+"\} [1-9]/,
      );
      const down = stateLines().filter((l) => l.level === 40);
      assert.equal(
        down.length,
        1,
        `one warning for the outage, not one per operation: ${JSON.stringify(stateLines())}`,
      );

      redis = await startPrivateRedis(port);
      await until(
        async () => /smtp_gateway_state_store_up 1/.test(await metric(gw, 'smtp_gateway_state_store_up')),
        10_000,
        'state_store_up 1',
      );
      assert.equal(
        stateLines().filter((l) => l.msg === 'state store reachable again: limits, blocks and dedupe enforced').length,
        1,
      );

      // Enforced again: two failures block the IP.
      const d = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.71' });
      await d.cmd('EHLO client.example');
      for (const n of [1, 2]) assert.match(await d.authPlain('victim@example.com', `again-${n}`), /^535 /);
      assert.match(
        await d.authPlain(DEMO_USER, DEMO_PASSWORD),
        /^454 4\.7\.0 Too many failed logins from your IP address/,
      );
      d.close();
      assert.equal(stateLines().filter((l) => l.level === 40).length, 1);
    } finally {
      await gw.shutdown();
      redis.kill('SIGKILL');
    }
  },
);
