// The one state seam (docs/architecture.md#state-and-scale): counters with TTL, set-if-absent with TTL, plain values,
// blocks with their time left, and token buckets. In-process memory by default; Redis when
// REDIS_URL is set, so that every pod of a fleet sees the same dedupe records, auth blocks and
// rate limits. Values are never secrets (docs/architecture.md#semantics-that-never-bend). Every operation is atomic on its own
// (Redis: one command, MULTI or a Lua script), so two pods can never both take the last token.
/** The three records of one recipient of one message (src/delivery/dedupe.ts). */
export interface SendKeys {
  accepted: string;
  claim: string;
  ambiguous: string;
}

export interface BeginSend {
  keys: SendKeys;
  /** The claim's value and lifetime: one session's time on the message. */
  owner: string;
  claimTtlS: number;
  /** Written as the ambiguous record with the claim, when there is none yet (null: nothing). */
  attempt: string | null;
  recordTtlS: number;
}

export type BeginSendResult =
  /** Accepted earlier: its record's value; nothing claimed. */
  | { kind: 'accepted'; value: string }
  /** Another session holds the claim. */
  | { kind: 'busy' }
  /** Claimed; `ambiguous` is the record of earlier unanswered sends (then `attempt` was not written). */
  | { kind: 'claimed'; ambiguous: string | null };

export interface EndSend {
  keys: SendKeys;
  /** The accepted record to write, if the send was accepted. */
  accepted?: string;
  /** The ambiguous record: left, removed, or replaced. */
  ambiguous: 'keep' | 'clear' | { set: string };
  recordTtlS: number;
}

export interface StateStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** True when the key was absent and is now set. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Increment a counter (by 1, or `by`), setting its TTL when it is created; returns the new value. */
  increment(key: string, ttlSeconds: number, by?: number): Promise<number>;
  /** Milliseconds until the key expires; null when it is absent. A block is `set` + `ttlMs`. */
  ttlMs(key: string): Promise<number | null>;
  /**
   * Takes one token from a bucket of `capacity` tokens that refills at `refillPerMinute`
   * (a full bucket to start with). Returns 0 when a token was taken, else the milliseconds
   * until one is free (nothing is taken then).
   */
  takeToken(key: string, capacity: number, refillPerMinute: number): Promise<number>;
  /**
   * A sliding window of entries in one step: drops the entries older than `windowMs`, then adds
   * `id` unless `limit` entries remain (`added: false`, and `retryMs` until the oldest leaves).
   * Exact: never more than `limit` entries in any `windowMs`, however many callers race.
   */
  windowAdd(key: string, id: string, windowMs: number, limit: number): Promise<WindowAdd>;
  /** Takes an entry added by windowAdd out again (its place is free at once). */
  windowRemove(key: string, id: string): Promise<void>;
  /** Removes every key, in one step. */
  deleteAll(keys: readonly string[]): Promise<void>;
  /**
   * Values and index entries in one step (one round trip on Redis): each value set with its TTL;
   * for each index, the counter `<key>:n` incremented (its TTL set when it is created) and the
   * slot `<key>:<n>` set to the entry's value, so a reader walks the newest slots down from n.
   */
  writeIndexed(w: IndexedWrite): Promise<void>;
  /**
   * Before a send, one atomic step: accepted already → its value; claimed by another session →
   * busy; else claim it, read the ambiguous record, and write `attempt` when there is none.
   */
  beginSend(req: BeginSend): Promise<BeginSendResult>;
  /** After a send (or instead of it), one atomic step: the accepted record, the ambiguous record, and the claim released. */
  endSend(req: EndSend): Promise<void>;
  close(): Promise<void>;
}

export interface IndexedWrite {
  values: readonly { key: string; value: string; ttlSeconds: number }[];
  indexes: readonly { key: string; value: string; ttlSeconds: number }[];
}

export interface WindowAdd {
  added: boolean;
  retryMs: number;
}
