// The counting rules of the AUTH limits on a memory store (the SMTP behaviour is tested in
// test/integration/auth-abuse.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthGuard } from '../../src/smtp/auth-guard.ts';
import { KeyedHash } from '../../src/state/keyed-hash.ts';
import { MemoryStore } from '../../src/state/memory.ts';

const limits = {
  maxFailuresPerIp: 3,
  maxFailuresPerUser: 5,
  windowS: 600,
  blockS: 900,
  pendingSlotMs: 12_500,
  pendingWaitMs: 10_000,
  newAddressFailuresPerMin: 0,
};

/** A guard on a fake clock: waiting for logins in progress moves time on, nothing sleeps. */
function guard(more: Partial<typeof limits> = {}) {
  const clock = { t: 1_000_000_000, now: () => clock.t, sleep: async (ms: number) => void (clock.t += ms) };
  const store = new MemoryStore(clock.now);
  return { store, clock, g: new AuthGuard(store, new KeyedHash(store), { ...limits, ...more }, clock) };
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

test('the failure that reaches the limit blocks the IP; a login in progress then never counts as a failure', async () => {
  const { store, g } = guard();
  const inFlight = await g.check('192.0.2.2', 'x@example.com'); // will succeed after the block
  assert.ok(inFlight.ok);
  for (let i = 0; i < 2; i++) {
    const c = await g.check('192.0.2.2', 'x@example.com');
    assert.ok(c.ok);
    assert.equal((await g.failed('192.0.2.2', 'x@example.com', c)).ipBlocked, false, `failure ${i + 1} of 3`);
  }
  // Two failures and one login in progress take the limit of 3: the next attempt waits for it.
  const waiting = g.check('192.0.2.2', 'x@example.com');
  await g.released('192.0.2.2', 'x@example.com', inFlight);
  const third = await waiting;
  assert.ok(third.ok, 'the place given back is taken by the waiting attempt');
  assert.equal((await g.failed('192.0.2.2', 'x@example.com', third)).ipBlocked, true, 'the third real failure blocks');
  assert.equal(await g.ipBlockedFor('192.0.2.2'), 900);
  assert.equal(await store.get('auth:ipfail:192.0.2.2'), null, 'the block starts a fresh count');
  await store.close();
});

test('logins in progress never let more passwords be checked than the limit: the attempt past it waits, then is refused as still in progress', async () => {
  const { store, clock, g } = guard();
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await g.check('192.0.2.5', `p${i}@example.com`));
  assert.ok(held.every((c) => c.ok));
  const started = clock.now();
  const fourth = await g.check('192.0.2.5', 'p3@example.com');
  assert.deepEqual(fourth, { ok: false, scope: 'ip', retryS: 10, pending: true });
  assert.ok(clock.now() - started >= limits.pendingWaitMs, 'it waited for the logins in progress first');
  assert.equal(await g.ipBlockedFor('192.0.2.5'), null, 'waiting is not a block');
  // Per username, across IPs: five in progress take the user's limit of 5.
  const u = [];
  for (let i = 0; i < 5; i++) u.push(await g.check(`198.51.100.${i + 1}`, 'target@example.com'));
  assert.ok(u.every((c) => c.ok));
  const sixth = await g.check('198.51.100.9', 'target@example.com');
  assert.equal(!sixth.ok && sixth.scope === 'user' && sixth.pending, true);
  await store.close();
});

