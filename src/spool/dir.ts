// The local-directory spool backend (docs/architecture.md#spool-mode). Layout under SPOOL_DIR:
//   msg/<id>.msg   one JSON header line, then the DATA bytes; written once, never changed
//   msg/<id>.jnl   the message's journal (journal.ts): appended with an fsync per record
//   tmp/           files being written; whatever is left here at start was never answered 250
//   .changed       touched by an admin tool in another process, so the gateway rereads the spool
// A message is stored by writing tmp/<id>.msg, fsync, creating its empty journal, renaming the
// message into msg/, then fsyncing msg/: only then does `put` resolve (and the client get 250).
// One gateway process per directory (config refuses WORKERS > 1 with it); admin tools in other
// processes change only journals (O_APPEND records) and remove files, both atomic.
import { randomUUID } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  isSpoolId,
  type JournalRecord,
  type Lease,
  type LeaseRequest,
  type LeasedMessage,
  type ListFilter,
  type PutResult,
  type RetryTarget,
  type SettleResult,
  type Settlement,
  type SpoolBackend,
  type SpoolEntry,
  type SpoolMessage,
  type SpoolState,
  type SpoolUsage,
} from './backend.ts';
import { DueQueue } from './due-queue.ts';
import { encodeRecord, entryOf, foldJournal, messageState, type FoldedState, type StoredRecord } from './journal.ts';

export interface DirSpoolOptions {
  dir: string;
  maxBytes: number;
  /**
   * The owning gateway at start: remove what a crash left half-written. Never for an admin tool
   * opening the spool of a running gateway, whose puts under way would look exactly like that.
   */
  recover?: boolean;
  now?: () => number;
}

interface Header {
  v: 1;
  id: string;
  receivedAt: number;
  envelopeFrom: string;
  recipients: string[];
  credential: string;
  sessionId: string;
  rawBytes: number;
}

/** What the running process knows of each message without reading it. */
interface IndexEntry {
  bytes: number;
  receivedAt: number;
  /** From the header, so a settle folds the journal without reading the message again. */
  recipients: string[];
  state: SpoolState;
  nextAttemptAt: number;
  lease: Lease | null;
}

export async function openDirSpool(opts: DirSpoolOptions): Promise<DirSpool> {
  const spool = new DirSpool(opts);
  await spool.open();
  return spool;
}

export class DirSpool implements SpoolBackend {
  readonly #dir: string;
  readonly #msgDir: string;
  readonly #tmpDir: string;
  readonly #changedFile: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #recover: boolean;
  readonly #index = new Map<string, IndexEntry>();
  /** When each queued or retrying message may next be leased (kept by #set, #delete, #schedule). */
  readonly #due = new DueQueue();
  /** The sum of the index's bytes, kept by #set and #delete (a put must not add up the index). */
  #bytes = 0;
  /** Bytes of puts under way: counted against the budget before they land. */
  #reserved = 0;
  #changedMtime = 0;
  #rescanning: Promise<void> | null = null;

  constructor(opts: DirSpoolOptions) {
    this.#dir = opts.dir;
    this.#msgDir = join(opts.dir, 'msg');
    this.#tmpDir = join(opts.dir, 'tmp');
    this.#changedFile = join(opts.dir, '.changed');
    this.#maxBytes = opts.maxBytes;
    this.#now = opts.now ?? Date.now;
    this.#recover = opts.recover ?? false;
  }

