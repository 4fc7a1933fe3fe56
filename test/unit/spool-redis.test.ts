// The Redis Streams spool: the conformance suite every backend passes, then what only a shared
// Redis brings: two processes sharing one stream, a process dying with messages leased, the
// byte budget shared by a fleet, and Redis itself going away. Real Redis throughout: the shared
// one at TEST_REDIS_URL under a random key prefix (removed after each test), and a private
// redis-server on its own port for the tests that kill it.
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { LeasedMessage, SpoolBackend } from '../../src/spool/backend.ts';
import { openRedisSpool, SpoolUnavailableError, type RedisSpool } from '../../src/spool/redis.ts';
import { SPOOL_GROUP, spoolKeys } from '../../src/spool/redis-keys.ts';
import { startPrivateRedis } from '../helpers/private-redis.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { skipWithout } from '../helpers/tools.ts';
import { describeSpoolBackend, testMessage } from './spool-backend-conformance.ts';

const skip = await skipWithoutRedis();

async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

if (!skip) {
  describeSpoolBackend('redis', async ({ maxBytes }) => {
    const prefix = `test:${randomUUID()}:`;
    let backend = await openRedisSpool({ url: TEST_REDIS_URL, prefix, maxBytes });
    return {
      backend,
      reopen: async () => {
        await backend.close();
        backend = await openRedisSpool({ url: TEST_REDIS_URL, prefix, maxBytes });
        return backend;
      },
      destroy: async () => {
        await backend.close();
        await removeKeys(prefix);
      },
    };
  });
}

/** Spools of one fleet: instances on the shared Redis under one fresh prefix, all closed and removed after. */
function fleet(): { open(maxBytes?: number): Promise<RedisSpool>; prefix: string; redis: Redis } {
  const prefix = `test:${randomUUID()}:`;
  const opened: RedisSpool[] = [];
  const redis = new Redis(TEST_REDIS_URL);
  after(async () => {
    for (const s of opened) await s.close();
    await removeKeys(prefix);
    redis.disconnect();
  });
  return {
    prefix,
    redis,
    open: async (maxBytes = 64 * 1024 * 1024) => {
      const s = await openRedisSpool({ url: TEST_REDIS_URL, prefix, maxBytes });
      opened.push(s);
      return s;
    },
  };
}

const LEASE_MS = 30_000;
const delivered = (l: LeasedMessage) =>
  l.message.recipients.map((address, i) => ({
    address,
    state: 'delivered' as const,
    cakemailId: `cm-${l.message.id}-${i}`,
  }));

