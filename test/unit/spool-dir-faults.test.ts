// The directory spool against the faults a real disk produces: a full volume (a real 1 MiB tmpfs
// where this machine can mount one, else the same quota injected at the file handle), writes cut
// short, ENOSPC and EIO at each step of a put, and files damaged on disk after the 250. A put
// either stores the message whole or stores nothing; a damaged file is quarantined by name and
// never holds back the others.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { spoolCommand } from '../../src/spool/cli.ts';
import { openDirSpool, type QuarantineEvent } from '../../src/spool/dir.ts';
import type { SpoolMessage } from '../../src/spool/backend.ts';
import { faultyFs, smallTmpfs, type Faults } from '../helpers/faulty-fs.ts';
import { testMessage } from './spool-backend-conformance.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'spool-faults-'));
}

function bigMessage(bytes: number): SpoolMessage {
  return testMessage({ raw: Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), randomBytes(bytes)]) });
}

/** Every message the spool would deliver, by id, with its bytes (a fresh process's view). */
async function deliverable(dir: string): Promise<Map<string, Buffer>> {
  const spool = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true });
  const leased = await spool.lease({ owner: 'check', max: 1000, leaseMs: 60_000 });
  await spool.close();
  return new Map(leased.map((l) => [l.message.id, Buffer.from(l.message.raw)]));
}

async function leftovers(dir: string): Promise<string[]> {
  return readdir(join(dir, 'tmp'));
}

test('a full volume never stores a message in part: each put is stored whole or refused with nothing kept', async () => {
  // The spool on a 1 MiB volume, SPOOL_MAX_BYTES far larger, fifteen 100 KB messages.
  const mounted = await smallTmpfs(1 << 20);
  const dir = mounted?.dir ?? (await tempDir());
  const faults: Faults = mounted ? {} : { quota: 1 << 20 };
  try {
    const spool = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true, files: faultyFs(faults) });
    const sent = new Map<string, Buffer>();
    const kinds: string[] = [];
    for (let i = 0; i < 15; i++) {
      const m = bigMessage(100_000);
      const r = await spool.put(m);
      kinds.push(r.kind);
      if (r.kind === 'stored') sent.set(m.id, Buffer.from(m.raw));
      else assert.equal(r.kind, 'no_space', `put ${i + 1} on a full volume: ${JSON.stringify(r)}`);
    }
    assert.ok(sent.size >= 5 && sent.size < 15, `some stored, then refused: ${kinds.join(' ')}`);
    assert.deepEqual(await leftovers(dir), [], 'no temp file left by a refused put');
    await spool.close();
    const got = await deliverable(dir);
    assert.deepEqual([...got.keys()].sort(), [...sent.keys()].sort(), 'exactly the stored messages are delivered');
    for (const [id, raw] of sent) assert.ok(got.get(id)?.equals(raw), `${id} is delivered whole`);
    assert.deepEqual(await readdir(join(dir, 'quarantine')).catch(() => []), [], 'nothing was damaged');
  } finally {
    if (mounted) await mounted.unmount();
    else await rm(dir, { recursive: true, force: true });
  }
});

