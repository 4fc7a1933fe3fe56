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

export type ClaimResult = 'claimed' | 'busy';

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

  async remember(keys: RecipientKeys, cakemailId: string): Promise<void> {
    await this.#safe('set', () => this.#store.set(keys.accepted, encodeId(cakemailId), this.#ttl(keys)), undefined);
  }

  /**
   * Atomic claim (SET NX with a TTL) for the time one session may spend on the message. The
   * store being down counts as claimed: fail open.
   */
  async claim(keys: RecipientKeys, owner: string, ttlS: number): Promise<ClaimResult> {
    const won = await this.#safe('claim', () => this.#store.setIfAbsent(keys.claim, owner, ttlS), true);
    return won ? 'claimed' : 'busy';
  }

  async release(keys: RecipientKeys): Promise<void> {
    await this.#safe('release', () => this.#store.delete(keys.claim), undefined);
  }

  async ambiguous(keys: RecipientKeys): Promise<AmbiguousAttempt[]> {
    const raw = await this.#safe('get', () => this.#store.get(keys.ambiguous), null);
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

  /** Adds one attempt; called while holding the claim, so the read-modify-write does not race. */
  async addAmbiguous(keys: RecipientKeys, attempt: AmbiguousAttempt): Promise<void> {
    const list = [...(await this.ambiguous(keys)).filter((a) => a.tag !== attempt.tag), attempt].slice(-10);
    await this.#safe('set', () => this.#store.set(keys.ambiguous, JSON.stringify(list), this.#ttl(keys)), undefined);
  }

  /** The attempts were looked up while young and not found: no second lookup until they are old. */
  async markChecked(keys: RecipientKeys, attempts: readonly AmbiguousAttempt[]): Promise<void> {
    const list = attempts.map((a) => ({ ...a, checked: true }));
    await this.#safe('set', () => this.#store.set(keys.ambiguous, JSON.stringify(list), this.#ttl(keys)), undefined);
  }

  async clearAmbiguous(keys: RecipientKeys): Promise<void> {
    await this.#safe('delete', () => this.#store.delete(keys.ambiguous), undefined);
  }

  /** A message without identity got its final reply: a later identical message is a new one. */
  async forget(keys: RecipientKeys): Promise<void> {
    if (keys.identity.kind !== 'anonymous') return;
    await this.#safe('delete', () => this.#store.delete(keys.accepted), undefined);
    await this.#safe('delete', () => this.#store.delete(keys.ambiguous), undefined);
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
