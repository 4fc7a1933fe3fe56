// What one API failure means for the SMTP client (docs/architecture.md#outcomes-and-replies, docs/threat-model.md#faults-in-front-of-the-api): only the
// sender's own problems (400/422 content, 413 size, `rejected`) are permanent; everything
// that is ours or the API's is a 4xx so the client keeps the message and retries.
import type { ApiFailure } from '../cakemail/errors.ts';
import type { RecipientResult, TempFailure } from './outcome.ts';

/** Cakemail's "access to the requested account denied" code, returned as HTTP 400 (docs/cakemail-api.md §2.5). */
const ACCOUNT_DENIED = 8004;

/** The API refused the `account_id` asked for (code 8004 as HTTP 400, or 403). */
export function isAccountDenied(f: ApiFailure): boolean {
  return f.kind === 'http' && (f.code === ACCOUNT_DENIED || f.status === 403);
}

export function tempFailureOf(f: ApiFailure): TempFailure {
  switch (f.kind) {
    case 'timeout':
      return { kind: 'api_timeout', reason: f.message };
    case 'network':
      if (f.code === 'ENOTFOUND' || f.code === 'EAI_AGAIN') return { kind: 'api_dns', reason: f.code };
      return {
        kind: 'api_unavailable',
        reason: f.sent ? `${f.message}; the API may have received the request` : f.message,
      };
    case 'bad_response':
      return { kind: 'api_unavailable', reason: `unexpected API response: ${f.message}` };
    case 'http':
      if (f.status === 429) {
        const t: TempFailure = { kind: 'api_rate_limited', reason: f.message };
        if (f.retryAfterMs !== undefined) t.retryAfterS = Math.ceil(f.retryAfterMs / 1000);
        return t;
      }
      if (f.status === 401 || f.status === 403 || f.code === ACCOUNT_DENIED)
        return { kind: 'api_auth', reason: `HTTP ${f.status}: ${f.message}` };
      if (f.status === 408) return { kind: 'api_timeout', reason: 'HTTP 408' };
      return { kind: 'api_unavailable', reason: `HTTP ${f.status}` };
  }
}

/** A failed send for one recipient → that recipient's result. */
export function recipientFailure(recipient: string, f: ApiFailure): RecipientResult {
  if (f.kind === 'http' && f.code !== ACCOUNT_DENIED) {
    if (f.status === 400 || f.status === 422)
      return { recipient, status: 'refused', kind: 'api_invalid', reason: f.message, apiStatus: f.status };
    if (f.status === 413)
      return { recipient, status: 'refused', kind: 'api_too_large', reason: f.message, apiStatus: f.status };
  }
  return { recipient, status: 'failed', failure: tempFailureOf(f) };
}
