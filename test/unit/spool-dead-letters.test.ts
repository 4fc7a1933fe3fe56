// Dead letters do not stay for ever: SPOOL_DEAD_TTL_S after they died they leave the spool (with
// a count and a log line), so they stop holding the budget that new mail needs; `spool drop
// --all-dead` removes them at once. Messages still to deliver are never touched.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { spoolCommand } from '../../src/spool/cli.ts';
import { DeadLetterExpiry } from '../../src/spool/dead-letters.ts';
import { openDirSpool, type DirSpool } from '../../src/spool/dir.ts';
import { testMessage } from './spool-backend-conformance.ts';

const DAY = 24 * 3600 * 1000;

/** Makes one message a dead letter at the spool's current time. */
async function killOne(spool: DirSpool, now: number): Promise<string> {
  const m = testMessage({ receivedAt: now });
  await spool.put(m);
  const [l] = (await spool.lease({ owner: 'w', max: 10, leaseMs: 1000, now })).filter((x) => x.message.id === m.id);
  assert.ok(l);
  assert.equal(
    (
      await spool.settle(l.lease, {
        recipients: m.recipients.map((address) => ({ address, state: 'dead' as const, reason: 'refused' })),
        nextAttemptAt: now,
      })
    ).kind,
    'dead',
  );
  return m.id;
}

test('dead letters leave the spool SPOOL_DEAD_TTL_S after they died, counted and logged; the rest stays', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-dead-'));
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const spool = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true, now: () => clock });
  try {
    const old = await killOne(spool, clock);
    clock += 5 * DAY;
    const young = await killOne(spool, clock);
    const pending = testMessage({ receivedAt: clock - 20 * DAY });
    await spool.put(pending);
    const lines: string[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const metrics = createMetrics();
    let changed = 0;
    const expiry = new DeadLetterExpiry({
      backend: spool,
      ttlS: 7 * 24 * 3600,
      intervalMs: 3_600_000,
      logger,
      metrics,
      changed: () => changed++,
    });
    try {
      // Day 5: neither has been dead for 7 days.
      assert.deepEqual(await expiry.run(clock), []);
      // Day 8: the first one has.
      clock += 3 * DAY;
      assert.deepEqual(await expiry.run(clock), [old]);
      assert.equal(await spool.get(old), null);
      assert.equal((await spool.get(young))?.state, 'dead');
      assert.equal((await spool.get(pending.id))?.state, 'queued', 'a message to deliver is never expired');
      assert.equal((await metrics.spoolDeadExpired.get()).values[0]?.value, 1);
      assert.ok(lines.some((l) => l.includes('dead letters expired: 1 removed after SPOOL_DEAD_TTL_S')));
      assert.equal(changed, 1);
      // A retry restarts the clock: retried, it is not a dead letter to expire.
      assert.deepEqual(await spool.retry({ id: young }), [young]);
      clock += 10 * DAY;
      assert.deepEqual(await expiry.run(clock), []);
    } finally {
      expiry.stop();
    }
  } finally {
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('spool drop --all-dead removes every dead letter and only them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-dead-'));
  try {
    const spool = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    const now = Date.now();
    const dead = [await killOne(spool, now), await killOne(spool, now)];
    const pending = testMessage();
    await spool.put(pending);
    await spool.close();
    const cfg = loadConfig({ DELIVERY_MODE: 'spool', SPOOL_DIR: dir });
    assert.ok(cfg.ok);
    let out = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
    assert.equal(await spoolCommand(cfg.config, ['drop', '--all-dead'], io), 0);
    assert.deepEqual(out.trim().split('\n').sort(), dead.map((id) => `dropped ${id}`).sort());
    out = '';
    assert.equal(await spoolCommand(cfg.config, ['drop', '--all-dead'], io), 0);
    assert.equal(out, 'No dead letters to drop.\n');
    assert.equal(await spoolCommand(cfg.config, ['drop', pending.id, '--all-dead'], io), 2);
    const after = await openDirSpool({ dir, maxBytes: 1 << 20 });
    assert.deepEqual(
      (await after.list()).map((e) => e.id),
      [pending.id],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
