// The counting rules of the AUTH limits on a memory store (the SMTP behaviour is tested in
// test/integration/auth-abuse.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthGuard } from '../../src/smtp/auth-guard.ts';
import { KeyedHash } from '../../src/state/keyed-hash.ts';
import { MemoryStore } from '../../src/state/memory.ts';

const limits = { maxFailuresPerIp: 3, maxFailuresPerUser: 5, windowS: 600, blockS: 900 };

function guard() {
  const store = new MemoryStore();
  return { store, g: new AuthGuard(store, new KeyedHash(store), limits) };
}

test('successful logins give their reservation back: they never count towards a block', async () => {
  const { store, g } = guard();
  for (let i = 0; i < 20; i++) {
    const c = await g.check('192.0.2.1', 'app@example.com');
    assert.ok(c.ok);
    await g.released('192.0.2.1', 'app@example.com', c);
    await g.succeeded('192.0.2.1', 'app@example.com');
  }
  assert.equal(await g.ipBlockedFor('192.0.2.1'), null);
  await store.close();
});

test('the failure that reaches the limit blocks the IP; the block starts a fresh count, never a negative one', async () => {
  const { store, g } = guard();
  const inFlight = await g.check('192.0.2.2', 'x@example.com'); // will succeed after the block
  for (let i = 0; i < 2; i++) {
    const c = await g.check('192.0.2.2', 'x@example.com');
    assert.ok(c.ok);
    const r = await g.failed('192.0.2.2', 'x@example.com', c);
    assert.equal(r.ipBlocked, i === 1, `failure ${i + 1} of 3 counted with the one in flight`);
  }
  assert.equal(await g.ipBlockedFor('192.0.2.2'), 900);
  await g.released('192.0.2.2', 'x@example.com', inFlight);
  assert.equal(await store.get('auth:ipfail:192.0.2.2'), null, 'no count below zero after the block');
  await store.close();
});

test('IPv6 clients are counted per /64, and an IPv4-mapped address as its IPv4 address', async () => {
  const { store, g } = guard();
  for (const ip of ['2001:db8:1:1::1', '2001:db8:1:1::2', '2001:db8:1:1:ffff::3']) {
    const c = await g.check(ip, 'v6@example.com');
    await g.failed(ip, 'v6@example.com', c);
  }
  assert.equal(await g.ipBlockedFor('2001:db8:1:1::99'), 900);
  assert.equal(await g.ipBlockedFor('2001:db8:1:2::1'), null);
  for (let i = 0; i < 3; i++) await g.failed('::ffff:198.51.100.7', 'v4@example.com', await g.check('::ffff:198.51.100.7', 'v4@example.com'));
  assert.equal(await g.ipBlockedFor('198.51.100.7'), 900);
  await store.close();
});

test('usernames are stored only as HMACs: no key or value holds the name', async () => {
  const written: string[] = [];
  class Recording extends MemoryStore {
    override async set(key: string, value: string, ttl: number) {
      written.push(key, value);
      return super.set(key, value, ttl);
    }
    override async increment(key: string, ttl: number, by?: number) {
      written.push(key);
      return super.increment(key, ttl, by);
    }
  }
  const store = new Recording();
  const g = new AuthGuard(store, new KeyedHash(store), limits);
  for (let i = 0; i < 5; i++) await g.failed('192.0.2.3', 'Secret.Person@Example.com', await g.check('192.0.2.3', 'Secret.Person@Example.com'));
  await g.succeeded('192.0.2.4', 'secret.person@example.com');
  assert.ok(written.some((k) => k.startsWith('auth:userlock:')), 'the username was locked');
  assert.ok(written.some((k) => k.startsWith('auth:good:')));
  for (const w of written) assert.ok(!/secret|person|example/i.test(w), w);
  await store.close();
});
