// Claim before send across a fleet: two gateways sharing a real Redis (random key prefix) and
// one sandbox get the same message at the same moment. Check-then-set let both send it (2
// copies in 12 of 20 trials); the atomic claim lets exactly one through, the other answers
// 451 4.3.0 "being delivered in another session" (or, if it came second, 250 already accepted).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, setFault, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const TRIALS = 20;

test('two gateways sharing Redis, same message at the same moment: exactly one copy in every trial (check-then-set sent two)', async () => {
  const prefix = `test:${randomUUID()}:`;
  const a = await startTestGateway({ REDIS_URL, REDIS_KEY_PREFIX: prefix });
  const b = await startTestGateway({
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    SANDBOX_ENABLED: 'false',
    CAKEMAIL_API_URL: a.apiUrl,
  });
  try {
    // Slow answers widen the window in which both sessions are between "not yet sent" and "sent".
    await setFault(a, { latencyMs: 150 });
    const replies: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const subject = `claim ${trial} ${randomUUID()}`;
      const body = `From: ${DEMO_USER}\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@client.example>\r\n\r\nonce\r\n`;
      const clients = await Promise.all([a, b].map((gw) => RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD)));
      const got = await Promise.all(clients.map((c) => c.transaction(DEMO_USER, ['fleet@example.org'], body)));
      for (const c of clients) c.close();
      replies.push(...got);
      const n = (await sandboxEmails(a)).filter((e) => e.payload.content.subject === subject).length;
      assert.equal(n, 1, `trial ${trial}: ${n} copies; replies ${JSON.stringify(got)}`);
      assert.ok(
        got.some((r) => /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/.test(r)),
        `trial ${trial}: one fresh 250`,
      );
      for (const r of got)
        assert.match(r, /^(250 2\.0\.0 Ok: queued as |451 4\.3\.0 This message is being delivered in another session)/);
    }
    assert.ok(
      replies.some((r) => r.startsWith('451 4.3.0')),
      'the sessions did overlap in at least one trial',
    );
  } finally {
    await b.shutdown();
    await a.shutdown();
    // The shared Redis keeps nothing of this test.
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
});
