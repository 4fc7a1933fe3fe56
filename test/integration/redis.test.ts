// The fleet state store against a real Redis (127.0.0.1:6379; .ci/run starts one), and dedupe
// across two gateway processes' worth of instances sharing it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { MemoryStore } from '../../src/state/memory.ts';
import { RedisStore } from '../../src/state/redis.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, sandboxRequests, startTestGateway } from '../helpers/gateway.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const REDIS_URL = TEST_REDIS_URL;
const skip = await skipWithoutRedis();

test('RedisStore: get/set with TTL, set-if-absent, counters', { skip }, async () => {
  const store = new RedisStore(REDIS_URL, `test:${randomUUID()}:`);
  await store.ready();
  try {
    assert.equal(await store.get('k'), null);
    await store.set('k', 'v', 60);
    assert.equal(await store.get('k'), 'v');
    assert.equal(await store.setIfAbsent('k', 'other', 60), false);
    assert.equal(await store.setIfAbsent('n', 'x', 1), true);
    assert.equal(await store.increment('c', 60), 1);
    assert.equal(await store.increment('c', 60), 2);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await store.get('n'), null, 'expired after its TTL');
  } finally {
    await store.close();
  }
});

test(
  'RedisStore and MemoryStore: writeIndexed sets the values and appends each index slot, alike',
  { skip },
  async () => {
    const redis = new RedisStore(REDIS_URL, `test:${randomUUID()}:`);
    await redis.ready();
    try {
      for (const store of [redis, new MemoryStore()]) {
        const write = (id: string) =>
          store.writeIndexed({
            values: [{ key: `m:${id}`, value: `record ${id}`, ttlSeconds: 60 }],
            indexes: [
              { key: 'i:r', value: id, ttlSeconds: 60 },
              { key: 'i:m', value: id, ttlSeconds: 60 },
            ],
          });
        await write('one');
        await write('two');
        assert.equal(await store.get('m:two'), 'record two');
        assert.equal(await store.get('i:r:n'), '2');
        assert.deepEqual([await store.get('i:r:1'), await store.get('i:r:2')], ['one', 'two']);
        assert.equal(await store.get('i:m:2'), 'two');
        const ttl = await store.ttlMs('i:r:n');
        assert.ok(ttl !== null && ttl <= 60_000, 'the counter expires');
      }
    } finally {
      await redis.close();
    }
  },
);

test('RedisStore fails fast when Redis is unreachable (the caller fails open)', async () => {
  const store = new RedisStore('redis://127.0.0.1:1/0');
  const started = Date.now();
  await assert.rejects(store.get('k'));
  assert.ok(Date.now() - started < 3000);
  await store.close();
});

test('two gateways sharing Redis: a resend through the other one is not sent twice', { skip }, async () => {
  const prefixEnv = { REDIS_URL, SANDBOX_ENABLED: 'true' };
  const a = await startTestGateway(prefixEnv);
  const b = await startTestGateway({ ...prefixEnv, SANDBOX_ENABLED: 'false', CAKEMAIL_API_URL: a.apiUrl });
  try {
    // A Message-ID gives the message an identity; without one a resend is a new message.
    const body = `From: ${DEMO_USER}\r\nSubject: fleet ${randomUUID()}\r\nMessage-ID: <${randomUUID()}@client.example>\r\n\r\nonce\r\n`;
    const replies: string[] = [];
    for (const gw of [a, b]) {
      const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
      replies.push(await c.transaction(DEMO_USER, ['fleet@example.org'], body));
      c.close();
    }
    assert.match(replies[0]!, /^250 2\.0\.0 Ok: queued as /);
    assert.match(replies[1]!, /^250 2\.0\.0 .*already accepted/);
    assert.equal((await sandboxEmails(a)).length, 1);
    assert.equal((await sandboxRequests(a))['POST /v2/emails'], 1);
  } finally {
    await b.shutdown();
    await a.shutdown();
  }
});
