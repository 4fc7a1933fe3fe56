// Regression: a rescan of the directory spool (run from lease() after an admin tool in another
// process changed the spool) rebuilt the index from its readdir snapshot and forgot every id not
// in it, so a put that completed while the scan was still reading message files vanished from
// the index: never leased until restart, its bytes not counted against SPOOL_MAX_BYTES.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDirSpool } from '../../src/spool/dir.ts';
import { testMessage } from './spool-backend-conformance.ts';

// Big enough that reading them all back takes longer than one put: the put lands mid-scan.
const EXISTING = 40;
const EXISTING_BYTES = 256 * 1024;
const ROUNDS = 5;

async function bytesOnDisk(dir: string): Promise<number> {
  const names = (await readdir(join(dir, 'msg'))).filter((n) => n.endsWith('.msg'));
  let n = 0;
  for (const name of names) n += (await stat(join(dir, 'msg', name))).size;
  return n;
}

test('a message stored while a rescan runs is still leased, and its bytes counted', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-rescan-'));
  try {
    const gateway = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true });
    const existing: string[] = [];
    for (let i = 0; i < EXISTING; i++) {
      const m = testMessage({ raw: Buffer.alloc(EXISTING_BYTES, 'x') });
      await gateway.put(m);
      existing.push(m.id);
    }
    // The admin CLI opens the same directory from another process, without recovery.
    const admin = await openDirSpool({ dir, maxBytes: 1 << 30 });

    for (let round = 0; round < ROUNDS; round++) {
      // The admin drop marks the spool changed: the gateway's next lease rescans it.
      assert.equal(await admin.drop(existing.pop()!), true);
      const fresh = testMessage({ id: `fresh${round}`, receivedAt: Date.now() - 1000 });
      const leasing = gateway.lease({ owner: 'w', max: 1000, leaseMs: 60_000, now: Date.now() + 60_000 });
      const stored = await gateway.put(fresh);
      assert.equal(stored.kind, 'stored');
      const first = await leasing;
      const second = await gateway.lease({ owner: 'w', max: 1000, leaseMs: 60_000, now: Date.now() + 60_000 });

      const leased = [...first, ...second].map((l) => l.message.id);
      assert.ok(leased.includes(fresh.id), `round ${round}: the message stored during the rescan is leased`);
      assert.equal(
        (await gateway.usage()).bytes,
        await bytesOnDisk(dir),
        `round ${round}: usage counts every message on disk`,
      );
    }
    await admin.close();
    await gateway.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
