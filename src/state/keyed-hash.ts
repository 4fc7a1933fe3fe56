// Store keys that name a person (a username, an account key made of one) are HMACs, never the
// name itself (docs/architecture.md#semantics-that-never-bend): a Redis dump or a `KEYS *` shows no email addresses. The HMAC key
// must be the same on every pod, or one pod's "good IP for this user" record would mean nothing
// to the next: it is created once, at random, in the store itself (SET NX), and read by every
// pod. Someone who can read all of Redis can read it too; this hides names from casual reads,
// dumps and logs, not from an operator with full access to Redis.
import { createHmac, randomBytes } from 'node:crypto';
import type { StateStore } from './store.ts';

const KEY_NAME = 'hmac-key';
/** The key is rewritten only if it was lost (its TTL ran out or Redis was flushed). */
const KEY_TTL_S = 400 * 86_400;

export class KeyedHash {
  readonly #store: StateStore;
  #key: Promise<Buffer> | undefined;

  constructor(store: StateStore) {
    this.#store = store;
  }

  /** base64url HMAC-SHA256 of `value` (128 bits); rejects while the store is unreachable. */
  async of(value: string): Promise<string> {
    const key = await this.#fleetKey();
    return createHmac('sha256', key).update(value).digest().subarray(0, 16).toString('base64url');
  }

  #fleetKey(): Promise<Buffer> {
    this.#key ??= (async () => {
      await this.#store.setIfAbsent(KEY_NAME, randomBytes(32).toString('base64'), KEY_TTL_S);
      const stored = await this.#store.get(KEY_NAME);
      if (!stored) throw new Error('HMAC key missing from the state store');
      return Buffer.from(stored, 'base64');
    })();
    // A failure (store down) is not cached: the next call tries again.
    this.#key.catch(() => (this.#key = undefined));
    return this.#key;
  }
}
