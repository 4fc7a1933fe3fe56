// Password-guessing limits kept in the state store, so that they hold across a fleet
// (docs/security.md, "Authentication abuse"):
//  - per client IP (IPv6: its /64): AUTH_MAX_FAILURES_PER_IP failures within
//    AUTH_FAILURE_WINDOW_S block the IP for AUTH_BLOCK_S, the right password included;
//  - per username: AUTH_MAX_FAILURES_PER_USER failures within the window lock the username for
//    AUTH_BLOCK_S against every IP that has not logged in as it in the last 24 h. A guesser
//    spread over many IPs is stopped; the application servers that send for that user keep
//    working, and a guesser cannot lock the real user out;
//  - across addresses and usernames (password spraying): failed logins from addresses that have
//    never logged in successfully are counted fleet-wide over the last minute; past
//    AUTH_NEW_ADDRESS_FAILURES_PER_MIN such an address gets 454 4.7.0 without a token call.
//    An address that has logged in (as anyone) in the last KNOWN_ADDRESS_TTL_S is not counted
//    nor refused, so the applications that already send keep working during a spray.
// Usernames appear in keys only as an HMAC (state/keyed-hash.ts). Trusted networks get no
// exemption here: a compromised host inside them is exactly who would guess passwords.
// The store failing means no limit (fail open, counted and logged by the store's monitor): a
// Redis outage must not stop every login.
import { randomUUID } from 'node:crypto';
import type { KeyedHash } from '../state/keyed-hash.ts';
import type { StateStore } from '../state/store.ts';
import { clientKey } from '../lib/cidr.ts';

/** How long a successful login vouches for its IP when the username is locked. */
const GOOD_IP_TTL_S = 86_400;
/** How long a successful login makes its address a known one for the spray budget. */
const KNOWN_ADDRESS_TTL_S = 30 * 86_400;
/** The spray budget's window. */
const SPRAY_WINDOW_MS = 60_000;
const SPRAY_KEY = 'auth:spray';
/** Reservation slots read back: the current one and two before it, so pods whose clocks differ
 *  by less than a slot still see each other's logins in progress. */
const SLOTS_READ = 3;
/** Pause between looks while other logins are in progress; jittered so waiters spread out. */
const WAIT_STEP_MIN_MS = 50;
const WAIT_STEP_SPREAD_MS = 100;

export interface AuthLimits {
  maxFailuresPerIp: number;
  maxFailuresPerUser: number;
  windowS: number;
  blockS: number;
  /**
   * Length of a reservation slot (ms). Longer than the longest token call, so a reservation is
   * always counted while its login is in progress; a crashed process's reservations expire
   * after at most SLOTS_READ slots, without ever having counted as failures.
   */
  pendingSlotMs: number;
  /** How long a login waits for others in progress to settle before it is refused (ms). */
  pendingWaitMs: number;
  /** Failed logins in any 60 s, fleet-wide, from addresses never seen logging in; 0 = no budget. */
  newAddressFailuresPerMin: number;
}

export interface AuthClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: AuthClock = { now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/**
 * An attempt allowed to ask Cakemail holds a reservation (see check()): `ipKey` and `userKey`
 * name the pending counters it was added to (null: not counted, the store was unreachable).
 * released() or failed() gives them back. A refusal says whether the limit was taken by real
 * failures or, after waiting, still by logins in progress (`pending`).
 */
export type AuthCheck =
  | { ok: true; ipKey: string | null; userKey: string | null; address: AddressStanding }
  | { ok: false; scope: 'ip' | 'user' | 'spray'; retryS: number; pending: boolean };

/**
 * What the address is to the spray budget: `vouched` (it logged in as this username lately),
 * `known` (it logged in as someone), or `new`, holding a place in the budget (`entry`: null
 * when the store could not be reached, so nothing was taken).
 */
export type AddressStanding = { kind: 'vouched' } | { kind: 'known' } | { kind: 'new'; entry: string | null };

export interface FailureResult {
  /** This failure blocked the IP. */
  ipBlocked: boolean;
  /** This failure locked the username. */
  userLocked: boolean;
}

/** One counter's reservation attempt: taken, or refused because of failures or of pending logins. */
type Reservation = { kind: 'taken'; key: string | null } | { kind: 'full' } | { kind: 'busy' };

export class AuthGuard {
  readonly #store: StateStore;
  readonly #hash: KeyedHash;
  readonly #l: AuthLimits;
  readonly #clock: AuthClock;

  constructor(store: StateStore, hash: KeyedHash, limits: AuthLimits, clock: AuthClock = realClock) {
    this.#store = store;
    this.#hash = hash;
    this.#l = limits;
    this.#clock = clock;
  }

  /** Seconds the IP stays blocked, or null. */
  async ipBlockedFor(ip: string): Promise<number | null> {
    const ms = await this.#safe(() => this.#store.ttlMs(`auth:ipblock:${clientKey(ip)}`), null);
    return ms === null ? null : seconds(ms);
  }

