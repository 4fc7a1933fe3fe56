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
 * An attempt allowed to ask Cakemail has been counted in advance, as if it will fail (see
 * check()): `ipKey` and `userKey` name the counters it was added to (null: not counted, the
 * store was unreachable). released() gives the counts back unless it fails.
 */
export type AuthCheck = { ok: true; ipKey: string | null; userKey: string | null } | { ok: false; scope: 'ip' | 'user'; retryS: number };

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
   * may go ahead is counted now, against its IP and its username, as if it will fail:
   * otherwise many parallel connections (or a botnet's many IPs) would all pass the check
   * before the first failure is counted, and more passwords than the limits allow would be
   * checked.
   */
  async check(ip: string, username: string): Promise<AuthCheck> {
    const ipLeft = await this.ipBlockedFor(ip);
    if (ipLeft !== null) return { ok: false, scope: 'ip', retryS: ipLeft };
    const client = clientKey(ip);
    const user = await this.#userKey(username);
    let vouched = true;
    if (user !== null) {
      vouched = (await this.#safe(() => this.#store.get(`auth:good:${user}:${client}`), '1')) !== null;
      const lockMs = vouched ? null : await this.#safe(() => this.#store.ttlMs(`auth:userlock:${user}`), null);
      if (lockMs !== null) return { ok: false, scope: 'user', retryS: seconds(lockMs) };
    }

    const ipKey = `auth:ipfail:${client}`;
    const ipCount = await this.#safe(() => this.#store.increment(ipKey, this.#l.windowS), null);
    if (ipCount !== null && ipCount > this.#l.maxFailuresPerIp) {
      // The limit is taken by attempts still waiting for Cakemail: refuse this one, uncounted.
      await this.#add(ipKey, -1);
      return { ok: false, scope: 'ip', retryS: await this.#windowLeft(ipKey) };
    }
    const userKey = user === null ? null : `auth:userfail:${user}`;
    const userCount = userKey === null ? null : await this.#safe(() => this.#store.increment(userKey, this.#l.windowS), null);
    // An IP that logged in as this user recently is never refused for the username's sake.
    if (userKey !== null && userCount !== null && userCount > this.#l.maxFailuresPerUser && !vouched) {
      await this.#add(userKey, -1);
      if (ipCount !== null) await this.#add(ipKey, -1);
      return { ok: false, scope: 'user', retryS: await this.#windowLeft(userKey) };
    }
    return { ok: true, ipKey: ipCount === null ? null : ipKey, userKey: userCount === null ? null : userKey };
  }

  /** The attempt did not fail (success, MFA, token service down): its counts are given back. */
  async released(ip: string, username: string, check: AuthCheck): Promise<void> {
    if (!check.ok) return;
    // Once blocked or locked, the counter was reset: giving back to it would start the next
    // one below zero.
    if (check.ipKey && (await this.ipBlockedFor(ip)) === null) await this.#add(check.ipKey, -1);
    if (check.userKey) {
      const user = await this.#userKey(username);
      const locked = user === null ? null : await this.#safe(() => this.#store.ttlMs(`auth:userlock:${user}`), null);
      if (locked === null) await this.#add(check.userKey, -1);
    }
  }

  /** Cakemail refused the credentials; blocks the IP or locks the username at their limits. */
  async failed(ip: string, username: string, check: AuthCheck): Promise<FailureResult> {
    const result: FailureResult = { ipBlocked: false, userLocked: false };
    const counted = check.ok ? check : { ipKey: null, userKey: null };
    const ipKey = `auth:ipfail:${clientKey(ip)}`;
    // Counted in advance (add 0 reads the count), or now if the store was away then.
    const ipFailures = await this.#safe(() => this.#store.increment(ipKey, this.#l.windowS, counted.ipKey ? 0 : 1), 0);
    if (ipFailures >= this.#l.maxFailuresPerIp) {
      await this.#safe(() => this.#store.set(`auth:ipblock:${clientKey(ip)}`, '1', this.#l.blockS), undefined);
      // Counting starts again after the block, rather than re-blocking at the next failure.
      await this.#safe(() => this.#store.delete(ipKey), undefined);
      result.ipBlocked = true;
    }
    const user = await this.#userKey(username);
    if (user !== null) {
      const userKey = `auth:userfail:${user}`;
      const userFailures = await this.#safe(() => this.#store.increment(userKey, this.#l.windowS, counted.userKey ? 0 : 1), 0);
      if (userFailures >= this.#l.maxFailuresPerUser) {
        await this.#safe(() => this.#store.set(`auth:userlock:${user}`, '1', this.#l.blockS), undefined);
        await this.#safe(() => this.#store.delete(userKey), undefined);
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

  #add(key: string, by: number): Promise<number> {
    return this.#safe(() => this.#store.increment(key, this.#l.windowS, by), 0);
  }

  async #windowLeft(key: string): Promise<number> {
    const ms = await this.#safe(() => this.#store.ttlMs(key), null);
    return seconds(ms ?? this.#l.windowS * 1000);
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
