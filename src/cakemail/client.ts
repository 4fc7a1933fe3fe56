// One method per Cakemail endpoint the gateway calls, over one bounded pool of keep-alive
// connections (undici's Pool: API_MAX_CONNECTIONS at most, requests queue past it), so a burst
// cannot open hundreds of TLS connections to the API and no request pays for a handshake or
// per-request setup. Every attempt has its own deadline (API_TIMEOUT_MS, for the headers and
// again for the body, counted from when the request is on a connection); the caller's signal
// (the message deadline) bounds the whole, queueing included. No retries here: retry policy
// lives in one layer (cakemail/retry.ts).
import { Pool } from 'undici';
import type { Metrics } from '../observability/metrics.ts';
import { EmailSerializer } from './serialize.ts';
import { errorMessage, networkFailure, parseRetryAfter, type ApiFailure, type ApiResult } from './errors.ts';
import type {
  EmailLogsPage,
  EmailStatus,
  EmailLogsQuery,
  SendersPage,
  SubmitEmail,
  SubmitEmailResponse,
  TokenResponse,
} from './types.ts';

export type TokenGrant =
  | { kind: 'password'; username: string; password: string; accountId?: number }
  | { kind: 'refresh'; refreshToken: string };

/** `/token` answers either tokens or, for an MFA login, a challenge. */
export type TokenAnswer = { kind: 'token'; token: TokenResponse } | { kind: 'challenge' };

export interface CakemailClientOptions {
  baseUrl: string;
  timeoutMs: number;
  metrics?: Metrics;
  /** Most connections to the API at once (API_MAX_CONNECTIONS); default 64. */
  maxConnections?: number;
}

interface RequestInit {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | Buffer;
}

export class CakemailClient {
  /** The base URL's path (e.g. a reverse proxy's prefix), without a trailing slash. */
  readonly #prefix: string;
  readonly #metrics: Metrics | undefined;
  readonly #pool: Pool;
  readonly #serializer = new EmailSerializer();

  constructor(opts: CakemailClientOptions) {
    const base = new URL(opts.baseUrl);
    this.#prefix = base.pathname.replace(/\/+$/, '');
    this.#metrics = opts.metrics;
    this.#pool = new Pool(base.origin, {
      connections: opts.maxConnections ?? 64,
      // Idle connections are kept a while (the API's own keep-alive limit wins if shorter).
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  }

