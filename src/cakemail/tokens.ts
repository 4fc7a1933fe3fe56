// SMTP credentials → Cakemail bearer tokens (docs/architecture.md#credentials-and-accounts). Tokens are cached per process,
// keyed by an HMAC of username and password under a key that is random per process: the cache
// never holds a plaintext password as a key, and a key is useless outside this process.
// Passwords and tokens stay in memory only; nothing here logs them.
//
// A changed password must stop working (docs/security.md, "Changed passwords"). A cached login
// is renewed with its refresh token, which Cakemail may or may not revoke when the password
// changes, so the gateway does not rely on it: a login is confirmed with the password grant at
// least every AUTH_RECHECK_S, and at once when the API answers 401 to its token. A recheck that
// cannot reach the token service keeps the cached token (the password was not proven wrong) and
// tries again RECHECK_RETRY_MS later; a refusal forgets the login.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { CakemailClient } from './client.ts';
import type { ApiFailure, ApiResult } from './errors.ts';
import type { TokenResponse } from './types.ts';

const PAT_PATTERN = /^ck_pat_[0-9a-f]{40}$/;
const MAX_ENTRIES = 10_000;
/** After a recheck that could not reach the token service, the next try comes this much later. */
const RECHECK_RETRY_MS = 30_000;

/** How a login is (re)confirmed: a refresh may do, the password must be checked (stale), or the token was refused. */
type Renewal = 'refresh' | 'recheck' | 'refused';

export type AuthOutcome =
  { ok: true; credential: Credential } | { ok: false; reason: 'invalid' | 'mfa' | 'unavailable'; detail: string };

interface TokenEntry {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  accounts: number[];
  /** When the password was last confirmed with the password grant. */
  checkedAt: number;
}

export interface TokenCacheOptions {
  client: CakemailClient;
  refreshMarginMs: number;
  /** A cached login is confirmed with the password grant at least this often (ms). */
  recheckMs: number;
  /** Sub-account to act for; sent as account_id. */
  accountId?: number;
  now?: () => number;
  /** Told the number of cached logins whenever it changes (the token_cache_entries gauge). */
  onSizeChange?: (entries: number) => void;
}

/** What a session holds after AUTH: who it is and how to get a valid bearer. */
export class Credential {
  /** Stable across processes, not secret: the account the mail is sent for (dedupe, sender cache). */
  readonly accountKey: string;
  readonly username: string;
  readonly accountId: number | undefined;
  readonly #cache: TokenCache;
  readonly #key: string;
  readonly #password: string;

  constructor(
    cache: TokenCache,
    key: string,
    username: string,
    password: string,
    accountKey: string,
    accountId: number | undefined,
  ) {
    this.#cache = cache;
    this.#key = key;
    this.username = username;
    this.#password = password;
    this.accountKey = accountKey;
    this.accountId = accountId;
  }

  /** A bearer valid for at least the refresh margin. */
  bearer(signal?: AbortSignal): Promise<ApiResult<string>> {
    return this.#cache.bearerFor(this.#key, this.username, this.#password, false, signal);
  }

  /** A fresh bearer after the API answered 401 to the current one. */
  renew(signal?: AbortSignal): Promise<ApiResult<string>> {
    return this.#cache.bearerFor(this.#key, this.username, this.#password, true, signal);
  }