describe('Redis spool across processes', { skip }, () => {
  test('two gateway processes share one stream: every message leased exactly once, each process gets some', async () => {
    const f = fleet();
    const a = await f.open();
    const b = await f.open();
    const ids = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const m = testMessage();
      ids.add(m.id);
      assert.equal((await (i % 2 ? a : b).put(m)).kind, 'stored');
    }
    const got: Record<'a' | 'b', LeasedMessage[]> = { a: [], b: [] };
    const now = Date.now();
    for (;;) {
      const [la, lb] = await Promise.all([
        a.lease({ owner: 'pod-a', max: 3, leaseMs: LEASE_MS, now }),
        b.lease({ owner: 'pod-b', max: 3, leaseMs: LEASE_MS, now }),
      ]);
      got.a.push(...la);
      got.b.push(...lb);
      if (la.length === 0 && lb.length === 0) break;
    }
    const leasedIds = [...got.a, ...got.b].map((l) => l.message.id);
    assert.equal(leasedIds.length, 40, 'no message leased twice');
    assert.deepEqual(new Set(leasedIds), ids, 'every message leased');
    assert.ok(got.a.length > 0 && got.b.length > 0, `both processes got work (a ${got.a.length}, b ${got.b.length})`);
    // The group's pending list says the same: who holds what.
    const pending = (await f.redis.xpending(spoolKeys(f.prefix).stream, SPOOL_GROUP)) as [
      number,
      string,
      string,
      [string, string][],
    ];
    assert.deepEqual(Object.fromEntries(pending[3].map(([c, n]) => [c, Number(n)])), {
      'pod-a': got.a.length,
      'pod-b': got.b.length,
    });

    for (const [spool, leases] of [
      [a, got.a],
      [b, got.b],
    ] as const) {
      for (const l of leases)
        assert.equal((await spool.settle(l.lease, { recipients: delivered(l), nextAttemptAt: now })).kind, 'removed');
    }
    assert.equal((await a.usage()).bytes, 0);
    assert.equal(await f.redis.xlen(spoolKeys(f.prefix).stream), 0, 'delivered entries are deleted from the stream');
    assert.equal(
      ((await f.redis.xpending(spoolKeys(f.prefix).stream, SPOOL_GROUP)) as [number])[0],
      0,
      'and acknowledged',
    );
  });

  test('a process that dies holding messages: another takes them over once the lease lapses, not before; the dead one cannot settle', async () => {
    const f = fleet();
    const dying = await f.open();
    const survivor = await f.open();
    for (let i = 0; i < 5; i++) await dying.put(testMessage());
    const t = Date.now();
    const held = await dying.lease({ owner: 'pod-dying', max: 10, leaseMs: LEASE_MS, now: t });
    assert.equal(held.length, 5);
    // It opened an attempt, then died: never settled, never acknowledged.
    assert.equal(
      await dying.journal(held[0]!.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-1', at: t }),
      true,
    );
    await dying.close();

    assert.equal(
      (await survivor.lease({ owner: 'pod-survivor', max: 10, leaseMs: LEASE_MS, now: t + LEASE_MS - 1 })).length,
      0,
      'not while the lease runs',
    );
    const taken = await survivor.lease({ owner: 'pod-survivor', max: 10, leaseMs: LEASE_MS, now: t + LEASE_MS });
    assert.deepEqual(taken.map((l) => l.message.id).sort(), held.map((l) => l.message.id).sort());
    const first = taken.find((l) => l.message.id === held[0]!.message.id)!;
    assert.deepEqual(
      first.recipients[0]?.open,
      { tag: 'gw-1', at: t },
      'the open attempt comes along, to be reconciled before a resend',
    );
    const pending = (await f.redis.xpending(spoolKeys(f.prefix).stream, SPOOL_GROUP)) as [
      number,
      string,
      string,
      [string, string][],
    ];
    assert.deepEqual(pending[3], [['pod-survivor', '5']], 'the stream entries moved to the survivor');

    assert.equal(
      (await survivor.settle(held[1]!.lease, { recipients: delivered(held[1]!), nextAttemptAt: t })).kind,
      'lost',
      'a settle under the dead lease is refused',
    );
    for (const l of taken)
      assert.equal((await survivor.settle(l.lease, { recipients: delivered(l), nextAttemptAt: t })).kind, 'removed');
    assert.deepEqual(await survivor.usage(), {
      bytes: 0,
      messages: { queued: 0, retrying: 0, dead: 0 },
      oldestReceivedAt: null,
      quarantined: 0,
    });
  });

  test('the byte count never drifts: random put/settle/dead/retry/drop cycles from two processes end at 0', async () => {
    const f = fleet();
    const spools = [await f.open(), await f.open()];
    const pick = <T>(xs: readonly T[]): T => xs[randomInt(xs.length)] as T;
    const live = new Map<string, { spool: SpoolBackend; lease: LeasedMessage | null }>();
    let now = Date.now();
    const check = async (step: number) => {
      const listed = await spools[0]!.list();
      const sum = listed.reduce((n, e) => n + e.bytes, 0);
      assert.equal((await spools[1]!.usage()).bytes, sum, `step ${step}: the counter equals the stored messages`);
      assert.equal(listed.length, live.size, `step ${step}: listed messages`);
    };
    for (let step = 0; step < 200; step++) {
      const spool = pick(spools);
      const op = live.size === 0 ? 'put' : pick(['put', 'put', 'lease', 'settle', 'settle', 'drop', 'retry'] as const);
      if (op === 'put') {
        const m = testMessage({ raw: Buffer.alloc(randomInt(10, 4000), 'x') });
        assert.equal((await spool.put(m)).kind, 'stored');
        live.set(m.id, { spool, lease: null });
      } else if (op === 'lease') {
        now += LEASE_MS + 1;
        for (const l of await spool.lease({ owner: `o${randomInt(2)}`, max: 3, leaseMs: LEASE_MS, now }))
          live.set(l.message.id, { spool, lease: l });
      } else if (op === 'settle') {
        const held = [...live.entries()].filter(([, v]) => v.lease);
        if (held.length === 0) continue;
        const [id, { spool: s, lease }] = pick(held);
        const how = pick(['delivered', 'dead', 'pending'] as const);
        const recipients = lease!.message.recipients.map((address) =>
          how === 'delivered'
            ? { address, state: 'delivered' as const, cakemailId: 'cm' }
            : how === 'dead'
              ? { address, state: 'dead' as const, reason: 'refused' }
              : { address, state: 'pending' as const, error: 'HTTP 503' },
        );
        const res = await s.settle(lease!.lease, { recipients, nextAttemptAt: now });
        if (res.kind === 'removed') live.delete(id);
        else if (res.kind !== 'lost') live.set(id, { spool: s, lease: null });
      } else if (op === 'drop') {
        const id = pick([...live.keys()]);
        assert.equal(await spool.drop(id), true);
        live.delete(id);
      } else {
        await spool.retry({ allDead: true });
      }
      if (step % 10 === 0) await check(step);
    }
    await check(200);
    for (const id of live.keys()) assert.equal(await pick(spools).drop(id), true);
    assert.equal((await spools[0]!.usage()).bytes, 0);
    assert.equal(await f.redis.get(spoolKeys(f.prefix).bytes), '0');
  });

  test('two processes putting at once against one budget: never over it, the count equals what was stored', async () => {
    const f = fleet();
    const probe = testMessage({ raw: Buffer.alloc(1000, 'x') });
    const a = await f.open(1);
    const one = await a.put(probe);
    assert.equal(one.kind, 'full');
    const size = one.bytes;
    const max = size * 10 + size / 2;
    const [x, y] = [await f.open(max), await f.open(max)];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? x : y).put(testMessage({ raw: Buffer.alloc(1000, 'x') }))),
    );
    assert.equal(results.filter((r) => r.kind === 'stored').length, 10);
    assert.equal((await x.usage()).bytes, size * 10);
    const full = results.find((r) => r.kind === 'full');
    assert.deepEqual(full, { kind: 'full', bytes: size, usedBytes: size * 10, maxBytes: max });
  });

  test('the consumer group lost (a Redis that lost its data) is created again and the stream read from its start', async () => {
    const f = fleet();
    const s = await f.open();
    const m = testMessage();
    await s.put(m);
    await f.redis.xgroup('DESTROY', spoolKeys(f.prefix).stream, SPOOL_GROUP);
    const got = await s.lease({ owner: 'w', max: 5, leaseMs: LEASE_MS });
    assert.deepEqual(
      got.map((l) => l.message.id),
      [m.id],
    );
  });
});

