// One AUTH attempt, start to finish: limits first (an IP block, a username lock or the spent
// new-address budget refuses even the right password, without asking Cakemail), then the negative cache, then Cakemail's
// /token. Returns a typed decision; the session hook only turns it into smtp-server's callback.
import type { Credential, TokenCache } from '../cakemail/tokens.ts';
import { logText } from '../observability/log-text.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { AuthCheck, AuthGuard } from './auth-guard.ts';
import type { NegativeAuthCache } from './auth-negative-cache.ts';
import {
  authConnectionLimit,
  authIpBlocked,
  authLoginsInProgress,
  authNewAddressBudget,
  authUserLocked,
  sessionReplies,
  type Reply,
} from '../delivery/replies.ts';

/** Delay before answering a failed AUTH: slows guessing without costing a real user much. */
const AUTH_FAILURE_DELAY_MS = 1000;

export type AuthDecision = { ok: true; credential: Credential } | { ok: false; reply: Reply; delayMs: number };

export interface AuthenticatorDeps {
  tokens: TokenCache;
  guard: AuthGuard;
  negative: NegativeAuthCache;
  maxFailuresPerConnection: number;
  logger: Logger;
  metrics: Metrics;
}

export interface AuthAttempt {
  method: string;
  username: string;
  password: string;
  /** The client's address (after PROXY protocol, when that is in use). */
  remote: string;
  /** One object per connection: failures are counted on it. */
  connection: object;
  log: Logger;
}

export class Authenticator {
  readonly #d: AuthenticatorDeps;
  readonly #failures = new WeakMap<object, number>();

  constructor(deps: AuthenticatorDeps) {
    this.#d = deps;
  }

  /** At connect: a blocked IP gets 421 4.7.0 with the seconds left, before the greeting. */
  async refuseAtConnect(remote: string): Promise<Reply | null> {
    const left = await this.#d.guard.ipBlockedFor(remote);
    if (left === null) return null;
    this.#d.metrics.authBlocked.inc({ scope: 'ip' });
    return authIpBlocked(left, true);
  }

  async attempt(a: AuthAttempt): Promise<AuthDecision> {
    const who = { method: a.method, username: logText(a.username), remote: a.remote };
    const gate = await this.#d.guard.check(a.remote, a.username);
    if (!gate.ok) {
      this.#d.metrics.authBlocked.inc({ scope: gate.scope });
      if (gate.scope === 'spray') {
        // Counted (auth_blocked_total{scope="spray"}); a spray is thousands of attempts, so
        // one line each would be a log flood.
        const reply = authNewAddressBudget(gate.retryS);
        a.log.debug(
          { ...who, result: reply.label, retryS: gate.retryS },
          'authentication refused: new-address budget spent',
        );
        return this.#failure(a, reply);
      }
      if (gate.pending) {
        // Not a block: the limit was still taken by logins in progress after waiting for them.
        // Rare for real clients (a very slow token service, or many pods' logins at once), so
        // worth a line each time.
        const reply = authLoginsInProgress(gate.scope, gate.retryS);
        a.log.warn(
          { ...who, result: reply.label, retryS: gate.retryS },
          'authentication refused: too many logins from this client or for this username still in progress',
        );
        return this.#failure(a, reply);
      }
      const reply = gate.scope === 'ip' ? authIpBlocked(gate.retryS, false) : authUserLocked(gate.retryS);
      // Counted (auth_blocked_total); the block or lock was logged once when it began, and an
      // attacker retrying against it must not flood the log.
      a.log.debug({ ...who, result: reply.label, retryS: gate.retryS }, 'authentication refused by brute-force limits');
      return this.#failure(a, reply);
    }

    if (this.#d.negative.has(a.username, a.password)) {
      // Same answer as Cakemail gave a moment ago, without asking it again.
      return this.#invalid(a, gate, { ...who, cached: true });
    }

    const res = await this.#d.tokens.authenticate(a.username, a.password);
    if (res.ok || res.reason !== 'invalid') await this.#d.guard.released(a.remote, a.username, gate);
    if (res.ok) {
      await this.#d.guard.succeeded(a.remote, a.username, gate);
      this.#d.metrics.auth.inc({ result: 'ok' });
      a.log.info(who, 'authenticated');
      return { ok: true, credential: res.credential };
    }
    if (res.reason === 'unavailable') {
      // Our problem, not the client's: no failure counted, no delay (docs/architecture.md#credentials-and-accounts).
      this.#d.metrics.auth.inc({ result: sessionReplies.authUnavailable.label });
      a.log.warn({ ...who, result: sessionReplies.authUnavailable.label, detail: res.detail }, 'authentication failed');
      return { ok: false, reply: sessionReplies.authUnavailable, delayMs: 0 };
    }
    if (res.reason === 'mfa') {
      // The password was right; MFA just cannot be completed over SMTP. Not a guess.
      this.#d.metrics.auth.inc({ result: sessionReplies.authMfa.label });
      a.log.warn({ ...who, result: sessionReplies.authMfa.label }, 'authentication failed');
      return { ok: false, reply: sessionReplies.authMfa, delayMs: AUTH_FAILURE_DELAY_MS };
    }
    this.#d.negative.add(a.username, a.password);
    return this.#invalid(a, gate, { ...who, detail: res.detail });
  }

  /** Wrong credentials: counted per IP and per username, answered 535 (or 421 on the last). */
  async #invalid(a: AuthAttempt, gate: AuthCheck, fields: Record<string, unknown>): Promise<AuthDecision> {
    a.log.warn({ ...fields, result: sessionReplies.authInvalid.label }, 'authentication failed');
    const counted = await this.#d.guard.failed(a.remote, a.username, gate);
    if (counted.ipBlocked) a.log.warn({ remote: a.remote }, 'client IP blocked after too many failed logins');
    if (counted.userLocked)
      a.log.warn({ username: fields.username }, 'username locked to its known IPs after too many failed logins');
    return this.#failure(a, sessionReplies.authInvalid);
  }

  /** Counts a failure on the connection; the last one allowed closes it (421). */
  #failure(a: AuthAttempt, reply: Reply): AuthDecision {
    const n = (this.#failures.get(a.connection) ?? 0) + 1;
    this.#failures.set(a.connection, n);
    if (n >= this.#d.maxFailuresPerConnection) {
      this.#d.metrics.authBlocked.inc({ scope: 'connection' });
      const closing = authConnectionLimit(this.#d.maxFailuresPerConnection, reply);
      this.#d.metrics.auth.inc({ result: closing.label });
      return { ok: false, reply: closing, delayMs: AUTH_FAILURE_DELAY_MS };
    }
    this.#d.metrics.auth.inc({ result: reply.label });
    return { ok: false, reply, delayMs: AUTH_FAILURE_DELAY_MS };
  }
}