  /** Creates the layout, removes what a crash left half-written, and reads every message. */
  async open(): Promise<void> {
    await fs.mkdir(this.#msgDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.#tmpDir, { recursive: true, mode: 0o700 });
    // Never answered 250: a crash between the temp write and the rename.
    if (this.#recover)
      for (const name of await fs.readdir(this.#tmpDir)) await fs.rm(join(this.#tmpDir, name), { force: true });
    this.#changedMtime = await this.#changedStamp();
    await this.#scan(this.#recover);
  }

  async put(m: SpoolMessage): Promise<PutResult> {
    if (!isSpoolId(m.id)) throw new Error(`invalid spool id ${JSON.stringify(m.id)}`);
    const header: Header = {
      v: 1,
      id: m.id,
      receivedAt: m.receivedAt,
      envelopeFrom: m.envelopeFrom,
      recipients: [...m.recipients],
      credential: m.credential,
      sessionId: m.sessionId,
      rawBytes: m.raw.length,
    };
    const head = Buffer.from(JSON.stringify(header) + '\n');
    const bytes = head.length + m.raw.length;
    const used = this.#bytes;
    if (used + this.#reserved + bytes > this.#maxBytes)
      return { kind: 'full', bytes, usedBytes: used + this.#reserved, maxBytes: this.#maxBytes };
    this.#reserved += bytes;
    const tmp = join(this.#tmpDir, `${m.id}.msg`);
    try {
      await writeDurably(tmp, [head, m.raw]);
      // The journal exists before the message does, so an append never has to create it
      // (appends open without O_CREAT: a dropped message's journal is never recreated).
      await writeDurably(this.#jnl(m.id), []);
      await fs.rename(tmp, this.#msg(m.id));
      await fsyncDir(this.#msgDir);
      this.#set(m.id, {
        bytes,
        receivedAt: m.receivedAt,
        recipients: header.recipients,
        state: 'queued',
        nextAttemptAt: m.receivedAt,
        lease: null,
      });
      return { kind: 'stored', bytes };
    } catch (err) {
      await fs.rm(tmp, { force: true });
      await fs.rm(this.#jnl(m.id), { force: true });
      throw err;
    } finally {
      this.#reserved -= bytes;
    }
  }

  async lease(req: LeaseRequest): Promise<LeasedMessage[]> {
    await this.#refreshIfChanged();
    const now = req.now ?? this.#now();
    // Stale nodes (messages removed, or rescheduled earlier) are skipped as they surface; past
    // twice the index they are dropped in one rebuild.
    if (this.#due.nodes > 2 * this.#index.size + 64) this.#rebuildDue();
    const due: [string, IndexEntry][] = [];
    while (due.length < req.max) {
      const id = this.#due.popDue(now);
      if (id === undefined) break;
      const e = this.#index.get(id);
      if (!e) continue;
      const at = leasableAt(e);
      if (at === null) continue;
      if (at > now) this.#due.schedule(id, at);
      else due.push([id, e]);
    }
    // Leased, and leasable again once the lease lapses unsettled, before anything is awaited:
    // these are off the queue now, and a read that throws must not leave any of them off it.
    const leases = due.map(([id, e]): [string, Lease] => {
      e.lease = { id, owner: req.owner, token: randomUUID(), expiresAt: now + req.leaseMs };
      this.#schedule(id, e);
      return [id, e.lease];
    });
    const out: LeasedMessage[] = [];
    for (const [id, lease] of leases) {
      const read = await this.#read(id);
      if (!read) {
        this.#delete(id);
        continue;
      }
      const { header, raw, folded } = read;
      out.push({
        lease,
        message: {
          id,
          receivedAt: header.receivedAt,
          envelopeFrom: header.envelopeFrom,
          recipients: header.recipients,
          raw,
          credential: header.credential,
          sessionId: header.sessionId,
        },
        recipients: folded.recipients.map(({ history: _h, ...r }) => r),
        ageFrom: folded.ageFrom,
      });
    }
    return out;
  }

  async journal(lease: Lease, record: JournalRecord): Promise<boolean> {
    // Fenced like settle: a holder whose lease lapsed and was taken over writes nothing (its
    // open attempt, if any, is the new holder's to reconcile).
    if (this.#index.get(lease.id)?.lease?.token !== lease.token) return false;
    return this.#append(lease.id, record);
  }

  async settle(lease: Lease, s: Settlement): Promise<SettleResult> {
    const e = this.#index.get(lease.id);
    if (!e) return { kind: 'gone' };
    if (e.lease?.token !== lease.token) return { kind: 'lost' };
    const ok = await this.#append(lease.id, {
      type: 'settle',
      at: this.#now(),
      recipients: [...s.recipients],
      nextAttemptAt: s.nextAttemptAt,
    });
    if (!ok) {
      this.#delete(lease.id);
      return { kind: 'gone' };
    }
    const text = await fs.readFile(this.#jnl(lease.id), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (text === null) {
      this.#delete(lease.id);
      return { kind: 'gone' };
    }
    const folded = foldJournal(e, text);
    const state = messageState(folded.recipients);
    if (state === 'delivered') {
      await this.#remove(lease.id);
      return { kind: 'removed' };
    }
    e.lease = null;
    e.state = state;
    e.nextAttemptAt = folded.nextAttemptAt;
    this.#schedule(lease.id, e);
    return state === 'dead' ? { kind: 'dead' } : { kind: 'rescheduled' };
  }

  async list(filter: ListFilter = {}): Promise<SpoolEntry[]> {
    await this.#refreshIfChanged();
    const ids = [...this.#index.entries()]
      .sort((a, b) => a[1].receivedAt - b[1].receivedAt || (a[0] < b[0] ? -1 : 1))
      .map(([id]) => id);
    const out: SpoolEntry[] = [];
    for (const id of ids) {
      const entry = await this.get(id);
      if (!entry) continue;
      if (filter.dead === true && entry.state !== 'dead') continue;
      if (filter.dead === false && entry.state === 'dead') continue;
      out.push(entry);
    }
    return out;
  }

  async get(id: string): Promise<SpoolEntry | null> {
    if (!isSpoolId(id)) return null;
    const read = await this.#read(id);
    if (!read) return null;
    return entryOf(
      { id, receivedAt: read.header.receivedAt, envelopeFrom: read.header.envelopeFrom },
      read.bytes,
      read.folded,
    );
  }

  async retry(target: RetryTarget): Promise<string[]> {
    await this.#refreshIfChanged();
    const ids =
      'id' in target
        ? isSpoolId(target.id) && this.#index.has(target.id)
          ? [target.id]
          : []
        : [...this.#index.entries()].filter(([, e]) => e.state === 'dead').map(([id]) => id);
    const done: string[] = [];
    const at = this.#now();
    for (const id of ids) {
      const read = await this.#read(id);
      if (!read) continue;
      const state = messageState(read.folded.recipients);
      if (state === 'delivered') continue;
      if (!(await this.#append(id, { type: 'retry', at }))) continue;
      const e = this.#index.get(id);
      if (e) {
        e.state = messageState(foldJournal(read.header, read.text + encodeRecord({ type: 'retry', at })).recipients);
        e.nextAttemptAt = at;
        this.#schedule(id, e);
      }
      done.push(id);
    }
    if (done.length > 0) await this.#touchChanged();
    return done;
  }

  async drop(id: string): Promise<boolean> {
    if (!isSpoolId(id)) return false;
    const existed = await fs.rm(this.#msg(id)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    await fs.rm(this.#jnl(id), { force: true });
    await fsyncDir(this.#msgDir);
    this.#delete(id);
    if (existed) await this.#touchChanged();
    return existed;
  }

  async usage(): Promise<SpoolUsage> {
    await this.#refreshIfChanged();
    const messages = { queued: 0, retrying: 0, dead: 0 };
    let oldest: number | null = null;
    for (const e of this.#index.values()) {
      if (e.state === 'delivered') continue;
      messages[e.state]++;
      if (e.state !== 'dead' && (oldest === null || e.receivedAt < oldest)) oldest = e.receivedAt;
    }
    return { bytes: this.#bytes, messages, oldestReceivedAt: oldest };
  }

  async close(): Promise<void> {
    await this.#rescanning;
  }

  #set(id: string, e: IndexEntry): void {
    this.#bytes += e.bytes - (this.#index.get(id)?.bytes ?? 0);
    this.#index.set(id, e);
    this.#schedule(id, e);
  }

  #delete(id: string): void {
    this.#bytes -= this.#index.get(id)?.bytes ?? 0;
    this.#index.delete(id);
    this.#due.forget(id);
  }

  /** After a change that may make the message leasable sooner: a put, a settle, a retry, a lease. */
  #schedule(id: string, e: IndexEntry): void {
    const at = leasableAt(e);
    if (at !== null) this.#due.schedule(id, at);
  }

  #rebuildDue(): void {
    this.#due.clear();
    for (const [id, e] of this.#index) this.#schedule(id, e);
  }

  #msg(id: string): string {
    return join(this.#msgDir, `${id}.msg`);
  }

  #jnl(id: string): string {
    return join(this.#msgDir, `${id}.jnl`);
  }

  /** One durable record; false when the message is gone (dropped under us). */
  async #append(id: string, record: StoredRecord): Promise<boolean> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.#jnl(id), constants.O_WRONLY | constants.O_APPEND);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // No journal: the message was dropped (it goes first), or its journal was lost.
      if (!(await exists(this.#msg(id)))) return false;
      fh = await fs.open(this.#jnl(id), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    }
    try {
      await fh.write(encodeRecord(record));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    return true;
  }

  /** The message, its journal folded; null when it is gone. */
  async #read(
    id: string,
  ): Promise<{ header: Header; raw: Buffer; folded: FoldedState; text: string; bytes: number } | null> {
    let buf: Buffer;
    try {
      buf = await fs.readFile(this.#msg(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // The message is what was answered 250: without its journal (which cannot happen short of a
    // filesystem that lost a created file) it is still delivered, as never attempted.
    const text = await fs.readFile(this.#jnl(id), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    const nl = buf.indexOf(0x0a);
    const header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Header;
    const raw = buf.subarray(nl + 1);
    if (raw.length !== header.rawBytes)
      throw new Error(`spool message ${id} is truncated (${raw.length} of ${header.rawBytes} bytes)`);
    return { header, raw, folded: foldJournal(header, text), text, bytes: buf.length };
  }

  async #remove(id: string): Promise<void> {
    await fs.rm(this.#msg(id), { force: true });
    await fs.rm(this.#jnl(id), { force: true });
    await fsyncDir(this.#msgDir);
    this.#delete(id);
  }

  /** Rebuilds the index from disk; leases held by this process are kept. */
  async #scan(recover: boolean): Promise<void> {
    const names = await fs.readdir(this.#msgDir);
    const msgs = new Set(names.filter((n) => n.endsWith('.msg')).map((n) => n.slice(0, -4)));
    // Only entries known when the scan began may be forgotten: a put that lands during the scan
    // (its message file read while the scan runs) is in the index and must stay there.
    const known = new Set(this.#index.keys());
    const seen = new Set<string>();
    for (const id of msgs) {
      const before = this.#index.get(id);
      const was = before && { state: before.state, nextAttemptAt: before.nextAttemptAt, lease: before.lease };
      const read = await this.#read(id).catch(() => null);
      if (!read) continue;
      seen.add(id);
      // A put, lease, settle, retry or removal while the files were read: the index is newer
      // than what was read, and must not be overwritten with it.
      const current = this.#index.get(id);
      if (
        current !== before ||
        (current &&
          was &&
          (current.state !== was.state || current.nextAttemptAt !== was.nextAttemptAt || current.lease !== was.lease))
      )
        continue;
      const state = messageState(read.folded.recipients);
      if (state === 'delivered') {
        // Settled delivered, then the crash came before the files were removed.
        if (recover) await this.#remove(id);
        continue;
      }
      const lease = this.#index.get(id)?.lease ?? null;
      this.#set(id, {
        bytes: read.bytes,
        receivedAt: read.header.receivedAt,
        recipients: read.header.recipients,
        state,
        nextAttemptAt: read.folded.nextAttemptAt,
        lease,
      });
    }
    for (const id of known) if (!seen.has(id)) this.#delete(id);
    if (recover) {
      // A journal without its message: a put that crashed before the rename, or a drop after it.
      for (const n of names)
        if (n.endsWith('.jnl') && !msgs.has(n.slice(0, -4))) await fs.rm(join(this.#msgDir, n), { force: true });
    }
  }

  async #refreshIfChanged(): Promise<void> {
    if (this.#rescanning) return this.#rescanning;
    const stamp = await this.#changedStamp();
    if (stamp === this.#changedMtime) return;
    this.#changedMtime = stamp;
    this.#rescanning = this.#scan(false).finally(() => (this.#rescanning = null));
    return this.#rescanning;
  }

  async #changedStamp(): Promise<number> {
    return fs.stat(this.#changedFile).then(
      (s) => s.mtimeMs + s.size,
      () => 0,
    );
  }

  /** Tells a gateway on the same directory that an admin tool changed something. */
  async #touchChanged(): Promise<void> {
    // Appending changes size as well as mtime: two touches in one mtime tick still differ.
    await fs.appendFile(this.#changedFile, '.');
    const s = await fs.stat(this.#changedFile);
    if (s.size > 4096) await fs.writeFile(this.#changedFile, '');
    this.#changedMtime = await this.#changedStamp();
  }
}

/** When a message may next be leased: queued or retrying, its next attempt due, and no lease held (or the lease lapsed); null when never (dead). */
function leasableAt(e: IndexEntry): number | null {
  if (e.state !== 'queued' && e.state !== 'retrying') return null;
  return e.lease ? Math.max(e.nextAttemptAt, e.lease.expiresAt) : e.nextAttemptAt;
}

async function writeDurably(path: string, chunks: Uint8Array[]): Promise<void> {
  const fh = await fs.open(path, 'w', 0o600);
  try {
    for (const c of chunks) await fh.write(c);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return fs.access(path).then(
    () => true,
    () => false,
  );
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
