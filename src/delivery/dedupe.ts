// Exactly once, as far as the API allows (docs/security.md, "Exactly once"). Cakemail has no
// idempotency key, so the gateway keeps, per (account, message identity, recipient):
//  - an **accepted** record (the Cakemail id): a resend skips that recipient;
//  - a **claim** while one session sends it: a concurrent duplicate gets 451 instead of a copy;
//  - **ambiguous** attempts (request written, answer lost): reconciled through the API's logs
//    before sending again when RECONCILE=on.
// A message's identity is its idempotency key when it has one (Idempotency-Key,
// X-Idempotency-Key, Resend-Idempotency-Key: a job-queue retry rebuilds the message with a new
// Message-ID and Date, and the key is what stays the same), else its Message-ID plus a digest of
// its bytes. A message with neither has none: its records are kept only while its transaction is
// unfinished (451, crash) and dropped after a final reply, so sending the same file again is sent
// again. A test-mode message's identity is kept apart from a real one's.
// The store failing must not stop mail: every operation fails open (a possible duplicate beats
// refusing all mail), counted and logged (docs/security.md).
import { createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import type { StateStore } from '../state/store.ts';

export type MessageIdentity =
  /** Idempotency key, or Message-ID + bytes: remembered DEDUPE_TTL_S. */
  | { kind: 'identified'; scope: string }
  /** No Message-ID: keyed on the bytes, remembered DEDUPE_PARTIAL_TTL_S and only until a final reply. */
  | { kind: 'anonymous'; scope: string };

/** The store keys of one recipient of one message. */
export interface RecipientKeys {
  accepted: string;
  claim: string;
  ambiguous: string;
  identity: MessageIdentity;
}

/** One send whose answer was lost: its reconcile tag and when it started (Unix seconds). */
export interface AmbiguousAttempt {
  tag: string;
  at: number;
  /** Looked up in the logs once while young and not found (src/delivery/reconcile.ts). */
  checked?: boolean;
}

/** What `begin` found. */
export type Begun =
  { kind: 'accepted'; id: string } | { kind: 'busy' } | { kind: 'claimed'; ambiguous: AmbiguousAttempt[] };

/** What `end` writes: the accepted id, and what becomes of the unanswered attempts. */
export interface SendEnd {
  accepted?: string;
  ambiguous: 'keep' | 'clear' | AmbiguousAttempt[];
}

/** Unanswered attempts kept per recipient (the oldest go first). */
const MAX_ATTEMPTS = 10;

export interface DedupeOptions {
  ttlS: number;
  partialTtlS: number;
}

export class DedupeRecords {
  readonly #store: StateStore;
  readonly #o: DedupeOptions;
  readonly #logger: Logger;

  constructor(store: StateStore, opts: DedupeOptions, logger: Logger) {
    this.#store = store;
    this.#o = opts;
    this.#logger = logger;
  }

  /**
   * The identity of a message; `messageId` null when the message had none of its own. The
   * account key is the login's, or the X-Account-Id sub-account's: a key is per account.
   */
  static identity(
    accountKey: string,
    messageId: string | null,
    raw: Uint8Array,
    opts: { idempotencyKey?: string | undefined; test?: boolean } = {},
  ): MessageIdentity {
    const h = createHash('sha256')
      .update(accountKey)
      .update(opts.test ? '\0test\0' : '\0');
    if (opts.idempotencyKey !== undefined)
      return { kind: 'identified', scope: 'k' + h.update(opts.idempotencyKey).digest('base64url') };
    if (messageId === null) return { kind: 'anonymous', scope: 'r' + h.update(raw).digest('base64url') };
    return { kind: 'identified', scope: 'i' + h.update(messageId).update('\0').update(raw).digest('base64url') };
  }

  /**
   * Keys are kept to 16 characters so an in-memory record stays under its per-entry budget
   * (docs/security.md): 88 bits of SHA-256 make an accidental collision among a million
   * records a 1-in-10^14 event.
   */
  static keys(identity: MessageIdentity, recipient: string): RecipientKeys {
    const k = createHash('sha256')
      .update(identity.scope)
      .update('\0')
      .update(recipient.toLowerCase())
      .digest()
      .subarray(0, 11)
      .toString('base64url');
    return { accepted: `d${k}`, claim: `c${k}`, ambiguous: `a${k}`, identity };
  }

  /** The Cakemail id already accepted for this recipient, if any. */
  async accepted(keys: RecipientKeys): Promise<string | null> {
    const stored = await this.#safe('get', () => this.#store.get(keys.accepted), null);
    return stored === null ? null : decodeId(stored);
  }

  /**
   * Before a send, one atomic step in the store: accepted earlier → its Cakemail id; claimed by
   * another session → busy; else claimed (for `claimTtlS`, the time one session may spend on the
   * message), with the earlier unanswered attempts, and `attempt` written down when there were
   * none (so a crash mid-call leaves it to reconcile). The store failing counts as claimed with
   * no record: fail open.
   */
  async begin(keys: RecipientKeys, owner: string, claimTtlS: number, attempt: AmbiguousAttempt | null): Promise<Begun> {
    const r = await this.#safe(
      'claim',
      () =>
        this.#store.beginSend({
          keys,
          owner,
          claimTtlS,
          attempt: attempt ? JSON.stringify([attempt]) : null,
          recordTtlS: this.#ttl(keys),
        }),
      { kind: 'claimed' as const, ambiguous: null },
    );
    if (r.kind === 'accepted') return { kind: 'accepted', id: decodeId(r.value) };
    if (r.kind === 'busy') return r;
    return { kind: 'claimed', ambiguous: parseAttempts(r.ambiguous) };
  }

  /**
   * After a send, one atomic step: the accepted record (`accepted`: the Cakemail id), the
   * unanswered attempts kept, cleared or replaced, and the claim released.
   */
  async end(keys: RecipientKeys, end: SendEnd): Promise<void> {
    const ambiguous =
      end.ambiguous === 'keep' || end.ambiguous === 'clear'
        ? end.ambiguous
        : { set: JSON.stringify(end.ambiguous.slice(-MAX_ATTEMPTS)) };
    await this.#safe(
      'release',
      () =>
        this.#store.endSend({
          keys,
          ...(end.accepted !== undefined ? { accepted: encodeId(end.accepted) } : {}),
          ambiguous,
          recordTtlS: this.#ttl(keys),
        }),
      undefined,
    );
  }

  /** Records unanswered attempts while holding the claim (a resend after a lookup found nothing). */
  async setAmbiguous(keys: RecipientKeys, attempts: readonly AmbiguousAttempt[]): Promise<void> {
    const list = JSON.stringify(attempts.slice(-MAX_ATTEMPTS));
    await this.#safe('set', () => this.#store.set(keys.ambiguous, list, this.#ttl(keys)), undefined);
  }

  /** Kept for the memory measurement: an accepted record on its own. */
  async remember(keys: RecipientKeys, cakemailId: string): Promise<void> {
    await this.#safe('set', () => this.#store.set(keys.accepted, encodeId(cakemailId), this.#ttl(keys)), undefined);
  }

  /** Messages without identity got their final reply: a later identical message is a new one (one step for all). */
  async forget(keys: readonly RecipientKeys[]): Promise<void> {
    const all = keys.filter((k) => k.identity.kind === 'anonymous').flatMap((k) => [k.accepted, k.ambiguous]);
    if (all.length === 0) return;
    await this.#safe('delete', () => this.#store.deleteAll(all), undefined);
  }

  #ttl(keys: RecipientKeys): number {
    return keys.identity.kind === 'identified' ? this.#o.ttlS : this.#o.partialTtlS;
  }

  async #safe<T>(op: string, fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // Counted (state_store_errors_total) and logged once per outage by the store's monitor.
      this.#logger.debug({ op, err: (err as Error).message }, 'state store unavailable: dedupe fails open');
      return fallback;
    }
  }
}

function parseAttempts(raw: string | null): AmbiguousAttempt[] {
  if (!raw) return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed)
      ? parsed.filter((a): a is AmbiguousAttempt => typeof a?.tag === 'string' && typeof a?.at === 'number')
      : [];
  } catch {
    return [];
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PACKED_UUID = /^[A-Za-z0-9_-]{22}$/;

/** A Cakemail uuid as 22 base64url characters (16 bytes fewer per record); anything else as is. */
function encodeId(id: string): string {
  return UUID.test(id) ? Buffer.from(id.replace(/-/g, ''), 'hex').toString('base64url') : id;
}

function decodeId(stored: string): string {
  if (!PACKED_UUID.test(stored)) return stored;
  const h = Buffer.from(stored, 'base64url').toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
