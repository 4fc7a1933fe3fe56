// Access and refresh tokens of the sandbox (docs/cakemail-api.md §2). Access tokens look like the
// real RS256 JWTs (same claims, readable `exp`) but are signed with random bytes: they are only
// valid because this store remembers them. Refresh rotates: the old refresh token stops working.
import { randomBytes } from 'node:crypto';
import type { TokenResponse } from '../cakemail/types.ts';
import { SEED_PATS, type SeedUser } from './seed.ts';

/** What a valid Bearer token allows. */
export interface Grant {
  kind: 'access' | 'pat';
  userId: number;
  email: string;
  /** Accounts this credential may act for (the per-request `account_id` must be one of them). */
  accounts: readonly number[];
  /** Account used when a request has no `account_id`. */
  accountId: number;
  scopes: readonly string[];
  /** Epoch ms; null for a PAT without expiry. */
  expiresAt: number | null;
}

interface RefreshRecord {
  userId: number;
  email: string;
  accounts: readonly number[];
  accountId: number;
  scopes: readonly string[];
  expiresAt: number;
}

/** Refresh tokens outlive access tokens; 30 days is a guess (the API does not document it). */
const REFRESH_TTL_MS = 30 * 24 * 3600 * 1000;
/** Bound on remembered tokens, so a client that logs in in a loop cannot grow memory forever. */
const MAX_TOKENS = 100_000;

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export class TokenStore {
  private readonly access = new Map<string, Grant>();
  private readonly refresh = new Map<string, RefreshRecord>();
  private readonly pats = new Map<string, Grant>();

  constructor(
    private readonly defaultTtlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    for (const pat of SEED_PATS) {
      this.pats.set(pat.token, {
        kind: 'pat',
        userId: pat.userId,
        email: pat.email,
        accounts: pat.accounts,
        accountId: pat.accounts[0]!,
        scopes: pat.scopes,
        expiresAt: null,
      });
    }
  }

  /** Password grant: issues a fresh access + refresh token pair. */
  issueFor(user: SeedUser, accountId: number, scopes: readonly string[], ttlSeconds?: number): TokenResponse {
    return this.issue(
      { userId: user.id, email: user.username, accounts: user.accounts, accountId, scopes },
      ttlSeconds,
    );
  }

  /** Refresh grant: rotates the refresh token; 'unknown' when it is unknown, already used or expired. */
  rotate(
    refreshToken: string,
    opts: { accountId?: number; scopes?: readonly string[]; ttlSeconds?: number },
  ): TokenResponse | 'unknown' | 'account_denied' {
    const record = this.refresh.get(refreshToken);
    if (!record || record.expiresAt <= this.now()) {
      this.refresh.delete(refreshToken);
      return 'unknown';
    }
    if (opts.accountId !== undefined && !record.accounts.includes(opts.accountId)) return 'account_denied';
    this.refresh.delete(refreshToken);
    return this.issue(
      {
        userId: record.userId,
        email: record.email,
        accounts: record.accounts,
        accountId: opts.accountId ?? record.accountId,
        scopes: opts.scopes ?? record.scopes,
      },
      opts.ttlSeconds,
    );
  }

  /** Forgets every access and refresh token of a user (a password change that revokes sessions). */
  revokeUser(userId: number): void {
    for (const [token, grant] of this.access) if (grant.userId === userId) this.access.delete(token);
    for (const [token, record] of this.refresh) if (record.userId === userId) this.refresh.delete(token);
  }

  /** The grant behind a Bearer token, or null when unknown or expired. Refresh tokens are not Bearer tokens. */
  authenticate(token: string): Grant | null {
    const pat = this.pats.get(token);
    if (pat) return pat;
    const grant = this.access.get(token);
    if (!grant) return null;
    if (grant.expiresAt !== null && grant.expiresAt <= this.now()) {
      this.access.delete(token);
      return null;
    }
    return grant;
  }

  private issue(who: Omit<RefreshRecord, 'expiresAt'>, ttlSeconds = this.defaultTtlSeconds): TokenResponse {
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const claims = {
      iss: 'urn:cakemail',
      iat,
      exp: iat + ttlSeconds,
      id: who.userId,
      email: who.email,
      account_id: who.accountId,
      accounts: '',
      scopes: who.scopes,
      jti: randomBytes(8).toString('hex'),
    };
    const accessToken = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${randomBytes(64).toString('base64url')}`;
    const refreshToken = randomBytes(24).toString('hex');
    remember(this.access, accessToken, { kind: 'access', ...who, expiresAt: nowMs + ttlSeconds * 1000 });
    remember(this.refresh, refreshToken, { ...who, expiresAt: nowMs + REFRESH_TTL_MS });
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: ttlSeconds,
      refresh_token: refreshToken,
      accounts: [...who.accounts],
    };
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_TOKENS) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** A random MFA challenge string (docs/cakemail-api.md §2.3). */
export function newChallenge(): string {
  return randomBytes(16).toString('hex');
}
