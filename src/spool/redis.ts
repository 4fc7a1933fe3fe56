// The Redis Streams spool backend, for a fleet (docs/architecture.md#spool-on-redis): every
// gateway process reads one stream in one consumer group, so each due message goes to one
// worker; a worker that dies holding messages loses them when their leases lapse, and the next
// process that leases takes them over. Exactly once per recipient across such a takeover comes
// from the journal (an attempt is written before its send, kept in Redis with the message) and
// the state store's claims and dedupe records, as with the directory spool.
//
// Durability: a change resolves once Redis acknowledged it. That survives this process dying;
// surviving Redis dying is Redis's persistence (AOF, docs/operations.md#spool-on-redis).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
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
import { encodeRecord, entryOf, foldJournal, messageState, type FoldedState, type StoredRecord } from './journal.ts';
import { sealedKeyId } from './seal.ts';
import { journalKey, messageKey, SPOOL_GROUP, spoolKeys, type SpoolKeys } from './redis-keys.ts';
import { DROP, JOURNAL, LEASE, PRUNE, PUT, RETRY, SETTLE } from './redis-scripts.ts';

export interface RedisSpoolOptions {
  url: string;
  /** REDIS_KEY_PREFIX: the spool's keys are `<prefix>spool:…`. */
  prefix: string;
  maxBytes: number;
  now?: () => number;
  /** Per command; a put slower than this is answered 4xx (the client retries). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** What is stored once per message besides its bytes (`head` in the message hash). */
interface Head {
  v: 1;
  receivedAt: number;
  envelopeFrom: string;
  recipients: string[];
  credential: string;
  sessionId: string;
  rawBytes: number;
  /** A scheduled send: not delivered before this Unix ms. */
  notBefore?: number;
}

const SPOOL_UNAVAILABLE = Symbol.for('cakemail-smtp-gateway.SpoolUnavailableError');

/**
 * Redis could not be reached, or did not answer in time: nothing was taken (a put then makes
 * the DATA reply a 4xx, and the client keeps the message). Branded so that the type guard holds
 * across duplicate module copies.
 */
export class SpoolUnavailableError extends Error {
  readonly [SPOOL_UNAVAILABLE] = true;
  constructor(op: string, cause: unknown) {
    super(`Redis spool unavailable (${op}): ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'SpoolUnavailableError';
  }

  static is(err: unknown): err is SpoolUnavailableError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[SPOOL_UNAVAILABLE] === true;
  }
}

/** How many due messages one lease call moves from the delay set back to the stream. */
const PROMOTE_MAX = 500;
/** Consumers idle this long with nothing pending are removed from the group. */
const CONSUMER_IDLE_MS = 60 * 60 * 1000;
const PRUNE_EVERY_MS = 5 * 60 * 1000;
/** A settle or retry retried this often when admin changes keep landing in between. */
const MAX_FOLDS = 5;

type ScriptName =
  'spoolPut' | 'spoolLease' | 'spoolJournal' | 'spoolSettle' | 'spoolRetry' | 'spoolDrop' | 'spoolPrune';
type Arg = string | number | Buffer | Uint8Array;

export async function openRedisSpool(opts: RedisSpoolOptions): Promise<RedisSpool> {
  const spool = new RedisSpool(opts);
  try {
    await spool.open();
  } catch (err) {
    await spool.close();
    throw err;
  }
  return spool;
}

export class RedisSpool implements SpoolBackend {
  readonly #redis: Redis;
  readonly #keys: SpoolKeys;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #connectTimeoutMs: number;
  #lastPrune = 0;
  /** Per owner: the leases this instance handed out and that were not settled (token → end). */
  readonly #held = new Map<string, Map<string, number>>();
  /** Owners whose last lease call failed: its leases may have been granted with the reply lost. */
  readonly #unsure = new Set<string>();

  constructor(opts: RedisSpoolOptions) {
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    // Fail fast while Redis is away, as the state store does: a put must answer 4xx now, not
    // wait in an offline queue while the SMTP client waits for its reply.
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: this.#connectTimeoutMs,
      commandTimeout: opts.commandTimeoutMs ?? 5000,
      lazyConnect: true,
      // A command whose connection dropped fails instead of running again after the reconnect:
      // a second put of one message, or a second lease, is never what the caller asked for.
      autoResendUnfulfilledCommands: false,
    });
    // Errors surface on the commands; this only keeps ioredis from logging unhandled 'error' events.
    this.#redis.on('error', () => {});
    const scripts: [ScriptName, string, number][] = [
      ['spoolPut', PUT, 7],
      ['spoolLease', LEASE, 3],
      ['spoolJournal', JOURNAL, 2],
      ['spoolSettle', SETTLE, 10],
      ['spoolRetry', RETRY, 7],
      ['spoolDrop', DROP, 10],
      ['spoolPrune', PRUNE, 1],
    ];
    for (const [name, lua, numberOfKeys] of scripts) this.#redis.defineCommand(name, { lua, numberOfKeys });
    this.#keys = spoolKeys(opts.prefix);
    this.#maxBytes = opts.maxBytes;
    this.#now = opts.now ?? Date.now;
  }

  /** Connects and makes sure the consumer group exists (reading from the stream's start). */
  async open(): Promise<void> {
    try {
      await this.#redis.connect();
    } catch (err) {
      throw new SpoolUnavailableError('connect', err);
    }
    await this.#op('open', async () => {
      try {
        await this.#redis.xgroup('CREATE', this.#keys.stream, SPOOL_GROUP, '0', 'MKSTREAM');
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      }
    });
  }

  /** Whether Redis writes an append-only file: without it a Redis restart loses the spool. */
  async appendOnly(): Promise<boolean> {
    const info = String(await this.#op('info', () => this.#redis.call('INFO', 'persistence')));
    return /^aof_enabled:1\r?$/m.test(info);
  }

  async put(m: SpoolMessage): Promise<PutResult> {
    if (!isSpoolId(m.id)) throw new Error(`invalid spool id ${JSON.stringify(m.id)}`);
    const head: Head = {
      v: 1,
      receivedAt: m.receivedAt,
      envelopeFrom: m.envelopeFrom,
      recipients: [...m.recipients],
      credential: m.credential,
      sessionId: m.sessionId,
      rawBytes: m.raw.length,
      ...(m.notBefore !== undefined ? { notBefore: m.notBefore } : {}),
    };
    const headJson = JSON.stringify(head);
    // Counted as the directory spool counts a message file: its header line and its bytes.
    const bytes = Buffer.byteLength(headJson) + 1 + m.raw.length;
    const k = this.#keys;
    const [stored, used] = (await this.#script(
      'put',
      'spoolPut',
      [messageKey(k, m.id), journalKey(k, m.id), k.stream, k.all, k.queued, k.bytes, k.delayed],
      [
        m.id,
        bytes,
        this.#maxBytes,
        headJson,
        Buffer.from(m.raw.buffer, m.raw.byteOffset, m.raw.byteLength),
        m.receivedAt,
        Math.max(m.receivedAt, m.notBefore ?? 0),
      ],
    )) as [number, number];
    if (stored === 1) return { kind: 'stored', bytes };
    return { kind: 'full', bytes, usedBytes: Number(used), maxBytes: this.#maxBytes };
  }

  async lease(req: LeaseRequest): Promise<LeasedMessage[]> {
    const now = req.now ?? this.#now();
    const k = this.#keys;
    await this.#pruneConsumers(now);
    const held = this.#heldBy(req.owner, now);
    const reclaim = this.#unsure.has(req.owner);
    let granted: string[];
    try {
      granted = (await this.#script(
        'lease',
        'spoolLease',
        [k.stream, k.delayed, k.leased],
        [
          k.base,
          SPOOL_GROUP,
          req.owner,
          now,
          req.leaseMs,
          req.max,
          randomUUID(),
          PROMOTE_MAX,
          reclaim ? '1' : '0',
          ...(reclaim ? held.keys() : []),
        ],
      )) as string[];
    } catch (err) {
      this.#unsure.add(req.owner);
      throw err;
    }
    this.#unsure.delete(req.owner);
    const out: LeasedMessage[] = [];
    for (let i = 0; i < granted.length; i += 2) {
      const id = granted[i] as string;
      const lease: Lease = { id, owner: req.owner, token: granted[i + 1] as string, expiresAt: now + req.leaseMs };
      held.set(lease.token, lease.expiresAt);
      const read = await this.#read(id, true);
      // Dropped between the lease and this read: the lease went with it.
      if (!read) continue;
      if (messageState(read.folded.recipients) === 'delivered') {
        // Every recipient's queued result is journalled but the settle never came (the worker
        // died in between): nothing is left to send, so the message is removed, not handed out.
        await this.settle(lease, { recipients: [], nextAttemptAt: now });
        continue;
      }
      out.push({
        lease,
        message: {
          id,
          receivedAt: read.head.receivedAt,
          envelopeFrom: read.head.envelopeFrom,
          recipients: read.head.recipients,
          raw: read.raw as Buffer,
          credential: read.head.credential,
          sessionId: read.head.sessionId,
        },
        recipients: read.folded.recipients.map(({ history: _h, ...r }) => r),
        ageFrom: read.folded.ageFrom,
      });
    }
    return out;
  }

  async journal(lease: Lease, record: JournalRecord): Promise<boolean> {
    const k = this.#keys;
    const appended = await this.#script(
      'journal',
      'spoolJournal',
      [messageKey(k, lease.id), journalKey(k, lease.id)],
      [JSON.stringify(record), lease.token],
    );
    return Number(appended) === 1;
  }

  async settle(lease: Lease, s: Settlement): Promise<SettleResult> {
    const result = await this.#settle(lease, s);
    this.#held.get(lease.owner)?.delete(lease.token);
    return result;
  }

  async #settle(lease: Lease, s: Settlement): Promise<SettleResult> {
    const record: StoredRecord = {
      type: 'settle',
      at: this.#now(),
      recipients: [...s.recipients],
      nextAttemptAt: s.nextAttemptAt,
    };
    for (let fold = 0; fold < MAX_FOLDS; fold++) {
      const read = await this.#read(lease.id, false);
      if (!read) return { kind: 'gone' };
      const state = messageState(foldJournal(read.head, read.text + encodeRecord(record)).recipients);
      const res = (await this.#script('settle', 'spoolSettle', this.#allKeys(lease.id), [
        lease.id,
        SPOOL_GROUP,
        lease.token,
        read.length,
        JSON.stringify(record),
        state,
        s.nextAttemptAt,
      ])) as string;
      if (res === 'stale') continue;
      return { kind: res as SettleResult['kind'] };
    }
    throw new Error(`spool message ${lease.id}: its journal kept changing while it was being settled`);
  }

  async list(filter: ListFilter = {}): Promise<SpoolEntry[]> {
    const k = this.#keys;
    const ids = await this.#op('list', () => this.#redis.zrange(filter.dead === true ? k.dead : k.all, '0', '-1'));
    const out: SpoolEntry[] = [];
    for (const id of ids) {
      const entry = await this.get(id);
      if (!entry) continue;
      if (filter.dead === false && entry.state === 'dead') continue;
      out.push(entry);
    }
    return out;
  }

  async get(id: string): Promise<SpoolEntry | null> {
    if (!isSpoolId(id)) return null;
    const read = await this.#read(id, false);
    if (!read) return null;
    return entryOf(
      { id, receivedAt: read.head.receivedAt, envelopeFrom: read.head.envelopeFrom },
      read.bytes,
      read.folded,
    );
  }

  async retry(target: RetryTarget): Promise<string[]> {
    const k = this.#keys;
    const ids =
      'id' in target
        ? isSpoolId(target.id)
          ? [target.id]
          : []
        : await this.#op('retry', () => this.#redis.zrange(k.dead, '0', '-1'));
    const at = this.#now();
    const record: StoredRecord = { type: 'retry', at };
    const done: string[] = [];
    for (const id of ids) if (await this.#retryOne(id, record)) done.push(id);
    return done;
  }

  async drop(id: string): Promise<boolean> {
    if (!isSpoolId(id)) return false;
    return Number(await this.#script('drop', 'spoolDrop', this.#allKeys(id), [id, SPOOL_GROUP])) === 1;
  }

  async usage(): Promise<SpoolUsage> {
    const k = this.#keys;
    const r = await this.#op('usage', () =>
      this.#redis
        .multi()
        .get(k.bytes)
        .zcard(k.queued)
        .zcard(k.retrying)
        .zcard(k.dead)
        .zrange(k.queued, '0', '0', 'WITHSCORES')
        .zrange(k.retrying, '0', '0', 'WITHSCORES')
        .exec(),
    );
    const v = (r ?? []).map(([err, value]) => {
      if (err) throw new SpoolUnavailableError('usage', err);
      return value;
    });
    const oldest = [v[4], v[5]].flatMap((pair) =>
      (pair as string[]).length === 2 ? [Number((pair as string[])[1])] : [],
    );
    return {
      bytes: Number(v[0] ?? 0),
      quarantined: 0,
      messages: { queued: Number(v[1]), retrying: Number(v[2]), dead: Number(v[3]) },
      oldestReceivedAt: oldest.length ? Math.min(...oldest) : null,
    };
  }

  async keyIds(): Promise<KeyIdCounts> {
    const ids = await this.#op('keys', () => this.#redis.zrange(this.#keys.all, '0', '-1'));
    const byKey = new Map<string, number>();
    let legacy = 0;
    // In batches: a backlog of tens of thousands is read at start in a few round trips.
    for (let i = 0; i < ids.length; i += 1000) {
      const batch = ids.slice(i, i + 1000);
      const p = this.#redis.pipeline();
      for (const id of batch) p.hget(messageKey(this.#keys, id), 'head');
      const r = await this.#op('keys', () => p.exec());
      for (const [err, head] of r ?? []) {
        if (err) throw new SpoolUnavailableError('keys', err);
        if (typeof head !== 'string') continue;
        const keyId = sealedKeyId((JSON.parse(head) as Head).credential);
        if (keyId === null) legacy++;
        else byKey.set(keyId, (byKey.get(keyId) ?? 0) + 1);
      }
    }
    return { byKey, legacy };
  }

  async keyMeta(): Promise<string | null> {
    return this.#op('meta', () => this.#redis.hget(this.#keys.meta, 'key_fingerprint'));
  }

  async setKeyMeta(fingerprint: string): Promise<void> {
    await this.#op('meta', () => this.#redis.hset(this.#keys.meta, 'key_fingerprint', fingerprint));
  }

  async quarantined(): Promise<QuarantinedEntry[]> {
    return [];
  }

  async close(): Promise<void> {
    // QUIT waits for replies still on their way; a Redis that is gone gets a plain disconnect.
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => this.#redis.disconnect());
    else this.#redis.disconnect();
  }

  async #retryOne(id: string, record: StoredRecord): Promise<boolean> {
    const k = this.#keys;
    for (let fold = 0; fold < MAX_FOLDS; fold++) {
      const read = await this.#read(id, false);
      if (!read) return false;
      if (messageState(read.folded.recipients) === 'delivered') return false;
      const state: SpoolState = messageState(foldJournal(read.head, read.text + encodeRecord(record)).recipients);
      const res = (await this.#script(
        'retry',
        'spoolRetry',
        [messageKey(k, id), journalKey(k, id), k.stream, k.delayed, k.queued, k.retrying, k.dead],
        [id, read.length, JSON.stringify(record), state, record.at],
      )) as string;
      if (res === 'stale') continue;
      return res === 'ok';
    }
    throw new Error(`spool message ${id}: its journal kept changing while it was being retried`);
  }

  /** The leases this instance gave `owner` and that may still run; lapsed ones are forgotten. */
  #heldBy(owner: string, now: number): Map<string, number> {
    let held = this.#held.get(owner);
    if (!held) this.#held.set(owner, (held = new Map()));
    for (const [token, end] of held) if (end <= now) held.delete(token);
    return held;
  }

  /** Keys of the scripts that may touch every index (settle, drop). */
  #allKeys(id: string): string[] {
    const k = this.#keys;
    return [
      messageKey(k, id),
      journalKey(k, id),
      k.stream,
      k.leased,
      k.delayed,
      k.all,
      k.queued,
      k.retrying,
      k.dead,
      k.bytes,
    ];
  }

  /** The message and its folded journal; null when it is gone. `withRaw` also fetches the bytes. */
  async #read(
    id: string,
    withRaw: boolean,
  ): Promise<{
    head: Head;
    raw: Buffer | null;
    bytes: number;
    folded: FoldedState;
    text: string;
    length: number;
  } | null> {
    const m = messageKey(this.#keys, id);
    const fields = withRaw ? ['head', 'bytes', 'raw'] : ['head', 'bytes'];
    const r = await this.#op('read', () =>
      this.#redis
        .multi()
        .hmgetBuffer(m, ...fields)
        .lrange(journalKey(this.#keys, id), 0, -1)
        .exec(),
    );
    const [[e1, hash], [e2, records]] = (r ?? []) as [[Error | null, (Buffer | null)[]], [Error | null, string[]]];
    if (e1 || e2) throw new SpoolUnavailableError('read', e1 ?? e2);
    const [headBuf, bytesBuf, raw = null] = hash;
    if (!headBuf || !bytesBuf) return null;
    const head = JSON.parse(headBuf.toString('utf8')) as Head;
    if (withRaw && (!raw || raw.length !== head.rawBytes))
      throw new Error(`spool message ${id} is truncated (${raw?.length ?? 0} of ${head.rawBytes} bytes)`);
    // One record per list element; framed as the journal text the fold reads.
    const text = records.map((json) => `\n${json}\n`).join('');
    return {
      head,
      raw,
      bytes: Number(bytesBuf.toString()),
      folded: foldJournal(head, text),
      text,
      length: records.length,
    };
  }

  async #pruneConsumers(now: number): Promise<void> {
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    await this.#script('prune', 'spoolPrune', [this.#keys.stream], [SPOOL_GROUP, CONSUMER_IDLE_MS]);
  }

  async #script(op: string, name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
    const redis = this.#redis as unknown as Record<ScriptName, (...a: Arg[]) => Promise<unknown>>;
    return this.#op(op, () => redis[name](...keys, ...args));
  }

  /**
   * Runs one Redis call; a connection failure or timeout becomes SpoolUnavailableError. An error
   * Redis itself answered (a script error) stays what it is: that is a bug, not an outage.
   */
  async #op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isReplyError(err)) throw err;
      throw new SpoolUnavailableError(op, err);
    }
  }
}

function isReplyError(err: unknown): boolean {
  return (err as Error)?.name === 'ReplyError';
}