  /** Closes the pool's connections once the requests under way have finished. */
  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** POST /token: password or refresh grant, form-encoded, scope `user`. */
  async token(grant: TokenGrant, signal?: AbortSignal): Promise<ApiResult<TokenAnswer>> {
    const form = new URLSearchParams();
    if (grant.kind === 'password') {
      form.set('grant_type', 'password');
      form.set('username', grant.username);
      form.set('password', grant.password);
      form.set('scopes', 'user');
      if (grant.accountId !== undefined) form.set('account_id', String(grant.accountId));
    } else {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', grant.refreshToken);
    }
    const res = await this.#request(
      'token',
      '/token',
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      },
      signal,
    );
    if (!res.ok) {
      // The spec's description says an MFA challenge may come back as 401 with a challenge body.
      if (res.error.kind === 'http' && res.error.status === 401 && res.challenge)
        return { ok: true, status: 401, value: { kind: 'challenge' } };
      return res;
    }
    const body = res.value as Record<string, unknown>;
    if (typeof body.challenge === 'string') return { ok: true, status: res.status, value: { kind: 'challenge' } };
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      return {
        ok: false,
        error: { kind: 'bad_response', status: res.status, message: 'token response without access_token/expires_in' },
      };
    }
    return { ok: true, status: res.status, value: { kind: 'token', token: body as unknown as TokenResponse } };
  }

  /** GET /brands/default/senders, one page. */
  async senders(
    bearer: string,
    page: number,
    perPage: number,
    accountId?: number,
    signal?: AbortSignal,
  ): Promise<ApiResult<SendersPage>> {
    const q = new URLSearchParams({ page: String(page), per_page: String(perPage) });
    if (accountId !== undefined) q.set('account_id', String(accountId));
    const res = await this.#request(
      'senders',
      `/brands/default/senders?${q}`,
      {
        method: 'GET',
        headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
      },
      signal,
    );
    if (!res.ok) return res;
    const body = res.value as Partial<SendersPage>;
    if (!Array.isArray(body.data))
      return {
        ok: false,
        error: { kind: 'bad_response', status: res.status, message: 'senders response without data[]' },
      };
    return { ok: true, status: res.status, value: body as SendersPage };
  }

  /**
   * POST /v2/emails. Success means 2xx *and* `data.status == "queued"`; a 2xx carrying
   * `rejected`/`error` comes back as a value for the caller to treat as a refusal.
   */
  async submitEmail(
    bearer: string,
    email: SubmitEmail,
    accountId?: number,
    signal?: AbortSignal,
  ): Promise<ApiResult<SubmitEmailResponse>> {
    const path = accountId === undefined ? '/v2/emails' : `/v2/emails?account_id=${accountId}`;
    const res = await this.#request(
      'emails',
      path,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json' },
        body: this.#serializer.serialize(email),
      },
      signal,
    );
    if (!res.ok) return res;
    const body = res.value as Partial<SubmitEmailResponse>;
    const status = body?.data?.status;
    if (status !== 'queued' && status !== 'rejected' && status !== 'error') {
      return {
        ok: false,
        error: { kind: 'bad_response', status: res.status, message: 'email response without data.status' },
      };
    }
    return { ok: true, status: res.status, value: body as SubmitEmailResponse };
  }

  /** GET /v2/logs/emails, one page: did an earlier, unanswered send reach Cakemail? */
  async emailLogs(
    bearer: string,
    query: EmailLogsQuery,
    accountId?: number,
    signal?: AbortSignal,
  ): Promise<ApiResult<EmailLogsPage>> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    if (accountId !== undefined) q.set('account_id', String(accountId));
    const res = await this.#request(
      'logs',
      `/v2/logs/emails?${q}`,
      {
        method: 'GET',
        headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
      },
      signal,
    );
    if (!res.ok) return res;
    const body = res.value as Partial<EmailLogsPage>;
    if (!Array.isArray(body?.data))
      return {
        ok: false,
        error: { kind: 'bad_response', status: res.status, message: 'logs response without data[]' },
      };
    return { ok: true, status: res.status, value: body as EmailLogsPage };
  }

  /** `GET /v2/emails/{id}`: what became of an email Cakemail queued (delivered, bounced, …). */
  async getEmail(
    bearer: string,
    id: string,
    accountId?: number,
    signal?: AbortSignal,
  ): Promise<ApiResult<EmailStatus>> {
    const q = accountId !== undefined ? `?account_id=${accountId}` : '';
    const res = await this.#request(
      'email_status',
      `/v2/emails/${encodeURIComponent(id)}${q}`,
      { method: 'GET', headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' } },
      signal,
    );
    if (!res.ok) return res;
    const body = res.value as Partial<EmailStatus> & { data?: Partial<EmailStatus> };
    // The schema names the fields at the top level; a `data` envelope (as POST answers) is accepted too.
    const status = typeof body?.status === 'string' ? body : body?.data;
    if (!status || typeof status.status !== 'string')
      return {
        ok: false,
        error: { kind: 'bad_response', status: res.status, message: 'email response without status' },
      };
    return { ok: true, status: res.status, value: status as EmailStatus };
  }

  async #request(
    endpoint: string,
    path: string,
    init: RequestInit,
    signal?: AbortSignal,
  ): Promise<{ ok: true; status: number; value: unknown } | { ok: false; error: ApiFailure; challenge?: boolean }> {
    const started = performance.now();
    const observe = (result: string) => {
      this.#metrics?.apiRequests.inc({ endpoint, result });
      this.#metrics?.apiLatency.observe({ endpoint }, (performance.now() - started) / 1000);
    };
    let status: number;
    let retryAfter: string | undefined;
    let text: string;
    try {
      const res = await this.#pool.request({
        path: this.#prefix + path,
        method: init.method,
        headers: init.headers,
        body: init.body,
        signal,
      });
      status = res.statusCode;
      const ra = res.headers['retry-after'];
      retryAfter = Array.isArray(ra) ? ra[0] : ra;
      text = await res.body.text();
    } catch (err) {
      const error = networkFailure(err);
      observe(error.kind === 'timeout' ? 'timeout' : 'network');
      return { ok: false, error };
    }
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    observe(String(status));
    if (status >= 200 && status < 300) {
      if (body === undefined)
        return { ok: false, error: { kind: 'bad_response', status, message: 'response body is not JSON' } };
      return { ok: true, status, value: body };
    }
    const { message, code } = errorMessage(body, status);
    const retryAfterMs = parseRetryAfter(retryAfter ?? null);
    const error: ApiFailure = { kind: 'http', status, message };
    if (code !== undefined) error.code = code;
    if (retryAfterMs !== undefined) error.retryAfterMs = retryAfterMs;
    const challenge =
      !!body && typeof body === 'object' && typeof (body as { challenge?: unknown }).challenge === 'string';
    return { ok: false, error, challenge };
  }
}
