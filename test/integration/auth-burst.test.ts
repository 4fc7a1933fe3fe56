// Many logins at once from one address, as an application server's connection pool opens them
// on every restart, while the token service answers slowly: in-progress logins must not be
// mistaken for failed ones. The same limits still cap parallel guessing. Real SMTP sessions
// over implicit TLS; the sandbox's /token is slowed with its latency fault.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import type { Gateway } from '../../src/app.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, setFault, startTestGateway } from '../helpers/gateway.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const TOKEN_LATENCY_MS = 500;
const LIMITS = {
  AUTH_MAX_FAILURES_PER_IP: '10',
  AUTH_MAX_FAILURES_PER_USER: '10',
  AUTH_FAILURE_WINDOW_S: '600',
  AUTH_BLOCK_S: '600',
};

/** One connection's AUTH PLAIN reply. */
async function login(gw: Gateway, from: string, user: string, password: string): Promise<string> {
  const c = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: from });
  try {
    await c.cmd('EHLO pool.example');
    return await c.authPlain(user, password);
  } finally {
    c.close();
  }
}

test('twenty correct logins at once from one address are all accepted while /token is slow', async () => {
  const gw = await startTestGateway(LIMITS);
  try {
    await setFault(gw, { latencyMs: TOKEN_LATENCY_MS, paths: ['/token'] });
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => login(gw, '127.0.0.140', DEMO_USER, DEMO_PASSWORD)),
    );
    assert.deepEqual(
      replies.filter((r) => !r.startsWith('235 ')),
      [],
      'every login of the pool succeeds',
    );
    // Nothing was left behind as a failure: the address is not blocked and logs in again.
    assert.match(await login(gw, '127.0.0.140', DEMO_USER, DEMO_PASSWORD), /^235 /);
  } finally {
    await gw.shutdown();
  }
});

test('twenty wrong passwords at once from one address: no more than AUTH_MAX_FAILURES_PER_IP reach Cakemail, the rest get 454', async () => {
  const gw = await startTestGateway(LIMITS);
  try {
    await setFault(gw, { latencyMs: TOKEN_LATENCY_MS, paths: ['/token'] });
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(gw, '127.0.0.141', `guess${i}@example.com`, `wrong-${i}`)),
    );
    const checked = replies.filter((r) => r.startsWith('535 '));
    const refused = replies.filter((r) => r.startsWith('454 4.7.0 Too many failed logins from your IP address'));
    assert.equal(checked.length, 10, replies.join('\n'));
    assert.equal(refused.length, 10, replies.join('\n'));
    assert.equal((await sandboxRequests(gw))['POST /token'], 10, 'only ten passwords were checked');
    const after = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: '127.0.0.141' });
    assert.match(
      after.greeting,
      /^421 4\.7\.0 Too many failed logins from your IP address: blocked, try again in \d+ s$/,
      'the ten failures blocked the address',
    );
    after.close();
  } finally {
    await gw.shutdown();
  }
});

test(
  'two gateways sharing Redis: twenty correct logins at once from one address, split between them, are all accepted',
  { skip: await skipWithoutRedis() },
  async () => {
    const prefix = `test:${randomUUID()}:`;
    const shared = { ...LIMITS, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix };
    const a = await startTestGateway({ ...shared, SANDBOX_ENABLED: 'true' });
    const b = await startTestGateway({ ...shared, SANDBOX_ENABLED: 'false', CAKEMAIL_API_URL: a.apiUrl });
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await setFault(a, { latencyMs: TOKEN_LATENCY_MS, paths: ['/token'] });
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(i % 2 ? a : b, '127.0.0.142', DEMO_USER, DEMO_PASSWORD)),
      );
      assert.deepEqual(
        replies.filter((r) => !r.startsWith('235 ')),
        [],
      );
      // Every reservation was given back: no failure counted, nothing pending in the fleet's store.
      const keys = await redis.keys(`${prefix}auth:*`);
      assert.deepEqual(
        keys.filter((k) => k.includes(':ipfail:') || k.includes(':userfail:')),
        [],
      );
      for (const k of keys.filter((k) => k.includes('pend:'))) assert.equal(await redis.get(k), '0', k);
    } finally {
      await b.shutdown();
      await a.shutdown();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  },
);
