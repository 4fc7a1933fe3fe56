// Password spraying across addresses and usernames against a fleet of two gateways sharing the
// real Redis on 127.0.0.1:6379 (under a random key prefix) and one sandbox: failures from new
// addresses share one budget per minute, so the spray reaches Cakemail's /token at most that many
// times, while an application that logged in before from its address is served at once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { RedisStore } from '../../src/state/redis.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const BUDGET = 10;

test('RedisStore.windowAdd: 40 racing adds from two clients on a window of 10 admit exactly 10; a removal frees a place', async () => {
  const prefix = `test:${randomUUID()}:`;
  const a = new RedisStore(REDIS_URL, prefix);
  const b = new RedisStore(REDIS_URL, prefix);
  await Promise.all([a.ready(), b.ready()]);
  try {
    const adds = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).windowAdd('w', `id-${i}`, 60_000, 10)),
    );
    assert.equal(adds.filter((r) => r.added).length, 10);
    for (const r of adds.filter((r) => !r.added)) assert.ok(r.retryMs > 59_000 && r.retryMs <= 60_000, `${r.retryMs}`);
    const first = adds.findIndex((r) => r.added);
    await b.windowRemove('w', `id-${first}`);
    assert.equal((await a.windowAdd('w', 'late', 60_000, 10)).added, true);
    assert.equal((await a.windowAdd('w', 'later', 60_000, 10)).added, false);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a spray from 40 new addresses, 3 usernames each, makes at most the budget of /token calls fleet-wide; a known login succeeds at once', async () => {
  const shared = {
    REDIS_URL,
    REDIS_KEY_PREFIX: `test:${randomUUID()}:`,
    AUTH_NEW_ADDRESS_FAILURES_PER_MIN: String(BUDGET),
    // The per-address and per-username limits are out of the way: the spray uses each once.
    AUTH_MAX_FAILURES_PER_IP: '100',
    AUTH_MAX_FAILURES_PER_USER: '100',
  };
  const a = await startTestGateway({ ...shared, SANDBOX_ENABLED: 'true' });
  const b = await startTestGateway({ ...shared, SANDBOX_ENABLED: 'false', CAKEMAIL_API_URL: a.apiUrl });
  const tokenCalls = async () => (await sandboxRequests(a))['POST /token'] ?? 0;
  try {
    // The application has logged in from its address before (on either pod).
    (await RawSmtp.login(a.ports.smtps, DEMO_USER, DEMO_PASSWORD, '127.0.0.1')).close();
    const before = await tokenCalls();

    const spray = async (i: number) => {
      const gw = i % 2 ? a : b;
      const c = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: `127.3.${i + 1}.1` });
      await c.cmd('EHLO sprayer.example');
      const replies = [];
      for (let k = 0; k < 3; k++) replies.push(await c.authPlain(`victim-${i}-${k}@example.com`, 'Summer2024!'));
      c.close();
      return replies;
    };
    const spraying = Promise.all(Array.from({ length: 40 }, (_, i) => spray(i)));
    // During the spray: the known application logs in on the other pod, at once.
    await new Promise((r) => setTimeout(r, 300));
    const known = await RawSmtp.connect(b.ports.smtps, { tls: true, localAddress: '127.0.0.1' });
    await known.cmd('EHLO app.example');
    const started = Date.now();
    assert.match(await known.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 /);
    const knownMs = Date.now() - started;
    known.close();
    const replies = (await spraying).flat();

    // The third failure on a connection is answered 421 (closing) with the same text.
    const spent = replies.filter((r) =>
      /^(454|421) 4\.7\.0 Too many failed logins from new addresses across the service \(AUTH_NEW_ADDRESS_FAILURES_PER_MIN\)/.test(
        r,
      ),
    );
    const invalid = replies.filter((r) => /^(535 5\.7\.8|421 4\.7\.0) Authentication credentials invalid/.test(r));
    assert.equal(spent.length + invalid.length, 120, JSON.stringify(replies.slice(0, 5)));
    assert.ok(invalid.length <= BUDGET, `${invalid.length} guesses checked with Cakemail`);
    assert.ok(spent.length >= 120 - BUDGET);
    // The sprayed guesses' /token calls, plus the known login's on the second pod.
    const calls = (await tokenCalls()) - before;
    assert.ok(calls <= BUDGET + 1, `${calls} POST /token during the spray`);
    assert.ok(knownMs < 2000, `the known login's AUTH took ${knownMs} ms`);
    // A new address with the right password is refused too while the budget is spent (a 454:
    // its client retries), without a token call.
    const callsBefore = await tokenCalls();
    const c = await RawSmtp.connect(a.ports.smtps, { tls: true, localAddress: '127.3.200.1' });
    await c.cmd('EHLO new-app.example');
    assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^454 4\.7\.0 Too many failed logins from new addresses/);
    c.close();
    assert.equal(await tokenCalls(), callsBefore);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});
