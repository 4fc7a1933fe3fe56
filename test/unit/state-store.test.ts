// The memory store's limits primitives, on a fake clock (the Redis twin is tested against a
// real Redis in test/integration/redis.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createMetrics } from '../../src/observability/metrics.ts';
import { MemoryStore } from '../../src/state/memory.ts';
import { MonitoredStore, StoreHealth } from '../../src/state/monitored.ts';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('token bucket: a full minute of tokens, then the wait until the next one, refilled continuously', async () => {
  const c = clock();
  const s = new MemoryStore(c.now);
  for (let i = 0; i < 6; i++) assert.equal(await s.takeToken('b', 6, 6), 0, `token ${i + 1}`);
  assert.equal(await s.takeToken('b', 6, 6), 10_000, '6 per minute: one every 10 s');
  c.advance(4_000);
  assert.equal(await s.takeToken('b', 6, 6), 6_000, 'a refused take costs nothing');
  c.advance(6_000);
  assert.equal(await s.takeToken('b', 6, 6), 0);
  c.advance(3_600_000);
  for (let i = 0; i < 6; i++)
    assert.equal(await s.takeToken('b', 6, 6), 0, 'never more than the capacity after a long pause');
  assert.ok((await s.takeToken('b', 6, 6)) > 0);
  await s.close();
});

test('ttlMs: the time left of a block, null once it is over or absent', async () => {
  const c = clock();
  const s = new MemoryStore(c.now);
  assert.equal(await s.ttlMs('block'), null);
  await s.set('block', '1', 900);
  assert.equal(await s.ttlMs('block'), 900_000);
  c.advance(899_000);
  assert.equal(await s.ttlMs('block'), 1_000);
  c.advance(1_000);
  assert.equal(await s.ttlMs('block'), null);
  await s.close();
});

test('counters keep the TTL set at their first increment (a fixed window)', async () => {
  const c = clock();
  const s = new MemoryStore(c.now);
  assert.equal(await s.increment('n', 10), 1);
  c.advance(9_000);
  assert.equal(await s.increment('n', 10), 2);
  c.advance(1_000);
  assert.equal(await s.increment('n', 10), 1, 'the window ended 10 s after the first failure');
  await s.close();
});

test('bounded: new counters and buckets evict the oldest entry past maxEntries, counted', async () => {
  let evicted = 0;
  const s = new MemoryStore(Date.now, { maxEntries: 100, onEvict: () => evicted++ });
  for (let i = 0; i < 150; i++) await s.increment(`ip:${i}`, 60);
  for (let i = 0; i < 50; i++) await s.takeToken(`bucket:${i}`, 5, 5);
  assert.equal(s.size, 100);
  assert.equal(evicted, 100);
  await s.close();
});

test('MonitoredStore: failures counted per operation, one log line per change of state, errors rethrown', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const metrics = createMetrics();
  let down = false;
  const inner = new MemoryStore();
  const flaky = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'close') return typeof v === 'function' ? v.bind(target) : v;
      return (...args: unknown[]) =>
        down ? Promise.reject(new Error('connection lost')) : (v as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  const store = new MonitoredStore(flaky, new StoreHealth(metrics, logger, true));
  await store.set('k', 'v', 60);
  down = true;
  for (let i = 0; i < 50; i++) await assert.rejects(store.get('k'), /connection lost/);
  await assert.rejects(store.takeToken('b', 1, 1));
  down = false;
  assert.equal(await store.get('k'), 'v');
  const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, [
    'state store unreachable: failing open (no dedupe, auth limits or rate limits) until it is back',
    'state store reachable again: limits, blocks and dedupe enforced',
  ]);
  const text = await metrics.registry.metrics();
  assert.match(text, /smtp_gateway_state_store_errors_total\{op="get"\} 50/);
  assert.match(text, /smtp_gateway_state_store_errors_total\{op="takeToken"\} 1/);
  assert.match(text, /smtp_gateway_state_store_up 1/);
  await store.close();
});

test('beginSend / endSend: accepted wins, a claim is exclusive, the first attempt is written with the claim', async () => {
  const s = new MemoryStore();
  const keys = { accepted: 'd', claim: 'c', ambiguous: 'a' };
  const begin = (owner: string, attempt: string | null = null) =>
    s.beginSend({ keys, owner, claimTtlS: 10, attempt, recordTtlS: 100 });
  assert.deepEqual(await begin('one', '[1]'), { kind: 'claimed', ambiguous: null });
  assert.equal(await s.get('a'), '[1]', 'the attempt is on record before the send');
  assert.deepEqual(await begin('two', '[2]'), { kind: 'busy' });
  await s.endSend({ keys, ambiguous: 'keep', recordTtlS: 100 });
  assert.deepEqual(
    await begin('two', '[2]'),
    { kind: 'claimed', ambiguous: '[1]' },
    'an earlier attempt is not overwritten',
  );
  assert.equal(await s.get('a'), '[1]');
  await s.endSend({ keys, accepted: 'id-1', ambiguous: 'clear', recordTtlS: 100 });
  assert.equal(await s.get('c'), null, 'released');
  assert.equal(await s.get('a'), null);
  assert.deepEqual(await begin('three'), { kind: 'accepted', value: 'id-1' });
  assert.equal(await s.get('c'), null, 'nothing claimed for an accepted recipient');
  await s.close();
});