  /**
   * Before asking Cakemail: is this IP, or this username from this IP, refused? An attempt that
   * may go ahead reserves a place, against its IP and its username, in short-lived pending
   * counters; failures and reservations together never exceed a limit, so many parallel
   * connections (or a botnet's many IPs) cannot check more passwords than the limits allow.
   * When only reservations stand in the way, the attempt waits for them to settle (they may
   * all succeed) rather than being refused: a pool of connections logging in at once is not a
   * guesser.
   */
  async check(ip: string, username: string): Promise<AuthCheck> {
    const client = clientKey(ip);
    const user = await this.#userKey(username);
    const vouched =
      user === null || (await this.#safe(() => this.#store.get(`auth:good:${user}:${client}`), '1')) !== null;
    const address = await this.#standing(client, vouched);
    if (address.kind === 'spent')
      return { ok: false, scope: 'spray', retryS: seconds(address.retryMs), pending: false };
    const check = await this.#gate(client, user, vouched, address);
    if (!check.ok) await this.#giveBack(address);
    return check;
  }

  /**
   * The address's standing for the spray budget; a new one takes a place in it (given back if
   * the login does not fail), or finds the budget spent. The store unreachable: no budget.
   */
  async #standing(client: string, vouched: boolean): Promise<AddressStanding | { kind: 'spent'; retryMs: number }> {
    if (vouched) return { kind: 'vouched' };
    if (this.#l.newAddressFailuresPerMin <= 0) return { kind: 'known' };
    const known = await this.#safe(() => this.#store.get(`auth:known:${client}`), '1');
    if (known !== null) return { kind: 'known' };
    const entry = randomUUID();
    const taken = await this.#safe(
      () => this.#store.windowAdd(SPRAY_KEY, entry, SPRAY_WINDOW_MS, this.#l.newAddressFailuresPerMin),
      null,
    );
    if (taken === null) return { kind: 'new', entry: null };
    if (!taken.added) return { kind: 'spent', retryMs: taken.retryMs };
    return { kind: 'new', entry };
  }

  async #giveBack(address: AddressStanding): Promise<void> {
    if (address.kind !== 'new' || address.entry === null) return;
    const entry = address.entry;
    await this.#safe(() => this.#store.windowRemove(SPRAY_KEY, entry), undefined);
  }