  /**
   * Hands the login to `seal`, which must encrypt it (spool mode keeps it, sealed under
   * SPOOL_KEY, so delivery can get a bearer later: docs/security.md, "Spooled credentials").
   * The only way the password leaves this object.
   */
  sealWith(seal: (login: { username: string; password: string; accountId: number | undefined }) => string): string {
    return seal({ username: this.username, password: this.#password, accountId: this.accountId });
  }

  /**
   * The same login acting for another (sub-)account, chosen per message: the token stays the
   * login's own and every call carries `account_id` (docs/cakemail-api.md §2.5, mechanism 2), so
   * the API itself decides whether this login may use that account.
   */
  forAccount(accountId: number): Credential {
    if (accountId === this.accountId) return this;
    return new Credential(this.#cache, this.#key, this.username, this.#password, `account:${accountId}`, accountId);
  }
}

export class TokenCache {
  readonly #client: CakemailClient;
  readonly #marginMs: number;
  readonly #recheckMs: number;
  readonly #accountId: number | undefined;
  readonly #now: () => number;
  readonly #onSizeChange: (entries: number) => void;
  readonly #hmacKey = randomBytes(32);
  readonly #entries = new Map<string, TokenEntry>();
  /** Single flight: concurrent sessions with the same credentials share one token call. */
  readonly #inflight = new Map<string, Promise<ApiResult<TokenEntry | 'challenge'>>>();

  constructor(opts: TokenCacheOptions) {
    this.#client = opts.client;
    this.#marginMs = opts.refreshMarginMs;
    this.#recheckMs = opts.recheckMs;
    this.#accountId = opts.accountId;
    this.#now = opts.now ?? Date.now;
    this.#onSizeChange = opts.onSizeChange ?? (() => {});
  }

  async authenticate(username: string, password: string, signal?: AbortSignal): Promise<AuthOutcome> {
    const key = this.#hmac(username, password);
    if (PAT_PATTERN.test(password)) return this.#authenticatePat(key, username, password, signal);
    const res = await this.#entryFor(key, username, password, false, signal);
    if (!res.ok) return authFailure(res.error);
    if (res.value === 'challenge') return { ok: false, reason: 'mfa', detail: 'MFA challenge' };
    const accountId = this.#accountId ?? res.value.accounts[0];
    const accountKey = accountId !== undefined ? `account:${accountId}` : `login:${username.toLowerCase()}`;
    return { ok: true, credential: new Credential(this, key, username, password, accountKey, this.#accountId) };
  }

  /** Used by Credential; `force` skips a cached token the API just refused. */
  async bearerFor(
    key: string,
    username: string,
    password: string,
    force: boolean,
    signal?: AbortSignal,
  ): Promise<ApiResult<string>> {
    if (PAT_PATTERN.test(password)) return { ok: true, status: 200, value: password };
    const res = await this.#entryFor(key, username, password, force, signal);
    if (!res.ok) return res;
    if (res.value === 'challenge') return { ok: false, error: { kind: 'http', status: 401, message: 'MFA challenge' } };
    return { ok: true, status: res.status, value: res.value.accessToken };
  }

  // A PAT is the bearer itself (docs/cakemail-api.md §2.6). One cheap call proves it is valid
  // before AUTH succeeds, so a wrong PAT gets 535 at AUTH rather than 451 after DATA.
  async #authenticatePat(key: string, username: string, pat: string, signal?: AbortSignal): Promise<AuthOutcome> {
    if (!this.#entries.has(key)) {
      const res = await this.#client.senders(pat, 1, 1, this.#accountId, signal);
      if (!res.ok) return authFailure(res.error);
      const now = this.#now();
      this.#remember(key, {
        accessToken: pat,
        refreshToken: '',
        expiresAt: now + 10 * 60_000,
        accounts: [],
        checkedAt: now,
      });
    }
    const accountKey =
      this.#accountId !== undefined
        ? `account:${this.#accountId}`
        : `pat:${createHash('sha256').update(pat).digest('hex').slice(0, 24)}`;
    return { ok: true, credential: new Credential(this, key, username, pat, accountKey, this.#accountId) };
  }

  #entryFor(
    key: string,
    username: string,
    password: string,
    force: boolean,
    signal?: AbortSignal,
  ): Promise<ApiResult<TokenEntry | 'challenge'>> {
    const cached = this.#entries.get(key);
    const now = this.#now();
    const renewal: Renewal = force
      ? 'refused'
      : cached && now - cached.checkedAt >= this.#recheckMs
        ? 'recheck'
        : 'refresh';
    if (cached && renewal === 'refresh' && cached.expiresAt - this.#marginMs > now) {
      return Promise.resolve({ ok: true, status: 200, value: cached });
    }
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = this.#obtain(key, username, password, cached, renewal, signal).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #obtain(
    key: string,
    username: string,
    password: string,
    cached: TokenEntry | undefined,
    renewal: Renewal,
    signal?: AbortSignal,
  ): Promise<ApiResult<TokenEntry | 'challenge'>> {
    if (cached?.refreshToken && renewal === 'refresh') {
      const refreshed = await this.#client.token({ kind: 'refresh', refreshToken: cached.refreshToken }, signal);
      if (refreshed.ok && refreshed.value.kind === 'token')
        return { ok: true, status: refreshed.status, value: this.#store(key, refreshed.value.token, cached.checkedAt) };
      // A refused refresh token falls back to the password grant (what Cakemail's own clients do);
      // anything else (API down) is reported as it is.
      if (
        !refreshed.ok &&
        !(refreshed.error.kind === 'http' && refreshed.error.status >= 400 && refreshed.error.status < 500)
      )
        return refreshed;
    }
    // A recheck keeps the cached login until the password is refused; otherwise it is gone now.
    if (renewal !== 'recheck' && this.#entries.delete(key)) this.#onSizeChange(this.#entries.size);
    const grant = {
      kind: 'password' as const,
      username,
      password,
      ...(this.#accountId !== undefined ? { accountId: this.#accountId } : {}),
    };
    const res = await this.#client.token(grant, signal);
    if (!res.ok) {
      const refused = res.error.kind === 'http' && res.error.status >= 400 && res.error.status < 500;
      if (renewal === 'recheck' && !refused && cached && cached.expiresAt - this.#marginMs > this.#now()) {
        cached.checkedAt = this.#now() - this.#recheckMs + RECHECK_RETRY_MS;
        return { ok: true, status: 200, value: cached };
      }
      if (this.#entries.delete(key)) this.#onSizeChange(this.#entries.size);
      return res;
    }
    if (res.value.kind === 'challenge') {
      if (this.#entries.delete(key)) this.#onSizeChange(this.#entries.size);
      return { ok: true, status: res.status, value: 'challenge' };
    }
    return { ok: true, status: res.status, value: this.#store(key, res.value.token, this.#now()) };
  }

  #store(key: string, t: TokenResponse, checkedAt: number): TokenEntry {
    const entry: TokenEntry = {
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      expiresAt: this.#now() + t.expires_in * 1000,
      accounts: Array.isArray(t.accounts) ? t.accounts : [],
      checkedAt,
    };
    this.#remember(key, entry);
    return entry;
  }

  #remember(key: string, entry: TokenEntry): void {
    if (this.#entries.size >= MAX_ENTRIES) {
      // Bounded: drop the oldest insertion (Map keeps insertion order).
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#onSizeChange(this.#entries.size);
  }

  #hmac(username: string, password: string): string {
    return createHmac('sha256', this.#hmacKey).update(username).update('\0').update(password).digest('hex');
  }
}

function authFailure(e: ApiFailure): AuthOutcome {
  // 400/401/403/422 from /token: the credentials (or the account_id they asked for) are wrong.
  // Everything else is the API's problem, so the client should try again later (454).
  if (e.kind === 'http' && [400, 401, 403, 422].includes(e.status))
    return { ok: false, reason: 'invalid', detail: e.message };
  return { ok: false, reason: 'unavailable', detail: e.kind === 'http' ? `HTTP ${e.status}` : e.message };
}
