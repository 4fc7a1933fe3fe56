// The spool seam (docs/architecture.md#spool-mode): what every spool backend (a local directory,
// Redis Streams) offers the DATA handler, the delivery workers and the admin tools. A backend
// stores bytes and facts; it never decides: the worker decides what a send's answer means and
// tells the backend with `journal` and `settle`.
//
// Durability contract: every method that changes state resolves only after the change would
// survive a SIGKILL of this process (the directory backend: fsync of file and directory; Redis:
// the write acknowledged). `put` resolving is what allows `250 2.0.0 Ok: spooled as <id>`.

/** A message's state as the admin tools show it. */
export type SpoolState = 'queued' | 'retrying' | 'delivered' | 'dead';

/**
 * One recipient's state: `queued` never attempted, `retrying` attempted and still pending,
 * `delivered` Cakemail queued it, `dead` given up (its reason in `last_error`).
 */
export type RecipientState = SpoolState;

/** What the DATA handler hands over; the backend stores it as it is. */
export interface SpoolMessage {
  /** Gateway spool id: `[A-Za-z0-9-]{1,64}`, chosen by the caller (also the SMTP reply's id). */
  id: string;
  /** Unix milliseconds when the message was answered 250. */
  receivedAt: number;
  envelopeFrom: string;
  /** Envelope recipients, already unique ignoring case, in RCPT order. */
  recipients: readonly string[];
  /** The DATA bytes as received (after dot-unstuffing and line-break normalisation). */
  raw: Uint8Array;
  /** The sealed SMTP login (src/spool/seal.ts): opaque to the backend, never logged. */
  credential: string;
  /** The SMTP session that handed it over, for logs. */
  sessionId: string;
  /**
   * A scheduled send (docs/message-mapping.md §3): Unix ms before which the message is not
   * delivered. Absent: due at once.
   */
  notBefore?: number;
}

export type PutResult =
  | { kind: 'stored'; bytes: number }
  /** Over SPOOL_MAX_BYTES: nothing was stored (the reply is 452 4.3.1). */
  | { kind: 'full'; bytes: number; usedBytes: number; maxBytes: number }
  /**
   * The storage itself has no room (a full disk or quota: ENOSPC, EDQUOT; Redis out of memory),
   * found before writing or at any step of the write: nothing was stored (452 4.3.1).
   */
  | { kind: 'no_space'; bytes: number; reason: string };

/** A worker's hold on one message until `expiresAt`; after that another owner may lease it. */
export interface Lease {
  id: string;
  owner: string;
  /** Unique per lease: a settle with a stale token is refused (`lost`). */
  token: string;
  expiresAt: number;
}

/** The last attempt of a recipient that was opened and never closed: the process died mid-send. */
export interface OpenAttempt {
  tag: string;
  /** Unix milliseconds when the attempt was opened. */
  at: number;
}

/**
 * A recipient's durable state as the worker needs it. A `result` record of kind `queued`, or a
 * `reconciled` one with `found`, makes the recipient `delivered` at once, before any settle: a
 * crash between that record and the settle must never send it again.
 */
export interface RecipientRecord {
  address: string;
  state: RecipientState;
  /** Attempts opened so far. */
  attempts: number;
  lastError: string | null;
  /** Cakemail's id once delivered. */
  cakemailId: string | null;
  /**
   * Set when the last attempt has no result, or ended `failed` with `ambiguous`: reconcile it
   * (GET /v2/logs/emails by its tag) before sending again.
   */
  open: OpenAttempt | null;
}

/** A leased message: the stored bytes and every recipient's state. */
export interface LeasedMessage {
  lease: Lease;
  message: SpoolMessage;
  recipients: RecipientRecord[];
  /** Unix milliseconds the message's age counts from: received, or the last admin retry. */
  ageFrom: number;
}

/** How an attempt ended, as written to the journal and shown by `spool show`. */
export type AttemptResult =
  /** Cakemail answered 201 queued. */
  | { kind: 'queued'; cakemailId: string; apiStatus: number }
  /** Cakemail refused it for good (400/413/422, or a status other than queued). */
  | { kind: 'refused'; reason: string; apiStatus?: number }
  /**
   * A transient failure: 5xx, 429, timeout, network, token endpoint down. `ambiguous`: the
   * request went out and its answer was lost, so the attempt stays open (reconciled by its tag
   * before the next send), exactly like an attempt with no result at all.
   */
  | { kind: 'failed'; reason: string; apiStatus?: number; ambiguous?: boolean }
  /** An open attempt looked up in the API's logs: found (`cakemailId`) or shown not to have been sent. */
  | { kind: 'reconciled'; found: boolean; cakemailId?: string };

/** One durable journal record. `open` is written (and durable) before the API call carrying `tag`. */
export type JournalRecord =
  | { type: 'open'; recipient: string; tag: string; at: number }
  | { type: 'result'; recipient: string; tag: string; at: number; result: AttemptResult };

/** What the worker decided for one recipient. Recipients not listed keep their state. */
export type RecipientSettlement =
  | { address: string; state: 'delivered'; cakemailId: string }
  | { address: string; state: 'dead'; reason: string }
  /** Still to deliver; `error` becomes its last_error (e.g. the sender check failed transiently). */
  | { address: string; state: 'pending'; error?: string };