test("a crashed attempt's reservation, never given back, stops counting after its short TTL and never counts as a failure", async () => {
  const { store, clock, g } = guard();
  // Three logins whose process died while waiting for Cakemail: no released(), no failed().
  for (let i = 0; i < 3; i++) assert.ok((await g.check('192.0.2.6', 'crashed@example.com')).ok);
  assert.equal(await store.get('auth:ipfail:192.0.2.6'), null, 'nothing counted as a failure');
  // Past the reservations' lifetime (three slots), far short of the failure window.
  clock.t += 3 * limits.pendingSlotMs;
  const before = clock.now();
  const next = await g.check('192.0.2.6', 'crashed@example.com');
  assert.ok(next.ok, 'the limit is free again');
  assert.equal(clock.now(), before, 'without waiting');
  // A full limit of real failures is still needed to block: the crashed ones are not among them.
  await g.released('192.0.2.6', 'crashed@example.com', next);
  for (let i = 0; i < 2; i++)
    assert.equal(
      (await g.failed('192.0.2.6', 'crashed@example.com', await g.check('192.0.2.6', 'crashed@example.com'))).ipBlocked,
      false,
    );
  assert.equal(
    (await g.failed('192.0.2.6', 'crashed@example.com', await g.check('192.0.2.6', 'crashed@example.com'))).ipBlocked,
    true,
  );
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
  for (let i = 0; i < 3; i++)
    await g.failed('::ffff:198.51.100.7', 'v4@example.com', await g.check('::ffff:198.51.100.7', 'v4@example.com'));
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
  for (let i = 0; i < 5; i++)
    await g.failed('192.0.2.3', 'Secret.Person@Example.com', await g.check('192.0.2.3', 'Secret.Person@Example.com'));
  await g.succeeded('192.0.2.4', 'secret.person@example.com');
  assert.ok(
    written.some((k) => k.startsWith('auth:userlock:')),
    'the username was locked',
  );
  assert.ok(written.some((k) => k.startsWith('auth:good:')));
  for (const w of written) assert.ok(!/secret|person|example/i.test(w), w);
  await store.close();
});

test('password spraying: failures from new addresses share one budget in any minute; known addresses and pairs are exempt', async () => {
  const { store, clock, g } = guard({ maxFailuresPerIp: 100, maxFailuresPerUser: 100, newAddressFailuresPerMin: 5 });
  // An application that logged in before, from its own address, and one that logged in as
  // someone else from its address.
  const app = await g.check('203.0.113.1', 'app@example.com');
  await g.released('203.0.113.1', 'app@example.com', app);
  await g.succeeded('203.0.113.1', 'app@example.com', app);
  const other = await g.check('203.0.113.2', 'other@example.com');
  await g.released('203.0.113.2', 'other@example.com', other);
  await g.succeeded('203.0.113.2', 'other@example.com', other);
  // A spray: each address and username new. Two of the budget went to the successes above and
  // were given back, so five failures spend it.
  const outcomes: string[] = [];
  for (let i = 0; i < 8; i++) {
    const ip = `198.51.100.${i + 1}`;
    const user = `victim${i}@example.com`;
    const c = await g.check(ip, user);
    outcomes.push(c.ok ? 'asked' : c.scope);
    if (c.ok) await g.failed(ip, user, c);
  }
  assert.deepEqual(outcomes, ['asked', 'asked', 'asked', 'asked', 'asked', 'spray', 'spray', 'spray']);
  const spent = await g.check('2001:db8:9:1::1', 'v6@example.com');
  assert.ok(!spent.ok && spent.scope === 'spray' && spent.retryS > 0 && spent.retryS <= 60);
  // Known pair, known address with a new username: neither counted nor refused.
  const pair = await g.check('203.0.113.1', 'app@example.com');
  assert.ok(pair.ok && pair.address.kind === 'vouched');
  const known = await g.check('203.0.113.2', 'someone-else@example.com');
  assert.ok(known.ok && known.address.kind === 'known');
  await g.failed('203.0.113.2', 'someone-else@example.com', known);
  // The window slides: a minute later the old failures count for nothing.
  clock.t += 60_001;
  const later = await g.check('198.51.100.200', 'late@example.com');
  assert.ok(later.ok && later.address.kind === 'new');
  await store.close();
});

test('a refused check gives its place in the spray budget back', async () => {
  const { store, g } = guard({ maxFailuresPerIp: 1, newAddressFailuresPerMin: 2 });
  const first = await g.check('198.51.100.50', 'a@example.com');
  assert.ok(first.ok);
  await g.failed('198.51.100.50', 'a@example.com', first); // blocks the IP
  // Refused by the IP block: not counted against the budget.
  for (let i = 0; i < 5; i++) assert.equal((await g.check('198.51.100.50', `b${i}@example.com`)).ok, false);
  const second = await g.check('198.51.100.51', 'c@example.com');
  assert.ok(second.ok, 'one place left in the budget');
  await store.close();
});
