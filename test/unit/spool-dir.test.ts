// The local-directory spool: the shared conformance suite, plus what a crash leaves behind on
// disk (a torn journal record, a half-written temp file, a journal without its message).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile, appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDirSpool } from '../../src/spool/dir.ts';
import { describeSpoolBackend, testMessage } from './spool-backend-conformance.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'spool-test-'));
}

describeSpoolBackend('dir', async ({ maxBytes }) => {
  const dir = await tempDir();
  let backend = await openDirSpool({ dir, maxBytes, recover: true });
  return {
    backend,
    reopen: async () => {
      await backend.close();
      backend = await openDirSpool({ dir, maxBytes, recover: true });
      return backend;
    },
    destroy: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('a torn or garbled journal tail is skipped, and the next record still counts', async () => {
  const dir = await tempDir();
  try {
    const spool = await openDirSpool({ dir, maxBytes: 1 << 20 });
    const m = testMessage();
    await spool.put(m);
    const now = Date.now();
    const [l] = await spool.lease({ owner: 'w', max: 1, leaseMs: 1000, now });
    assert.ok(l);
    await spool.journal(l.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-1', at: now });
    // The crash tore the result record in the middle, and garbage came before it.
    const jnl = join(dir, 'msg', `${m.id}.jnl`);
    await appendFile(
      jnl,
      '\n{"type":"result","recipient":"a@exa\n\u0000\u0000garbage\n{"type":"result","recipient":"a@example.org","tag":"gw-1","at":1,"result":{"kind":"queu',
    );

    const after = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    const [again] = await after.lease({ owner: 'w', max: 1, leaseMs: 1000, now: now + 5000 });
    assert.ok(again, 'the message is still there and leasable');
    assert.deepEqual(
      again.recipients[0]?.open,
      { tag: 'gw-1', at: now },
      'the torn result leaves the attempt open (reconciled before any resend)',
    );
    // The next record starts on a line of its own despite the torn tail.
    await after.journal(again.lease, {
      type: 'result',
      recipient: 'a@example.org',
      tag: 'gw-1',
      at: now + 6000,
      result: { kind: 'reconciled', found: true, cakemailId: 'cm-9' },
    });
    const entry = await after.get(m.id);
    assert.equal(entry?.recipients[0]?.cakemail_id, 'cm-9');
    assert.equal(entry?.recipients[0]?.history[0]?.result?.kind, 'reconciled');
    assert.match(await readFile(jnl, 'utf8'), /"kind":"reconciled"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a temp file left by a crash before the rename is removed at start and never delivered', async () => {
  const dir = await tempDir();
  try {
    const first = await openDirSpool({ dir, maxBytes: 1 << 20 });
    await first.close();
    await writeFile(join(dir, 'tmp', 'half-written.msg'), '{"v":1,"id":"half-written"');
    // A put that crashed after creating the journal, before the rename.
    await writeFile(join(dir, 'msg', 'orphan.jnl'), '');
    const admin = await openDirSpool({ dir, maxBytes: 1 << 20 });
    assert.equal((await readdir(join(dir, 'tmp'))).length, 1, 'an admin tool never removes a put under way');
    await admin.close();
    const spool = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await readdir(join(dir, 'msg')), []);
    assert.equal((await spool.list()).length, 0);
    assert.equal((await spool.lease({ owner: 'w', max: 10, leaseMs: 1000 })).length, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an admin retry from another process is seen by the running spool', async () => {
  const dir = await tempDir();
  try {
    const gateway = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    const m = testMessage();
    await gateway.put(m);
    const [l] = await gateway.lease({ owner: 'w', max: 1, leaseMs: 1000 });
    assert.ok(l);
    await gateway.settle(l.lease, {
      recipients: m.recipients.map((address) => ({ address, state: 'dead' as const, reason: 'refused' })),
      nextAttemptAt: Date.now(),
    });
    assert.equal((await gateway.usage()).messages.dead, 1);
    const cli = await openDirSpool({ dir, maxBytes: 1 << 20 });
    assert.deepEqual(await cli.retry({ allDead: true }), [m.id]);
    // The running gateway notices (the .changed stamp) and leases it again.
    const leased = await gateway.lease({ owner: 'w', max: 1, leaseMs: 1000, now: Date.now() + 10 });
    assert.deepEqual(
      leased.map((x) => x.message.id),
      [m.id],
    );
    // A drop from the other process while leased: the worker sees it gone, nothing is recreated.
    assert.equal(await cli.drop(m.id), true);
    assert.equal(
      await gateway.journal(leased[0]!.lease, { type: 'open', recipient: 'a@example.org', tag: 't', at: Date.now() }),
      false,
    );
    assert.equal((await gateway.settle(leased[0]!.lease, { recipients: [], nextAttemptAt: Date.now() })).kind, 'gone');
    assert.deepEqual(await readdir(join(dir, 'msg')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a message whose journal is missing is still delivered, never dropped as gone', async () => {
  const dir = await tempDir();
  try {
    const spool = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    const m = testMessage();
    await spool.put(m);
    await rm(join(dir, 'msg', `${m.id}.jnl`));
    const after = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    const [l] = await after.lease({ owner: 'w', max: 1, leaseMs: 1000 });
    assert.equal(l?.message.id, m.id);
    assert.equal(
      await after.journal(l!.lease, { type: 'open', recipient: 'a@example.org', tag: 't', at: Date.now() }),
      true,
    );
    assert.equal((await after.get(m.id))?.recipients[0]?.attempts, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
