// Message rate limits (docs/security.md, "Rate limits"): token buckets per client IP (IPv6: its
// /64) and per Cakemail account, in the state store so that the whole fleet shares one bucket.
// Each bucket holds one minute's worth of messages and refills continuously; one MAIL command
// takes one token. A refused MAIL gets 451 4.7.1 with the seconds until a token is free, before
// any body is sent, so it costs no API call. Both limits are off by default: a relay's
// legitimate senders burst (a newsletter run, a batch of invoices at month end), and the API
// has limits of its own; they are for operators who want a ceiling per tenant or per network.
// Trusted networks (TRUSTED_CIDRS) are not limited. A store failure lets the message through.
import type { KeyedHash } from '../state/keyed-hash.ts';
import type { StateStore } from '../state/store.ts';
import { clientKey, type CidrMatcher } from '../lib/cidr.ts';

export type RateDecision = { ok: true } | { ok: false; limit: 'ip' | 'account'; perMinute: number; retryS: number };

export interface RateLimitOptions {
  ipPerMinute: number;
  accountPerMinute: number;
  trusted: CidrMatcher;
}

export class RateLimits {
  readonly #store: StateStore;
  readonly #hash: KeyedHash;
  readonly #o: RateLimitOptions;

  constructor(store: StateStore, hash: KeyedHash, opts: RateLimitOptions) {
    this.#store = store;
    this.#hash = hash;
    this.#o = opts;
  }

  get enabled(): boolean {
    return this.#o.ipPerMinute > 0 || this.#o.accountPerMinute > 0;
  }

  /** Takes a token from each bucket that applies, IP first; `accountKey` is Credential.accountKey. */
  async take(ip: string, accountKey: string): Promise<RateDecision> {
    if (!this.enabled || this.#o.trusted(ip)) return { ok: true };
    if (this.#o.ipPerMinute > 0) {
      const waitMs = await this.#take(async () => `rl:ip:${clientKey(ip)}`, this.#o.ipPerMinute);
      if (waitMs > 0)
        return { ok: false, limit: 'ip', perMinute: this.#o.ipPerMinute, retryS: Math.ceil(waitMs / 1000) };
    }
    if (this.#o.accountPerMinute > 0) {
      // An account key can hold a login name: hashed like every name in the store.
      const waitMs = await this.#take(
        async () => `rl:acct:${await this.#hash.of(accountKey)}`,
        this.#o.accountPerMinute,
      );
      if (waitMs > 0)
        return { ok: false, limit: 'account', perMinute: this.#o.accountPerMinute, retryS: Math.ceil(waitMs / 1000) };
    }
    return { ok: true };
  }

  async #take(key: () => Promise<string>, perMinute: number): Promise<number> {
    try {
      return await this.#store.takeToken(await key(), perMinute, perMinute);
    } catch {
      return 0;
    }
  }
}
