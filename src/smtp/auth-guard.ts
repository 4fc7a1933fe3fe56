// Password-guessing limits kept in the state store, so that they hold across a fleet
// (docs/security.md, "Authentication abuse"):
//  - per client IP (IPv6: its /64): AUTH_MAX_FAILURES_PER_IP failures within
//    AUTH_FAILURE_WINDOW_S block the IP for AUTH_BLOCK_S, the right password included;
//  - per username: AUTH_MAX_FAILURES_PER_USER failures within the window lock the username for
//    AUTH_BLOCK_S against every IP that has not logged in as it in the last 24 h. A guesser
//    spread over many IPs is stopped; the application servers that send for that user keep
//    working, and a guesser cannot lock the real user out.
// Usernames appear in keys only as an HMAC (state/keyed-hash.ts). Trusted networks get no
// exemption here: a compromised host inside them is exactly who would guess passwords.
// The store failing means no limit (fail open, counted and logged by the store's monitor): a
// Redis outage must not stop every login.
import type { KeyedHash } from '../state/keyed-hash.ts';
import type { StateStore } from '../state/store.ts';
import { clientKey } from './cidr.ts';

/** How long a successful login vouches for its IP when the username is locked. */
const GOOD_IP_TTL_S = 86_400;

export interface AuthLimits {
  maxFailuresPerIp: number;
  maxFailuresPerUser: number;
  windowS: number;
  blockS: number;
}

/**
 * `reserved`: the attempt was counted against the IP before Cakemail is asked (see check());
 * give it back with released() unless it fails.
 */
export type AuthCheck = { ok: true; reserved: boolean } | { ok: false; scope: 'ip' | 'user'; retryS: number };

export interface FailureResult {
  /** This failure blocked the IP. */
  ipBlocked: boolean;
  /** This failure locked the username. */
  userLocked: boolean;
}

export class AuthGuard {
  readonly #store: StateStore;
  readonly #hash: KeyedHash;
  readonly #l: AuthLimits;

  constructor(store: StateStore, hash: KeyedHash, limits: AuthLimits) {
    this.#store = store;
    this.#hash = hash;
    this.#l = limits;
  }

  /** Seconds the IP stays blocked, or null. */
  async ipBlockedFor(ip: string): Promise<number | null> {
    const ms = await this.#safe(() => this.#store.ttlMs(`auth:ipblock:${clientKey(ip)}`), null);
    return ms === null ? null : seconds(ms);
  }

  /**
   * Before asking Cakemail: is this IP, or this username from this IP, refused? An attempt that
   * may go ahead is counted against the IP now, as if it will fail: otherwise many parallel
   * connections would all pass the check before the first failure is counted, and one IP
   * would get more than AUTH_MAX_FAILURES_PER_IP passwords checked.
   */
  async check(ip: string, username: string): Promise<AuthCheck> {
    const ipLeft = await this.ipBlockedFor(ip);
    if (ipLeft !== null) return { ok: false, scope: 'ip', retryS: ipLeft };
    const user = await this.#userKey(username);
    if (user !== null) {
      const lockMs = await this.#safe(() => this.#store.ttlMs(`auth:userlock:${user}`), null);
      if (lockMs !== null) {
        const vouched = await this.#safe(() => this.#store.get(`auth:good:${user}:${clientKey(ip)}`), '1');
        if (!vouched) return { ok: false, scope: 'user', retryS: seconds(lockMs) };
      }
    }
    const key = `auth:ipfail:${clientKey(ip)}`;
    const counted = await this.#safe(() => this.#store.increment(key, this.#l.windowS), null);
    if (counted === null) return { ok: true, reserved: false };
    if (counted > this.#l.maxFailuresPerIp) {
      // The limit is taken by attempts still waiting for Cakemail: refuse this one, uncounted.
      await this.#safe(() => this.#store.increment(key, this.#l.windowS, -1), 0);
      const windowMs = await this.#safe(() => this.#store.ttlMs(key), null);
      return { ok: false, scope: 'ip', retryS: seconds(windowMs ?? this.#l.windowS * 1000) };
    }
    return { ok: true, reserved: true };
  }

  /** The attempt did not fail (success, MFA, token service down): not a failure of this IP. */
  async released(ip: string, check: AuthCheck): Promise<void> {
    if (!check.ok || !check.reserved) return;
    // Once blocked, the counter was reset: giving back to it would start the next one below 0.
    if ((await this.ipBlockedFor(ip)) !== null) return;
    await this.#safe(() => this.#store.increment(`auth:ipfail:${clientKey(ip)}`, this.#l.windowS, -1), 0);
  }

  /** Cakemail refused the credentials (the IP's count already holds this attempt when reserved). */
  async failed(ip: string, username: string, check: AuthCheck): Promise<FailureResult> {
    const result: FailureResult = { ipBlocked: false, userLocked: false };
    const ipKey = clientKey(ip);
    const by = check.ok && check.reserved ? 0 : 1;
    const ipFailures = await this.#safe(() => this.#store.increment(`auth:ipfail:${ipKey}`, this.#l.windowS, by), 0);
    if (ipFailures >= this.#l.maxFailuresPerIp) {
      await this.#safe(() => this.#store.set(`auth:ipblock:${ipKey}`, '1', this.#l.blockS), undefined);
      // Counting starts again after the block, rather than re-blocking at the next failure.
      await this.#safe(() => this.#store.delete(`auth:ipfail:${ipKey}`), undefined);
      result.ipBlocked = true;
    }
    const user = await this.#userKey(username);
    if (user !== null) {
      const userFailures = await this.#safe(() => this.#store.increment(`auth:userfail:${user}`, this.#l.windowS), 0);
      if (userFailures >= this.#l.maxFailuresPerUser) {
        await this.#safe(() => this.#store.set(`auth:userlock:${user}`, '1', this.#l.blockS), undefined);
        await this.#safe(() => this.#store.delete(`auth:userfail:${user}`), undefined);
        result.userLocked = true;
      }
    }
    return result;
  }

  /** Cakemail accepted the credentials: this IP may log in as this user during a lock. */
  async succeeded(ip: string, username: string): Promise<void> {
    const user = await this.#userKey(username);
    if (user === null) return;
    await this.#safe(() => this.#store.set(`auth:good:${user}:${clientKey(ip)}`, '1', GOOD_IP_TTL_S), undefined);
  }

  /** Case and surrounding space do not make a new username to guess against. */
  #userKey(username: string): Promise<string | null> {
    return this.#safe(() => this.#hash.of(username.trim().toLowerCase()), null);
  }

  async #safe<T>(fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch {
      return fallback;
    }
  }
}

/** Whole seconds, never 0 while something is still blocked. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
