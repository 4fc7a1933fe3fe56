// Retry at one layer only (AWS Builders' Library: retries multiply across layers). Capped
// exponential backoff with full jitter, never past the caller's deadline, and only for
// failures where sending again cannot duplicate: the API said it failed (5xx, 429) or the
// request never left (connection refused). A timeout or a reset after sending is ambiguous:
// Cakemail has no idempotency key, so those are not retried here (the client's SMTP retry
// is then protected by the dedupe records of accepted recipients).
import { fullJitterMs } from '../lib/backoff.ts';
import type { ApiFailure, ApiResult } from './errors.ts';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

export function isRetryable(f: ApiFailure): boolean {
  if (f.kind === 'http') return f.status >= 500 || f.status === 429 || f.status === 408;
  if (f.kind === 'network') return !f.sent;
  return false;
}

/** Delay before attempt `n + 1` (n ≥ 1), honouring Retry-After as a floor. */
export function backoffMs(n: number, policy: RetryPolicy, f: ApiFailure): number {
  const jitter = fullJitterMs(n, policy.baseMs, policy.capMs, policy.random);
  const floor = f.kind === 'http' && f.retryAfterMs !== undefined ? f.retryAfterMs : 0;
  return Math.max(floor, jitter);
}

/**
 * Run `attempt` until it succeeds, fails in a way that must not be retried, runs out of
 * attempts, or the next wait would cross `deadline` (epoch ms). Returns the last result.
 * `mayRetry` is asked before each retry (the process retry budget, the circuit breaker).
 */
export async function withRetry<T>(
  attempt: () => Promise<ApiResult<T>>,
  policy: RetryPolicy,
  deadline: number,
  signal?: AbortSignal,
  mayRetry?: () => boolean,
): Promise<ApiResult<T>> {
  let result = await attempt();
  for (let n = 1; n < policy.attempts && !result.ok && isRetryable(result.error); n++) {
    const wait = backoffMs(n, policy, result.error);
    if (Date.now() + wait >= deadline || signal?.aborted) break;
    if (mayRetry && !mayRetry()) break;
    await sleep(wait, signal);
    if (signal?.aborted) break;
    result = await attempt();
  }
  return result;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