  async #gate(client: string, user: string | null, vouched: boolean, address: AddressStanding): Promise<AuthCheck> {
    const deadline = this.#clock.now() + this.#l.pendingWaitMs;
    for (;;) {
      const ipLeft = await this.#safe(() => this.#store.ttlMs(`auth:ipblock:${client}`), null);
      if (ipLeft !== null) return { ok: false, scope: 'ip', retryS: seconds(ipLeft), pending: false };
      if (user !== null) {
        const lockMs = vouched ? null : await this.#safe(() => this.#store.ttlMs(`auth:userlock:${user}`), null);
        if (lockMs !== null) return { ok: false, scope: 'user', retryS: seconds(lockMs), pending: false };
      }

      const ipFail = `auth:ipfail:${client}`;
      const ipRes = await this.#reserve(`auth:ippend:${client}`, ipFail, this.#l.maxFailuresPerIp);
      let busy: 'ip' | 'user';
      if (ipRes.kind === 'full')
        return { ok: false, scope: 'ip', retryS: await this.#windowLeft(ipFail), pending: false };
      if (ipRes.kind === 'busy') busy = 'ip';
      else if (user === null) return { ok: true, ipKey: ipRes.key, userKey: null, address };
      else {
        const userFail = `auth:userfail:${user}`;
        // An IP that logged in as this user recently is never refused for the username's sake,
        // but its attempts still count against the username.
        const userRes = await this.#reserve(
          `auth:userpend:${user}`,
          userFail,
          vouched ? Number.POSITIVE_INFINITY : this.#l.maxFailuresPerUser,
        );
        if (userRes.kind === 'taken') return { ok: true, ipKey: ipRes.key, userKey: userRes.key, address };
        await this.#release(ipRes.key);
        if (userRes.kind === 'full')
          return { ok: false, scope: 'user', retryS: await this.#windowLeft(userFail), pending: false };
        busy = 'user';
      }

      if (this.#clock.now() >= deadline) {
        // Still no room once the logins in progress had time to settle: refused as a block,
        // for no longer than a reservation can last.
        return { ok: false, scope: busy, retryS: seconds(this.#l.pendingWaitMs), pending: true };
      }
      await this.#clock.sleep(WAIT_STEP_MIN_MS + Math.floor(Math.random() * WAIT_STEP_SPREAD_MS));
    }
  }

  /** The attempt did not fail (success, MFA, token service down): its reservations are given back. */
  async released(_ip: string, _username: string, check: AuthCheck): Promise<void> {
    if (!check.ok) return;
    await this.#release(check.ipKey);
    await this.#release(check.userKey);
    await this.#giveBack(check.address);
  }

  /** Cakemail refused the credentials; blocks the IP or locks the username at their limits. */
  async failed(ip: string, username: string, check: AuthCheck): Promise<FailureResult> {
    const result: FailureResult = { ipBlocked: false, userLocked: false };
    const reserved = check.ok ? check : { ipKey: null, userKey: null };
    const client = clientKey(ip);
    const ipKey = `auth:ipfail:${client}`;
    // The failure is counted before its reservation is given back, so that a concurrent check
    // (which reads reservations before failures) sees it at least once, never zero times.
    const ipFailures = await this.#safe(() => this.#store.increment(ipKey, this.#l.windowS), 0);
    await this.#release(reserved.ipKey);
    if (ipFailures >= this.#l.maxFailuresPerIp) {
      await this.#safe(() => this.#store.set(`auth:ipblock:${client}`, '1', this.#l.blockS), undefined);
      // Counting starts again after the block, rather than re-blocking at the next failure.
      await this.#safe(() => this.#store.delete(ipKey), undefined);
      result.ipBlocked = true;
    }
    const user = await this.#userKey(username);
    if (user !== null) {
      const userKey = `auth:userfail:${user}`;
      const userFailures = await this.#safe(() => this.#store.increment(userKey, this.#l.windowS), 0);
      await this.#release(reserved.userKey);
      if (userFailures >= this.#l.maxFailuresPerUser) {
        await this.#safe(() => this.#store.set(`auth:userlock:${user}`, '1', this.#l.blockS), undefined);
        await this.#safe(() => this.#store.delete(userKey), undefined);
        result.userLocked = true;
      }
    } else {
      await this.#release(reserved.userKey);
    }
    return result;
  }

  /**
   * Cakemail accepted the credentials: this IP may log in as this user during a lock, and is a
   * known address for the spray budget. `check` is this attempt's check: an address already
   * vouched for is not written again as known (it is exempt either way).
   */
  async succeeded(ip: string, username: string, check?: AuthCheck): Promise<void> {
    const client = clientKey(ip);
    if (!(check?.ok && check.address.kind === 'vouched'))
      await this.#safe(() => this.#store.set(`auth:known:${client}`, '1', KNOWN_ADDRESS_TTL_S), undefined);
    const user = await this.#userKey(username);
    if (user === null) return;
    await this.#safe(() => this.#store.set(`auth:good:${user}:${client}`, '1', GOOD_IP_TTL_S), undefined);
  }

  /** Case and surrounding space do not make a new username to guess against. */
  #userKey(username: string): Promise<string | null> {
    return this.#safe(() => this.#hash.of(username.trim().toLowerCase()), null);
  }

  /**
   * Adds a reservation to the current slot of `pendingBase`, then counts every reservation
   * still live (its own slot and the ones before it) and the real failures. Reservations are
   * read before failures: failed() adds the failure before it gives the reservation back, so a
   * login moving from one to the other is never missed. Over the limit, the reservation is
   * taken back; two checks racing for the last place may both back off (and wait), never both
   * go ahead. The store unreachable: no limit (fail open), nothing reserved.
   */
  async #reserve(pendingBase: string, failKey: string, limit: number): Promise<Reservation> {
    const slot = Math.floor(this.#clock.now() / this.#l.pendingSlotMs);
    const key = `${pendingBase}:${slot}`;
    const mine = await this.#safe(() => this.#store.increment(key, this.#slotTtlS()), null);
    if (mine === null) return { kind: 'taken', key: null };
    if (limit === Number.POSITIVE_INFINITY) return { kind: 'taken', key };
    let pending = mine;
    for (let back = 1; back < SLOTS_READ; back++) pending += await this.#count(`${pendingBase}:${slot - back}`);
    const failures = await this.#count(failKey);
    if (failures + pending <= limit) return { kind: 'taken', key };
    await this.#release(key);
    return failures >= limit ? { kind: 'full' } : { kind: 'busy' };
  }

  /** Gives a reservation back, unless its slot is no longer read (nothing to give back then). */
  async #release(key: string | null): Promise<void> {
    if (key === null) return;
    const slot = Number(key.slice(key.lastIndexOf(':') + 1));
    if (slot <= Math.floor(this.#clock.now() / this.#l.pendingSlotMs) - SLOTS_READ) return;
    await this.#safe(() => this.#store.increment(key, this.#slotTtlS(), -1), 0);
  }

  async #count(key: string): Promise<number> {
    const v = await this.#safe(() => this.#store.get(key), null);
    const n = v === null ? 0 : Number(v);
    return Number.isFinite(n) && n > 0 ? n : 0;
  }

  /** A slot's counter lives as long as it is read. */
  #slotTtlS(): number {
    return Math.ceil((this.#l.pendingSlotMs * SLOTS_READ) / 1000);
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
