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
import { constants, type promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  isSpoolId,
  type JournalRecord,
  type Lease,
  type LeaseRequest,
  type LeasedMessage,
  type KeyIdCounts,
  type ListFilter,
  type PutResult,
  type QuarantinedEntry,
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
import {
  APPEND_FLAGS,
  appendDurably,
  exists,
  fsyncDir,
  isNoSpace,
  realFs,
  writeDurably,
  type SpoolFs,
} from './durable-file.ts';
import { sealedKeyId } from './seal.ts';
import { decodeStored, encodeStored, type StoredHeader } from './stored-message.ts';
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
  /** The file-system calls (node's own by default; the fault-injection tests pass a faulty one). */
  files?: SpoolFs;
  /** Told when a message file could not be read or verified and was moved to quarantine/. */
  onQuarantine?: (q: QuarantineEvent) => void;
}

/** A damaged message taken out of delivery (docs/runbooks/SmtpGatewaySpoolQuarantined.md). */
export interface QuarantineEvent {
  id: string;
  reason: string;
  /** false when the move itself failed: the file stays in msg/ and is out of the index. */
  moved: boolean;
  error?: string;
}

interface ReadMessage {
  header: Header;
  raw: Buffer;
  folded: FoldedState;
  text: string;
  bytes: number;
}

type Header = StoredHeader;

/** What the running process knows of each message without reading it. */
interface IndexEntry {
  bytes: number;
  receivedAt: number;
  /** From the header, so a settle folds the journal without reading the message again. */
  recipients: string[];
  state: SpoolState;
  nextAttemptAt: number;
  lease: Lease | null;
  /** The fingerprint of the key its login is sealed with (null: sealed before fingerprints). */
  keyId: string | null;
}

/** Free space kept beyond a message: journal records of messages in delivery, directory entries. */
const DISK_MARGIN = 64 * 1024;

export async function openDirSpool(opts: DirSpoolOptions): Promise<DirSpool> {
  const spool = new DirSpool(opts);
  await spool.open();
  return spool;
}

