// API failures as typed values. The API's error bodies come in two shapes (docs/cakemail-api.md §5):
// the documented `{detail: [{msg, loc, type, code}]}` and FastAPI's bare `{detail: "..."}`.

export type ApiFailure =
  /** The API answered with a non-success status. */
  | { kind: 'http'; status: number; message: string; code?: number; retryAfterMs?: number }
  /** No answer within the per-attempt deadline: the API may or may not have acted on it. */
  | { kind: 'timeout'; message: string }
  /**
   * The connection failed. `sent: false` only when the request provably never left
   * (connection refused, name not resolved): the one network failure that is safe to retry.
   */
  | { kind: 'network'; code: string; sent: boolean; message: string }
  /** A success status with a body that does not match the contract. */
  | { kind: 'bad_response'; status: number; message: string };

export type ApiResult<T> = { ok: true; status: number; value: T } | { ok: false; error: ApiFailure };

/** The human-readable message of an error body, in either shape. */
export function errorMessage(body: unknown, status: number): { message: string; code?: number } {
  if (body && typeof body === 'object' && 'detail' in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === 'string' && detail.length > 0) return { message: detail };
    if (Array.isArray(detail)) {
      const items = detail.filter((d): d is Record<string, unknown> => !!d && typeof d === 'object');
      const parts = items.map((d) => {
        const msg = typeof d.msg === 'string' ? d.msg : JSON.stringify(d);
        const loc = Array.isArray(d.loc) ? d.loc.filter((l) => l !== 'body').join('.') : '';
        return loc ? `${loc}: ${msg}` : msg;
      });
      const code = items.map((d) => d.code).find((c): c is number => typeof c === 'number');
      if (parts.length > 0)
        return code === undefined ? { message: parts.join('; ') } : { message: parts.join('; '), code };
    }
  }
  return { message: `HTTP ${status}` };
}

/** Retry-After as milliseconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

// Errors whose request never reached the server: safe to send again.
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

// undici's own deadlines (headersTimeout, bodyTimeout): the request was sent, no answer in time.
const TIMED_OUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Classify what the HTTP client threw (undici puts the code on the error, fetch on its cause). */
export function networkFailure(err: unknown): ApiFailure {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string; name?: string };
  };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError' || TIMED_OUT.has(e?.code ?? ''))
    return { kind: 'timeout', message: 'request timed out' };
  if (e?.name === 'AbortError') return { kind: 'timeout', message: 'request aborted at the message deadline' };
  const code = e?.cause?.code ?? e?.code ?? 'UNKNOWN';
  const detail = e?.cause?.message ?? e?.message;
  return { kind: 'network', code, sent: !NOT_SENT.has(code), message: `${code}${detail ? `: ${detail}` : ''}` };
}

/**
 * A failure after which nobody knows whether Cakemail queued the email: the request was written
 * and the answer was lost (timeout, reset, closed socket). Everything else is known: an HTTP
 * status is the API's own answer, and `sent: false` means the request never left.
 */
export function isAmbiguous(f: ApiFailure): boolean {
  return f.kind === 'timeout' || (f.kind === 'network' && f.sent);
}