export interface Settlement {
  recipients: readonly RecipientSettlement[];
  /** When pending recipients are next due (Unix ms). Ignored when none is pending. */
  nextAttemptAt: number;
}

export type SettleResult =
  /** Every recipient delivered: the message is gone from the spool. */
  | { kind: 'removed' }
  /** Some recipient pending: due again at `nextAttemptAt`. */
  | { kind: 'rescheduled' }
  /** None pending, some dead: kept as a dead letter. */
  | { kind: 'dead' }
  /** The message was dropped (admin) while leased: nothing to do. */
  | { kind: 'gone' }
  /** The lease expired and another owner took the message: this settlement was not applied. */
  | { kind: 'lost' };

/** One attempt as the admin tools show it. */
export interface AttemptView {
  tag: string;
  /** ISO 8601. */
  opened_at: string;
  /** ISO 8601; null while (or if, after a crash) the attempt has no result. */
  closed_at: string | null;
  result: AttemptResult | null;
}

export interface RecipientView {
  address: string;
  state: RecipientState;
  attempts: number;
  last_error: string | null;
  cakemail_id: string | null;
  /** Every attempt with the API's answer, oldest first. */
  history: AttemptView[];
}

/** The entry `spool list --json`, `spool show` and `GET /spool` print. */
export interface SpoolEntry {
  id: string;
  state: SpoolState;
  /** ISO 8601. */
  received_at: string;
  envelope_from: string;
  /** ISO 8601; null when nothing is pending. */
  next_attempt_at: string | null;
  /** ISO 8601: when it became a dead letter (SPOOL_DEAD_TTL_S counts from here); null unless dead. */
  dead_since: string | null;
  bytes: number;
  recipients: RecipientView[];
}

export interface ListFilter {
  /** true: only dead letters; false: only messages still to deliver; absent: all. */
  dead?: boolean;
}

/** A message taken out of delivery because it could not be read or verified (`spool list --quarantined`). */
export interface QuarantinedEntry {
  id: string;
  /** Why: truncated, checksum mismatch, unreadable (with the error). */
  reason: string;
  /** ISO 8601; null when the note of it was lost. */
  quarantined_at: string | null;
  /** Where its bytes are kept for inspection (a file, or a Redis key). */
  location: string;
  bytes: number;
}

export interface KeyIdCounts {
  byKey: Map<string, number>;
  legacy: number;
}

export type RetryTarget = { id: string } | { allDead: true };

export interface SpoolUsage {
  bytes: number;
  /** Messages taken out of delivery because they could not be read or verified. */
  quarantined: number;
  messages: { queued: number; retrying: number; dead: number };
  /** Unix ms of the oldest message not dead; null when there is none. */
  oldestReceivedAt: number | null;
}

export interface LeaseRequest {
  /** Who holds the leases (one per process). */
  owner: string;
  /** At most this many messages. */
  max: number;
  /** Lease length; a worker that dies holding it loses it after this long. */
  leaseMs: number;
  /** Defaults to Date.now(). */
  now?: number;
}

export interface SpoolBackend {
  /** Durably stores a new message, due now; `full` (nothing stored) past the byte budget. */
  put(message: SpoolMessage): Promise<PutResult>;
  /** Leases up to `max` due messages that nobody holds (or whose lease lapsed). */
  lease(req: LeaseRequest): Promise<LeasedMessage[]>;
  /**
   * Durably appends one attempt record under `lease`; resolves `false`, writing nothing, when the
   * message is gone (dropped) or the lease is no longer this one (it lapsed and another worker
   * took the message): fenced by the lease token, like `settle`.
   */
  journal(lease: Lease, record: JournalRecord): Promise<boolean>;
  /** Applies the worker's decisions and releases the lease. */
  settle(lease: Lease, settlement: Settlement): Promise<SettleResult>;
  list(filter?: ListFilter): Promise<SpoolEntry[]>;
  get(id: string): Promise<SpoolEntry | null>;
  /**
   * Makes dead (and pending) recipients of one message, or of every dead letter, due now, and
   * restarts their age. Returns the ids made due; a leased message is retried after its lease.
   */
  retry(target: RetryTarget): Promise<string[]>;
  /** Removes a message whatever its state; false when there was none. */
  drop(id: string): Promise<boolean>;
  usage(): Promise<SpoolUsage>;
  /**
   * How many messages in the spool (dead letters included) are sealed with each key fingerprint
   * (src/spool/keyring.ts); `legacy` counts logins sealed before fingerprints were kept.
   */
  keyIds(): Promise<KeyIdCounts>;
  /** The spool's own record of its key (`key_fingerprint`), null before one was written. */
  keyMeta(): Promise<string | null>;
  /** Records the fingerprint of the key new messages are sealed with. Durable when it resolves. */
  setKeyMeta(fingerprint: string): Promise<void>;
  /** Messages moved out of delivery as damaged, oldest first; one unreadable note never fails it. */
  quarantined(): Promise<QuarantinedEntry[]>;
  close(): Promise<void>;
}

/** Ids are file names and Redis keys: nothing else may pass (path traversal, key injection). */
export const SPOOL_ID = /^[A-Za-z0-9-]{1,64}$/;

export function isSpoolId(s: string): boolean {
  return SPOOL_ID.test(s);
}
