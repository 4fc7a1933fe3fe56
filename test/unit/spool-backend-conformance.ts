// What every spool backend must do (src/spool/backend.ts), as one suite each backend runs:
// `describeSpoolBackend('dir', factory)`. Time is passed explicitly (`now` on lease, times in
// settlements), so nothing here sleeps.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { Lease, LeasedMessage, SpoolBackend, SpoolMessage } from '../../src/spool/backend.ts';

export interface SpoolFixture {
  backend: SpoolBackend;
  /** A second backend instance on the same storage, as after a restart (the first is closed). */
  reopen(): Promise<SpoolBackend>;
  /** Removes everything the fixture created. */
  destroy(): Promise<void>;
}

export type SpoolFactory = (opts: { maxBytes: number }) => Promise<SpoolFixture>;

const LEASE_MS = 60_000;

export function testMessage(over: Partial<SpoolMessage> = {}): SpoolMessage {
  return {
    id: `t${randomBytes(8).toString('hex')}`,
    receivedAt: Date.now(),
    envelopeFrom: 'sender@example.com',
    recipients: ['a@example.org', 'b@example.org'],
    raw: Buffer.from('From: sender@example.com\r\nTo: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n'),
    credential: 'sealed-credential',
    sessionId: 'session-1',
    ...over,
  };
}