test('writes cut short are finished, never stored in part', async () => {
  const dir = await tempDir();
  try {
    const spool = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true, files: faultyFs({ shortWrites: 4096 }) });
    const m = bigMessage(60_000);
    assert.equal((await spool.put(m)).kind, 'stored');
    await spool.close();
    assert.ok((await deliverable(dir)).get(m.id)?.equals(Buffer.from(m.raw)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ENOSPC in the middle of a write: 452 (no_space), nothing kept, the next put stores once there is room', async () => {
  const dir = await tempDir();
  try {
    const faults: Faults = { quota: 50_000 };
    const spool = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true, files: faultyFs(faults) });
    const refused = bigMessage(100_000);
    const r = await spool.put(refused);
    assert.equal(r.kind, 'no_space');
    assert.match(r.kind === 'no_space' ? r.reason : '', /ENOSPC/);
    assert.deepEqual(await leftovers(dir), []);
    assert.deepEqual(await readdir(join(dir, 'msg')), []);
    assert.equal((await spool.usage()).bytes, 0, 'a refused put counts nothing against the budget');
    delete faults.quota;
    const next = bigMessage(100_000);
    assert.equal((await spool.put(next)).kind, 'stored');
    await spool.close();
    assert.deepEqual([...(await deliverable(dir)).keys()], [next.id]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const failingSteps: { name: string; failOn: NonNullable<Faults['failOn']>; result: 'throws' | 'no_space' }[] = [
  { name: 'EIO on the fsync of the message file', failOn: { op: 'sync', nth: 1, code: 'EIO' }, result: 'throws' },
  { name: 'EIO on a write', failOn: { op: 'write', nth: 2, code: 'EIO' }, result: 'throws' },
  {
    name: 'EDQUOT creating the journal',
    failOn: { op: 'sync', nth: 1, code: 'EDQUOT', path: /\.jnl$/ },
    result: 'no_space',
  },
  {
    name: 'EIO on the fsync of msg/ after the rename',
    failOn: { op: 'sync', nth: 1, code: 'EIO', path: /msg$/ },
    result: 'throws',
  },
  { name: 'ENOSPC on the rename', failOn: { op: 'rename', nth: 1, code: 'ENOSPC' }, result: 'no_space' },
];

for (const step of failingSteps) {
  test(`${step.name}: the put is refused (${step.result === 'throws' ? '451' : '452'}) and leaves nothing to deliver`, async () => {
    const dir = await tempDir();
    try {
      const faults: Faults = {};
      const spool = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true, files: faultyFs(faults) });
      const before = testMessage();
      assert.equal((await spool.put(before)).kind, 'stored');
      faults.failOn = step.failOn;
      const m = bigMessage(20_000);
      const r = await spool.put(m).catch((err: NodeJS.ErrnoException) => err);
      if (step.result === 'throws') {
        assert.ok(r instanceof Error, `the put fails: ${JSON.stringify(r)}`);
        assert.equal((r as NodeJS.ErrnoException).code, step.failOn.code);
      } else assert.equal((r as { kind: string }).kind, 'no_space');
      assert.deepEqual(await leftovers(dir), []);
      assert.deepEqual((await readdir(join(dir, 'msg'))).sort(), [`${before.id}.jnl`, `${before.id}.msg`]);
      assert.equal((await spool.usage()).messages.queued, 1);
      await spool.close();
      assert.deepEqual([...(await deliverable(dir)).keys()], [before.id]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('a journal append cut short is finished whole', async () => {
  const dir = await tempDir();
  try {
    const faults: Faults = {};
    const spool = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true, files: faultyFs(faults) });
    const m = testMessage();
    await spool.put(m);
    const [l] = await spool.lease({ owner: 'w', max: 1, leaseMs: 10_000 });
    faults.shortWrites = 7;
    assert.equal(
      await spool.journal(l!.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-tag-1', at: 1 }),
      true,
    );
    assert.deepEqual((await spool.get(m.id))?.recipients[0]?.history[0]?.tag, 'gw-tag-1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Three messages stored; the middle one then damaged on disk by `damage`. */
async function withDamaged(
  damage: (file: string) => Promise<void>,
  check: (ctx: {
    dir: string;
    ids: string[];
    events: QuarantineEvent[];
    spool: Awaited<ReturnType<typeof openDirSpool>>;
  }) => Promise<void>,
  faults: Faults = {},
): Promise<void> {
  const dir = await tempDir();
  try {
    const first = await openDirSpool({ dir, maxBytes: 1 << 24, recover: true });
    const msgs = [bigMessage(3000), bigMessage(3000), bigMessage(3000)];
    for (const m of msgs) assert.equal((await first.put(m)).kind, 'stored');
    await first.close();
    await damage(join(dir, 'msg', `${msgs[1]!.id}.msg`));
    const events: QuarantineEvent[] = [];
    const spool = await openDirSpool({
      dir,
      maxBytes: 1 << 24,
      recover: false,
      files: faultyFs(faults),
      onQuarantine: (q) => events.push(q),
    });
    await check({ dir, ids: msgs.map((m) => m.id), events, spool });
    await spool.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function assertQuarantined(ctx: Parameters<Parameters<typeof withDamaged>[1]>[0], reason: RegExp): Promise<void> {
  const { dir, ids, events, spool } = ctx;
  const bad = ids[1]!;
  // The two intact messages are leased in the same call: the bad one holds nothing back.
  const leased = await spool.lease({ owner: 'w', max: 10, leaseMs: 60_000 });
  assert.deepEqual(leased.map((l) => l.message.id).sort(), [ids[0], ids[2]].sort());
  assert.equal(events.length, 1, 'reported once');
  assert.equal(events[0]?.id, bad);
  assert.equal(events[0]?.moved, true);
  assert.match(events[0]?.reason ?? '', reason);
  assert.deepEqual(
    (await readdir(join(dir, 'quarantine'))).sort(),
    [`${bad}.jnl`, `${bad}.msg`, `${bad}.reason.json`].sort(),
  );
  const listed = await spool.list();
  assert.deepEqual(listed.map((e) => e.id).sort(), [ids[0], ids[2]].sort(), 'listing works and skips nothing else');
  assert.equal(await spool.get(bad), null);
  const q = await spool.quarantined();
  assert.equal(q.length, 1);
  assert.equal(q[0]?.id, bad);
  assert.match(q[0]?.reason ?? '', reason);
  assert.equal((await spool.usage()).quarantined, 1);
}

test('a truncated message file is quarantined by name at start, and the others are delivered', async () => {
  await withDamaged(
    async (file) => {
      const buf = await readFile(file);
      await writeFile(file, buf.subarray(0, buf.length - 1000));
    },
    (ctx) => assertQuarantined(ctx, /truncated/),
  );
});

test('a flipped byte in a message file is caught by the checksum and quarantined', async () => {
  await withDamaged(
    async (file) => {
      const buf = await readFile(file);
      buf[buf.length - 10] = buf[buf.length - 10]! ^ 0x01;
      await writeFile(file, buf);
    },
    (ctx) => assertQuarantined(ctx, /checksum mismatch/),
  );
});

test('a flipped byte in a header (a recipient address) is caught too, never delivered changed', async () => {
  await withDamaged(
    async (file) => {
      const text = (await readFile(file)).toString('latin1');
      await writeFile(file, Buffer.from(text.replace('a@example.org', 'a@examplf.org'), 'latin1'));
    },
    (ctx) => assertQuarantined(ctx, /checksum mismatch/),
  );
});

test('a message file that fails to read (EIO) is quarantined, and the lease and the listing go on', async () => {
  const faults: Faults = {};
  await withDamaged(
    async () => undefined,
    async (ctx) => {
      faults.failOn = { op: 'readFile', nth: 1, code: 'EIO', path: new RegExp(`${ctx.ids[1]}\\.msg$`) };
      await ctx.spool.list().catch(() => assert.fail('listing must not fail on one bad file'));
      faults.failOn = undefined;
      await assertQuarantined(ctx, /unreadable: EIO/);
    },
    faults,
  );
});

test('a message written before the check line existed is still read (length-checked)', async () => {
  const dir = await tempDir();
  try {
    await openDirSpool({ dir, maxBytes: 1 << 20, recover: true }).then((s) => s.close());
    const raw = Buffer.from('Subject: old\r\n\r\nbody\r\n');
    const head = {
      v: 1,
      id: 'old-1',
      receivedAt: Date.now(),
      envelopeFrom: 's@example.com',
      recipients: ['a@example.org'],
      credential: 'c',
      sessionId: 's',
      rawBytes: raw.length,
    };
    await writeFile(join(dir, 'msg', 'old-1.msg'), Buffer.concat([Buffer.from(JSON.stringify(head) + '\n'), raw]));
    await writeFile(join(dir, 'msg', 'old-1.jnl'), '');
    assert.ok((await deliverable(dir)).get('old-1')?.equals(raw));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('spool list --quarantined names each damaged message and why; the plain listing goes on without it', async () => {
  const dir = await tempDir();
  try {
    const first = await openDirSpool({ dir, maxBytes: 1 << 24, recover: true });
    const good = testMessage();
    const bad = testMessage();
    await first.put(good);
    await first.put(bad);
    await first.close();
    const file = join(dir, 'msg', `${bad.id}.msg`);
    const buf = await readFile(file);
    await writeFile(file, buf.subarray(0, buf.length - 5));
    const cfg = loadConfig({ DELIVERY_MODE: 'spool', SPOOL_DIR: dir });
    assert.ok(cfg.ok);
    const io = {
      outText: '',
      errText: '',
      out: (t: string) => void (io.outText += t),
      err: (t: string) => void (io.errText += t),
    };
    assert.equal(await spoolCommand(cfg.config, ['list'], io), 0);
    assert.match(io.outText, new RegExp(good.id));
    assert.doesNotMatch(io.outText, new RegExp(bad.id));
    assert.match(io.errText, new RegExp(`spool message ${bad.id} is damaged \\(truncated.*\\): moved to quarantine`));
    io.outText = '';
    assert.equal(await spoolCommand(cfg.config, ['list', '--quarantined', '--json'], io), 0);
    const q = JSON.parse(io.outText) as { id: string; reason: string; location: string }[];
    assert.deepEqual(
      q.map((e) => e.id),
      [bad.id],
    );
    assert.match(q[0]!.reason, /truncated/);
    assert.equal(q[0]!.location, join(dir, 'quarantine', `${bad.id}.msg`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('too little free space on the volume: 452 (no_space) before anything is written, whatever SPOOL_MAX_BYTES says', async () => {
  const dir = await tempDir();
  try {
    const faults: Faults = { freeBytes: 150_000 };
    const fsWithFaults = faultyFs(faults);
    const spool = await openDirSpool({ dir, maxBytes: 1 << 30, recover: true, files: fsWithFaults });
    const small = bigMessage(20_000);
    assert.equal((await spool.put(small)).kind, 'stored', 'room for this one, its margin included');
    const writesBefore = fsWithFaults.calls.write;
    const big = bigMessage(100_000);
    const r = await spool.put(big);
    assert.equal(r.kind, 'no_space');
    assert.match(r.kind === 'no_space' ? r.reason : '', /has \d+ bytes free, \d+ needed to store the message whole/);
    assert.equal(fsWithFaults.calls.write, writesBefore, 'nothing was written for it');
    assert.deepEqual(await leftovers(dir), []);
    faults.freeBytes = undefined;
    assert.equal((await spool.put(big)).kind, 'stored', 'accepted again once there is room');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