export class DirSpool implements SpoolBackend {
  readonly #dir: string;
  readonly #msgDir: string;
  readonly #tmpDir: string;
  readonly #quarantineDir: string;
  readonly #onQuarantine: ((q: QuarantineEvent) => void) | undefined;
  readonly #changedFile: string;
  readonly #metaFile: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #recover: boolean;
  readonly #fs: SpoolFs;
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
    this.#quarantineDir = join(opts.dir, 'quarantine');
    this.#onQuarantine = opts.onQuarantine;
    this.#changedFile = join(opts.dir, '.changed');
    this.#metaFile = join(opts.dir, 'spool.meta.json');
    this.#maxBytes = opts.maxBytes;
    this.#now = opts.now ?? Date.now;
    this.#recover = opts.recover ?? false;
    this.#fs = opts.files ?? realFs;
  }

  /** Creates the layout, removes what a crash left half-written, and reads every message. */
  async open(): Promise<void> {
    await this.#fs.mkdir(this.#msgDir, { recursive: true, mode: 0o700 });
    await this.#fs.mkdir(this.#tmpDir, { recursive: true, mode: 0o700 });
    // Never answered 250: a crash between the temp write and the rename.
    if (this.#recover)
      for (const name of await this.#fs.readdir(this.#tmpDir))
        await this.#fs.rm(join(this.#tmpDir, name), { force: true });
    this.#changedMtime = await this.#changedStamp();
    await this.#scan(this.#recover);
  }

  async put(m: SpoolMessage): Promise<PutResult> {
    if (!isSpoolId(m.id)) throw new Error(`invalid spool id ${JSON.stringify(m.id)}`);
    const header: Header = {
      v: 2,
      id: m.id,
      receivedAt: m.receivedAt,
      envelopeFrom: m.envelopeFrom,
      recipients: [...m.recipients],
      credential: m.credential,
      sessionId: m.sessionId,
      rawBytes: m.raw.length,
      ...(m.notBefore !== undefined ? { notBefore: m.notBefore } : {}),
    };
    const { chunks, digest } = encodeStored(header, m.raw);
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    const used = this.#bytes;
    if (used + this.#reserved + bytes > this.#maxBytes)
      return { kind: 'full', bytes, usedBytes: used + this.#reserved, maxBytes: this.#maxBytes };
    const short = await this.#diskShortfall(bytes);
    if (short !== null) return { kind: 'no_space', bytes, reason: short };
    this.#reserved += bytes;
    try {
      const stored = await this.#store(m.id, chunks, digest);
      if (stored !== null) return { kind: 'no_space', bytes, reason: stored };
      this.#set(m.id, {
        bytes,
        receivedAt: m.receivedAt,
        recipients: header.recipients,
        state: 'queued',
        nextAttemptAt: m.notBefore ?? m.receivedAt,
        lease: null,
        keyId: sealedKeyId(m.credential),
      });
      return { kind: 'stored', bytes };
    } finally {
      this.#reserved -= bytes;
    }
  }

  /**
   * Why the spool's file system cannot take `bytes` more whole (beside the puts under way, and a
   * margin for the journals of messages in delivery); null when it can. A put is refused before
   * any write rather than by the write failing half-way. statfs unsupported: null (the checked
   * writes still catch a full disk).
   */
  async #diskShortfall(bytes: number): Promise<string | null> {
    const st = await this.#fs.statfs(this.#dir).catch(() => null);
    if (!st) return null;
    const free = st.bavail * st.bsize;
    const need = bytes + this.#reserved + DISK_MARGIN;
    return free < need
      ? `the spool's file system has ${free} bytes free, ${need} needed to store the message whole`
      : null;
  }

  /**
   * Writes the message whole into tmp/, reads it back and verifies it, creates its journal, renames
   * it into msg/ and syncs msg/. Null when stored; the error's text when the disk (or quota) is
   * full. Any failure removes every file of the put; errors other than ENOSPC/EDQUOT are thrown.
   */
  async #store(id: string, chunks: Uint8Array[], digest: string): Promise<string | null> {
    const tmp = join(this.#tmpDir, `${id}.msg`);
    let renamed = false;
    try {
      await writeDurably(this.#fs, tmp, chunks);
      await this.#verifyWritten(id, tmp, digest);
      // The journal exists before the message does, so an append never has to create it
      // (appends open without O_CREAT: a dropped message's journal is never recreated).
      await writeDurably(this.#fs, this.#jnl(id), []);
      await this.#fs.rename(tmp, this.#msg(id));
      renamed = true;
      await fsyncDir(this.#fs, this.#msgDir);
      return null;
    } catch (err) {
      await this.#undoPut(id, tmp, renamed);
      if (isNoSpace(err)) return (err as Error).message;
      throw err;
    }
  }

  /** The temp file read back is the message whole (length and checksum): only then is it renamed. */
  async #verifyWritten(id: string, tmp: string, digest: string): Promise<void> {
    const back = decodeStored(id, await this.#fs.readFile(tmp));
    if (!back.ok) throw new Error(`spool message ${id} read back damaged before the rename: ${back.reason}`);
    if (back.digest !== digest)
      throw new Error(`spool message ${id} read back with another checksum before the rename`);
  }

  /** A failed put leaves nothing: not the temp file, not the journal, not a renamed message. */
  async #undoPut(id: string, tmp: string, renamed: boolean): Promise<void> {
    const rm = (path: string) => this.#fs.rm(path, { force: true }).catch(() => undefined);
    await rm(tmp);
    if (renamed) await rm(this.#msg(id));
    await rm(this.#jnl(id));
    if (renamed) await fsyncDir(this.#fs, this.#msgDir).catch(() => undefined);
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
          ...(header.notBefore !== undefined ? { notBefore: header.notBefore } : {}),
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
    const text = await this.#fs.readFile(this.#jnl(lease.id), 'utf8').catch((err: NodeJS.ErrnoException) => {
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
    const existed = await this.#fs.rm(this.#msg(id)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    await this.#fs.rm(this.#jnl(id), { force: true });
    await fsyncDir(this.#fs, this.#msgDir);
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
    const quarantined = (await this.#quarantineNames()).length;
    return { bytes: this.#bytes, quarantined, messages, oldestReceivedAt: oldest };
  }

  async keyIds(): Promise<KeyIdCounts> {
    await this.#refreshIfChanged();
    const byKey = new Map<string, number>();
    let legacy = 0;
    for (const e of this.#index.values()) {
      if (e.keyId === null) legacy++;
      else byKey.set(e.keyId, (byKey.get(e.keyId) ?? 0) + 1);
    }
    return { byKey, legacy };
  }

  async keyMeta(): Promise<string | null> {
    const text = await this.#fs.readFile(this.#metaFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (text === null) return null;
    const meta = JSON.parse(text) as { key_fingerprint?: unknown };
    return typeof meta.key_fingerprint === 'string' ? meta.key_fingerprint : null;
  }

  async setKeyMeta(fingerprint: string): Promise<void> {
    // Written whole beside, then renamed over: a crash leaves the old record or the new one.
    const tmp = join(this.#tmpDir, 'spool.meta.json');
    await writeDurably(this.#fs, tmp, [Buffer.from(JSON.stringify({ key_fingerprint: fingerprint }) + '\n')]);
    await this.#fs.rename(tmp, this.#metaFile);
    await fsyncDir(this.#fs, this.#dir);
  }

  async quarantined(): Promise<QuarantinedEntry[]> {
    const out: QuarantinedEntry[] = [];
    for (const id of await this.#quarantineNames()) {
      const location = join(this.#quarantineDir, `${id}.msg`);
      const bytes = await this.#fs.stat(location).then(
        (st) => st.size,
        () => 0,
      );
      const note = await this.#fs
        .readFile(join(this.#quarantineDir, `${id}.reason.json`), 'utf8')
        .then((t) => JSON.parse(t) as { reason?: unknown; quarantined_at?: unknown })
        .catch(() => null);
      out.push({
        id,
        reason: typeof note?.reason === 'string' ? note.reason : 'unknown (its note is missing or unreadable)',
        quarantined_at: typeof note?.quarantined_at === 'string' ? note.quarantined_at : null,
        location,
        bytes,
      });
    }
    return out.sort((a, b) => (a.quarantined_at ?? '').localeCompare(b.quarantined_at ?? '') || (a.id < b.id ? -1 : 1));
  }

  async #quarantineNames(): Promise<string[]> {
    const names = await this.#fs.readdir(this.#quarantineDir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.msg')).map((n) => n.slice(0, -4));
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
      fh = await this.#fs.open(this.#jnl(id), APPEND_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // No journal: the message was dropped (it goes first), or its journal was lost.
      if (!(await exists(this.#fs, this.#msg(id)))) return false;
      fh = await this.#fs.open(this.#jnl(id), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    }
    try {
      await appendDurably(fh, Buffer.from(encodeRecord(record)));
    } finally {
      await fh.close();
    }
    return true;
  }

  /**
   * The message verified (length and checksum) and its journal folded; null when it is gone, or
   * was damaged and has just been moved to quarantine/ (never thrown: one bad file must not fail
   * a lease, a listing or a scan for the others).
   */
  async #read(id: string): Promise<ReadMessage | null> {
    let buf: Buffer;
    let text: string;
    try {
      buf = await this.#fs.readFile(this.#msg(id));
      // The message is what was answered 250: without its journal (which cannot happen short of a
      // filesystem that lost a created file) it is still delivered, as never attempted.
      text = await this.#fs.readFile(this.#jnl(id), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      await this.#quarantine(id, `unreadable: ${(err as Error).message}`);
      return null;
    }
    const d = decodeStored(id, buf);
    if (!d.ok) {
      await this.#quarantine(id, d.reason);
      return null;
    }
    return { header: d.header, raw: d.raw, folded: foldJournal(d.header, text), text, bytes: buf.length };
  }

  /**
   * Moves a message that cannot be read or verified out of msg/ into quarantine/ (its journal and
   * a note of why beside it), off the index, and tells the owner (error log line, metric). It is
   * never delivered changed and never skipped without a word; `spool list --quarantined` shows it.
   */
  async #quarantine(id: string, reason: string): Promise<void> {
    this.#delete(id);
    const at = this.#now();
    let moved: boolean;
    try {
      await this.#fs.mkdir(this.#quarantineDir, { recursive: true, mode: 0o700 });
      await writeDurably(this.#fs, join(this.#quarantineDir, `${id}.reason.json`), [
        Buffer.from(JSON.stringify({ id, reason, quarantined_at: new Date(at).toISOString() }) + '\n'),
      ]).catch(() => undefined);
      moved = await this.#fs.rename(this.#msg(id), join(this.#quarantineDir, `${id}.msg`)).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return false;
          throw err;
        },
      );
      await this.#fs.rename(this.#jnl(id), join(this.#quarantineDir, `${id}.jnl`)).catch(() => undefined);
      await fsyncDir(this.#fs, this.#quarantineDir);
      await fsyncDir(this.#fs, this.#msgDir);
    } catch (err) {
      // Left in msg/ (the disk refused the move): reported all the same, and read again next scan.
      this.#onQuarantine?.({ id, reason, moved: false, error: (err as Error).message });
      return;
    }
    // Another process (the gateway, an admin command) moved it first: it reported it.
    if (!moved) return;
    this.#onQuarantine?.({ id, reason, moved: true });
    await this.#touchChanged().catch(() => undefined);
  }

  async #remove(id: string): Promise<void> {
    await this.#fs.rm(this.#msg(id), { force: true });
    await this.#fs.rm(this.#jnl(id), { force: true });
    await fsyncDir(this.#fs, this.#msgDir);
    this.#delete(id);
  }

  /** Rebuilds the index from disk; leases held by this process are kept. */
  async #scan(recover: boolean): Promise<void> {
    const names = await this.#fs.readdir(this.#msgDir);
    const msgs = new Set(names.filter((n) => n.endsWith('.msg')).map((n) => n.slice(0, -4)));
    // Only entries known when the scan began may be forgotten: a put that lands during the scan
    // (its message file read while the scan runs) is in the index and must stay there.
    const known = new Set(this.#index.keys());
    const seen = new Set<string>();
    for (const id of msgs) {
      const before = this.#index.get(id);
      const was = before && { state: before.state, nextAttemptAt: before.nextAttemptAt, lease: before.lease };
      const read = await this.#read(id);
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
        keyId: sealedKeyId(read.header.credential),
      });
    }
    for (const id of known) if (!seen.has(id)) this.#delete(id);
    if (recover) {
      // A journal without its message: a put that crashed before the rename, or a drop after it.
      for (const n of names)
        if (n.endsWith('.jnl') && !msgs.has(n.slice(0, -4))) await this.#fs.rm(join(this.#msgDir, n), { force: true });
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
    return this.#fs.stat(this.#changedFile).then(
      (s) => s.mtimeMs + s.size,
      () => 0,
    );
  }

  /** Tells a gateway on the same directory that an admin tool changed something. */
  async #touchChanged(): Promise<void> {
    // Appending changes size as well as mtime: two touches in one mtime tick still differ.
    await this.#fs.appendFile(this.#changedFile, '.');
    const s = await this.#fs.stat(this.#changedFile);
    if (s.size > 4096) await this.#fs.writeFile(this.#changedFile, '');
    this.#changedMtime = await this.#changedStamp();
  }
}

/** When a message may next be leased: queued or retrying, its next attempt due, and no lease held (or the lease lapsed); null when never (dead). */
function leasableAt(e: IndexEntry): number | null {
  if (e.state !== 'queued' && e.state !== 'retrying') return null;
  return e.lease ? Math.max(e.nextAttemptAt, e.lease.expiresAt) : e.nextAttemptAt;
}