export function describeSpoolBackend(name: string, factory: SpoolFactory): void {
  describe(`spool backend conformance: ${name}`, () => {
    const fixtures: SpoolFixture[] = [];
    const open = async (maxBytes = 1024 * 1024): Promise<SpoolFixture> => {
      const f = await factory({ maxBytes });
      fixtures.push(f);
      return f;
    };
    afterEach(async () => {
      for (const f of fixtures.splice(0)) await f.destroy();
    });

    const leaseOne = async (b: SpoolBackend, now = Date.now(), owner = 'w1'): Promise<LeasedMessage> => {
      const got = await b.lease({ owner, max: 10, leaseMs: LEASE_MS, now });
      assert.equal(got.length, 1, `expected one due message, got ${got.length}`);
      return got[0] as LeasedMessage;
    };

    it('stores a message durably: its bytes, envelope and credential come back, and after a reopen', async () => {
      const f = await open();
      const m = testMessage({ raw: Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), randomBytes(5000)]) });
      const put = await f.backend.put(m);
      assert.equal(put.kind, 'stored');
      const entry = await f.backend.get(m.id);
      assert.ok(entry);
      assert.equal(entry.state, 'queued');
      assert.equal(entry.envelope_from, m.envelopeFrom);
      assert.equal(entry.received_at, new Date(m.receivedAt).toISOString());
      assert.deepEqual(
        entry.recipients.map((r) => [r.address, r.state, r.attempts, r.last_error]),
        [
          ['a@example.org', 'queued', 0, null],
          ['b@example.org', 'queued', 0, null],
        ],
      );
      const again = await f.reopen();
      const leased = await leaseOne(again);
      assert.equal(leased.message.id, m.id);
      assert.deepEqual(Buffer.from(leased.message.raw), Buffer.from(m.raw));
      assert.equal(leased.message.credential, m.credential);
      assert.deepEqual([...leased.message.recipients], [...m.recipients]);
    });

    it('answers full past its byte budget and stores nothing', async () => {
      const f = await open(4096);
      const small = testMessage();
      assert.equal((await f.backend.put(small)).kind, 'stored');
      const big = testMessage({ raw: randomBytes(5000) });
      const res = await f.backend.put(big);
      assert.equal(res.kind, 'full');
      if (res.kind === 'full') assert.equal(res.maxBytes, 4096);
      assert.equal(await f.backend.get(big.id), null);
      assert.deepEqual(
        (await f.backend.list()).map((e) => e.id),
        [small.id],
      );
    });

    it('leases a due message to one owner until the lease lapses', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      await leaseOne(f.backend, now, 'w1');
      assert.equal(
        (await f.backend.lease({ owner: 'w2', max: 10, leaseMs: LEASE_MS, now })).length,
        0,
        'a held lease is not given twice',
      );
      const later = await leaseOne(f.backend, now + LEASE_MS + 1, 'w2');
      assert.equal(later.lease.owner, 'w2');
    });

    it('journals attempts: an attempt never closed, or closed ambiguous, is open on the next lease', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      const first = await leaseOne(f.backend, now);
      assert.equal(
        await f.backend.journal(first.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-a1', at: now }),
        true,
      );
      assert.equal(
        await f.backend.journal(first.lease, { type: 'open', recipient: 'b@example.org', tag: 'gw-b1', at: now }),
        true,
      );
      await f.backend.journal(first.lease, {
        type: 'result',
        recipient: 'b@example.org',
        tag: 'gw-b1',
        at: now + 1,
        result: { kind: 'failed', reason: 'HTTP 503', apiStatus: 503, ambiguous: true },
      });
      // The process dies here: nothing settled. After a restart the lease is gone with it.
      const again = await f.reopen();
      const second = await leaseOne(again, now + LEASE_MS + 1);
      const [a, b] = second.recipients;
      assert.deepEqual(a?.open, { tag: 'gw-a1', at: now });
      assert.deepEqual(b?.open, { tag: 'gw-b1', at: now });
      assert.equal(a?.attempts, 1);
      assert.equal(b?.lastError, 'HTTP 503');
      await again.journal(second.lease, {
        type: 'result',
        recipient: 'a@example.org',
        tag: 'gw-a1',
        at: now + 2,
        result: { kind: 'reconciled', found: false },
      });
      await again.journal(second.lease, {
        type: 'result',
        recipient: 'b@example.org',
        tag: 'gw-b1',
        at: now + 2,
        result: { kind: 'failed', reason: 'HTTP 500', apiStatus: 500 },
      });
      await again.settle(second.lease, {
        recipients: [
          { address: 'a@example.org', state: 'pending' },
          { address: 'b@example.org', state: 'pending', error: 'HTTP 500' },
        ],
        nextAttemptAt: now,
      });
      const third = await leaseOne(again, now + 2 * LEASE_MS);
      assert.deepEqual(
        third.recipients.map((r) => r.open),
        [null, null],
      );
      const entry = await again.get(m.id);
      assert.equal(entry?.state, 'retrying');
      const history = entry?.recipients[1]?.history ?? [];
      assert.equal(history.length, 1);
      assert.deepEqual(history[0]?.result, { kind: 'failed', reason: 'HTTP 500', apiStatus: 500 });
    });

    it('a queued result is delivered at once: a crash before the settle never sends that recipient again', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      const l = await leaseOne(f.backend, now);
      for (const [rcpt, tag] of [
        ['a@example.org', 'ta'],
        ['b@example.org', 'tb'],
      ] as const) {
        await f.backend.journal(l.lease, { type: 'open', recipient: rcpt, tag, at: now });
      }
      await f.backend.journal(l.lease, {
        type: 'result',
        recipient: 'a@example.org',
        tag: 'ta',
        at: now,
        result: { kind: 'queued', cakemailId: 'cm-a', apiStatus: 201 },
      });
      await f.backend.journal(l.lease, {
        type: 'result',
        recipient: 'b@example.org',
        tag: 'tb',
        at: now,
        result: { kind: 'reconciled', found: true, cakemailId: 'cm-b' },
      });
      // SIGKILL here: no settle.
      const again = await f.reopen();
      const entry = await again.get(m.id);
      if (entry) {
        assert.deepEqual(
          entry.recipients.map((r) => [r.state, r.cakemail_id]),
          [
            ['delivered', 'cm-a'],
            ['delivered', 'cm-b'],
          ],
        );
        assert.equal(entry.state, 'delivered');
      }
      const leased = await again.lease({ owner: 'w2', max: 10, leaseMs: LEASE_MS, now: now + 2 * LEASE_MS });
      assert.deepEqual(
        leased.map((x) => x.recipients.filter((r) => r.state !== 'delivered')),
        [],
        'nothing left to send',
      );
    });

    it('a settle that calls a delivered recipient pending or dead does not make it due again (delivered is final)', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      const l = await leaseOne(f.backend, now);
      await f.backend.journal(l.lease, { type: 'open', recipient: 'a@example.org', tag: 'ta', at: now });
      await f.backend.journal(l.lease, {
        type: 'result',
        recipient: 'a@example.org',
        tag: 'ta',
        at: now,
        result: { kind: 'queued', cakemailId: 'cm-a', apiStatus: 201 },
      });
      // A settle made from a view older than that result (a holder whose lease lapsed mid-send).
      await f.backend.settle(l.lease, {
        recipients: [
          { address: 'a@example.org', state: 'pending', error: 'HTTP 503' },
          { address: 'b@example.org', state: 'dead', reason: 'refused: 422' },
        ],
        nextAttemptAt: now,
      });
      const entry = await f.backend.get(m.id);
      assert.deepEqual(
        entry?.recipients.map((r) => [r.address, r.state]),
        [
          ['a@example.org', 'delivered'],
          ['b@example.org', 'dead'],
        ],
      );
      await f.backend.retry({ id: m.id });
      const leased = await f.backend.lease({ owner: 'w2', max: 10, leaseMs: LEASE_MS, now: now + 2 * LEASE_MS });
      assert.deepEqual(
        leased.flatMap((x) => x.recipients.filter((r) => r.state !== 'delivered').map((r) => r.address)),
        ['b@example.org'],
        'only the dead recipient is sent again',
      );
    });

    it('reschedules pending recipients: not due before nextAttemptAt, due after', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      const l = await leaseOne(f.backend, now);
      await f.backend.journal(l.lease, { type: 'open', recipient: 'a@example.org', tag: 't1', at: now });
      await f.backend.journal(l.lease, {
        type: 'result',
        recipient: 'a@example.org',
        tag: 't1',
        at: now,
        result: { kind: 'queued', cakemailId: 'cm-1', apiStatus: 201 },
      });
      const res = await f.backend.settle(l.lease, {
        recipients: [
          { address: 'a@example.org', state: 'delivered', cakemailId: 'cm-1' },
          { address: 'b@example.org', state: 'pending', error: 'Cakemail API unavailable' },
        ],
        nextAttemptAt: now + 10_000,
      });
      assert.equal(res.kind, 'rescheduled');
      assert.equal((await f.backend.lease({ owner: 'w1', max: 10, leaseMs: LEASE_MS, now: now + 5_000 })).length, 0);
      const next = await leaseOne(f.backend, now + 10_000);
      assert.deepEqual(
        next.recipients.map((r) => r.state),
        ['delivered', 'retrying'],
      );
      const entry = await f.backend.get(m.id);
      assert.equal(entry?.state, 'retrying');
      assert.equal(entry?.recipients[0]?.cakemail_id, 'cm-1');
      assert.equal(entry?.recipients[1]?.last_error, 'Cakemail API unavailable');
      assert.deepEqual(await f.backend.usage().then((u) => u.messages), { queued: 0, retrying: 1, dead: 0 });
    });

    it('removes a message once every recipient is delivered', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const l = await leaseOne(f.backend);
      const res = await f.backend.settle(l.lease, {
        recipients: [
          { address: 'a@example.org', state: 'delivered', cakemailId: 'cm-1' },
          { address: 'b@example.org', state: 'delivered', cakemailId: 'cm-2' },
        ],
        nextAttemptAt: Date.now(),
      });
      assert.equal(res.kind, 'removed');
      assert.equal(await f.backend.get(m.id), null);
      assert.equal((await f.backend.usage()).bytes, 0);
      assert.equal((await (await f.reopen()).list()).length, 0);
    });

    it('keeps dead letters with the reason per recipient; retry makes them due again; retry of all dead', async () => {
      const f = await open();
      const m1 = testMessage();
      const m2 = testMessage();
      const m3 = testMessage();
      for (const m of [m1, m2, m3]) await f.backend.put(m);
      const now = Date.now();
      const leased = await f.backend.lease({ owner: 'w1', max: 10, leaseMs: LEASE_MS, now });
      assert.equal(leased.length, 3);
      for (const l of leased) {
        if (l.message.id === m3.id) continue;
        const res = await f.backend.settle(l.lease, {
          recipients: [
            { address: 'a@example.org', state: 'delivered', cakemailId: 'cm-1' },
            { address: 'b@example.org', state: 'dead', reason: 'Cakemail refused the message: invalid recipient' },
          ],
          nextAttemptAt: now,
        });
        assert.equal(res.kind, 'dead');
      }
      const dead = await f.backend.list({ dead: true });
      assert.deepEqual(dead.map((e) => e.id).sort(), [m1.id, m2.id].sort());
      assert.equal(dead[0]?.recipients[1]?.last_error, 'Cakemail refused the message: invalid recipient');
      assert.deepEqual(
        (await f.backend.list({ dead: false })).map((e) => e.id),
        [m3.id],
      );
      const usage = await f.backend.usage();
      assert.equal(usage.messages.dead, 2);
      assert.equal(usage.oldestReceivedAt, m3.receivedAt, 'the oldest message is counted among those not dead');
      // A dead letter is not leased.
      assert.equal(
        (await f.backend.lease({ owner: 'w1', max: 10, leaseMs: LEASE_MS, now: now + 2 * LEASE_MS })).filter(
          (l) => l.message.id !== m3.id,
        ).length,
        0,
      );

      assert.deepEqual(await f.backend.retry({ id: m1.id }), [m1.id]);
      const e1 = await f.backend.get(m1.id);
      assert.equal(e1?.state, 'retrying');
      assert.deepEqual(
        e1?.recipients.map((r) => r.state),
        ['delivered', 'retrying'],
      );
      const after = await f.backend.lease({ owner: 'w1', max: 10, leaseMs: LEASE_MS, now: Date.now() + 3 * LEASE_MS });
      const l1 = after.find((l) => l.message.id === m1.id);
      assert.ok(l1, 'a retried message is due now');
      assert.ok(l1.ageFrom >= now, 'a retry restarts the message age');

      assert.deepEqual(await f.backend.retry({ allDead: true }), [m2.id]);
      assert.equal((await f.backend.list({ dead: true })).length, 0);
      assert.deepEqual(await f.backend.retry({ id: 'no-such-id' }), []);
    });

    it('drops a message in any state; a worker holding it sees it gone', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const l = await leaseOne(f.backend);
      assert.equal(await f.backend.drop(m.id), true);
      assert.equal(await f.backend.drop(m.id), false);
      assert.equal(await f.backend.get(m.id), null);
      assert.equal(
        await f.backend.journal(l.lease, { type: 'open', recipient: 'a@example.org', tag: 't', at: Date.now() }),
        false,
      );
      assert.equal((await f.backend.settle(l.lease, { recipients: [], nextAttemptAt: Date.now() })).kind, 'gone');
      assert.equal((await f.backend.usage()).bytes, 0);
    });

    it('refuses a settlement under a lease that lapsed and was taken by another owner', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      const stale = await leaseOne(f.backend, now, 'w1');
      await leaseOne(f.backend, now + LEASE_MS + 1, 'w2');
      const res = await f.backend.settle(stale.lease as Lease, {
        recipients: [{ address: 'a@example.org', state: 'dead', reason: 'x' }],
        nextAttemptAt: now,
      });
      assert.equal(res.kind, 'lost');
      assert.equal((await f.backend.get(m.id))?.recipients[0]?.state, 'queued');
    });

    it('refuses journal records under a lease that lapsed and was taken by another owner', async () => {
      const f = await open();
      const m = testMessage();
      await f.backend.put(m);
      const now = Date.now();
      const stale = await leaseOne(f.backend, now, 'w1');
      const current = await leaseOne(f.backend, now + LEASE_MS + 1, 'w2');
      assert.equal(
        await f.backend.journal(stale.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-stale', at: now }),
        false,
        'a stale holder may not open an attempt (it must not send)',
      );
      assert.equal((await f.backend.get(m.id))?.recipients[0]?.attempts, 0, 'nothing was written');
      assert.equal(
        await f.backend.journal(current.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-new', at: now }),
        true,
      );
      assert.deepEqual(
        (await f.backend.get(m.id))?.recipients[0]?.history.map((h) => h.tag),
        ['gw-new'],
      );
    });

    it('reports usage: bytes, messages by state, the oldest message', async () => {
      const f = await open();
      const now = Date.now();
      const older = testMessage({ receivedAt: now - 5000 });
      const newer = testMessage({ receivedAt: now });
      await f.backend.put(newer);
      await f.backend.put(older);
      const u = await f.backend.usage();
      assert.ok(u.bytes >= older.raw.length + newer.raw.length);
      assert.deepEqual(u.messages, { queued: 2, retrying: 0, dead: 0 });
      assert.equal(u.oldestReceivedAt, older.receivedAt);
      assert.deepEqual(
        (await f.backend.list()).map((e) => e.id),
        [older.id, newer.id],
        'listed oldest first',
      );
    });

    it('refuses ids that are not spool ids', async () => {
      const f = await open();
      assert.equal(await f.backend.get('../../etc/passwd'), null);
      assert.equal(await f.backend.drop('../x'), false);
      await assert.rejects(f.backend.put(testMessage({ id: '../evil' })));
    });
  });
}