test(
  'Redis killed: put fails at once with a typed error (never a pretend success); restarted on its AOF, every stored message is still there',
  { skip: skip || skipWithout('redis-server', 'redis-server') },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spool-redis-aof-'));
    let redis = await startPrivateRedis({ aofDir: dir });
    const prefix = `test:${randomUUID()}:`;
    const spool = await openRedisSpool({
      url: redis.url,
      prefix,
      maxBytes: 1 << 20,
      commandTimeoutMs: 2000,
      connectTimeoutMs: 1000,
    });
    try {
      assert.equal(await spool.appendOnly(), true);
      const stored = [testMessage(), testMessage(), testMessage()];
      for (const m of stored) assert.equal((await spool.put(m)).kind, 'stored');

      await redis.kill();
      const started = Date.now();
      const err = await spool.put(testMessage()).then(
        () => assert.fail('put resolved with Redis dead'),
        (e: unknown) => e,
      );
      assert.ok(SpoolUnavailableError.is(err), `a typed failure, got ${String(err)}`);
      assert.ok(Date.now() - started < 3000, `and at once, not after a queue (${Date.now() - started} ms)`);
      await assert.rejects(spool.lease({ owner: 'w', max: 5, leaseMs: LEASE_MS }), (e) => SpoolUnavailableError.is(e));
      await assert.rejects(spool.usage(), (e) => SpoolUnavailableError.is(e));

      redis = await startPrivateRedis({ port: redis.port, aofDir: dir });
      // ioredis reconnects by itself; until it has, puts keep failing the same typed way.
      const deadline = Date.now() + 20_000;
      const late = testMessage();
      for (;;) {
        const r = await spool.put(late).catch((e: unknown) => e);
        if (!(r instanceof Error)) break;
        assert.ok(SpoolUnavailableError.is(r), String(r));
        assert.ok(Date.now() < deadline, 'the spool reconnected');
        await new Promise((res) => setTimeout(res, 200));
      }
      const leased = await spool.lease({ owner: 'w', max: 10, leaseMs: LEASE_MS });
      assert.deepEqual(
        leased.map((l) => l.message.id).sort(),
        [...stored, late].map((m) => m.id).sort(),
        'every message answered stored survived the Redis crash',
      );
    } finally {
      await spool.close();
      await redis.kill();
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a lease granted while Redis died (its reply lost) comes back to the same process at its next lease, not after it lapses',
  { skip: skip || skipWithout('redis-server', 'redis-server') },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spool-redis-aof-'));
    let redis = await startPrivateRedis({ aofDir: dir });
    const opts = { prefix: 'p:', maxBytes: 1 << 20, commandTimeoutMs: 2000, connectTimeoutMs: 1000 };
    const spool = await openRedisSpool({ url: redis.url, ...opts });
    // Stands for the lease call whose reply never arrived: granted to owner 'w' on the server.
    const lostReply = await openRedisSpool({ url: redis.url, ...opts });
    try {
      const [m1, m2] = [testMessage(), testMessage()];
      await spool.put(m1);
      const [own] = await spool.lease({ owner: 'w', max: 1, leaseMs: LEASE_MS });
      assert.equal(own?.message.id, m1.id);
      await spool.put(m2);
      assert.equal((await lostReply.lease({ owner: 'w', max: 1, leaseMs: LEASE_MS })).length, 1);
      await lostReply.close();

      await redis.kill();
      await assert.rejects(spool.lease({ owner: 'w', max: 5, leaseMs: LEASE_MS }), (e) => SpoolUnavailableError.is(e));
      redis = await startPrivateRedis({ port: redis.port, aofDir: dir });
      const deadline = Date.now() + 20_000;
      let again: LeasedMessage[] | Error;
      for (;;) {
        again = await spool.lease({ owner: 'w', max: 5, leaseMs: LEASE_MS }).catch((e: Error) => e);
        if (!(again instanceof Error)) break;
        assert.ok(Date.now() < deadline, 'reconnected');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(
        again.map((l) => l.message.id),
        [m2.id],
        'the lost lease is granted again; the one this process holds is not',
      );
      assert.equal(
        (await spool.settle(own!.lease, { recipients: delivered(own!), nextAttemptAt: Date.now() })).kind,
        'removed',
        'the held lease still settles',
      );
    } finally {
      await spool.close();
      await lostReply.close();
      await redis.kill();
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a Redis without an append-only file is reported, so the gateway can warn at start',
  { skip: skip || skipWithout('redis-server', 'redis-server') },
  async () => {
    const redis = await startPrivateRedis();
    const spool = await openRedisSpool({ url: redis.url, prefix: 'test:', maxBytes: 1 << 20 });
    try {
      assert.equal(await spool.appendOnly(), false);
    } finally {
      await spool.close();
      await redis.kill();
    }
  },
);

test(
  'Redis not there at start: opening the spool fails with the typed error, promptly',
  { skip: skip || skipWithout('redis-server', 'redis-server') },
  async () => {
    const redis = await startPrivateRedis();
    await redis.kill();
    const started = Date.now();
    await assert.rejects(
      openRedisSpool({ url: redis.url, prefix: 'test:', maxBytes: 1 << 20, connectTimeoutMs: 1000 }),
      (e) => SpoolUnavailableError.is(e),
    );
    assert.ok(Date.now() - started < 5000);
  },
);
