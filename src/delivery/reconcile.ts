// Reconciliation of unanswered sends (docs/security.md, "Ambiguous outcomes"). Each send carries
// a tag unique to that attempt. When its answer was lost (or the process died mid-call), the
// next delivery of the same recipient first asks `GET /v2/logs/emails` for that tag: an entry
// means Cakemail took the earlier attempt (count it as accepted, do not send again); none means
// it did not, but only once the attempt is older than RECONCILE_WAIT_MS. A failed lookup decides
// nothing: the recipient is tried again later. One rule, used by synchronous mode (the client's
// retry) and by the spool's workers (an attempt found open on a later lease).
import { randomUUID } from 'node:crypto';
import type { CakemailClient } from '../cakemail/client.ts';
import type { ApiFailure } from '../cakemail/errors.ts';
import type { Credential } from '../cakemail/tokens.ts';
import type { Metrics } from '../observability/metrics.ts';
import { tempFailureOf } from './api-outcome.ts';
import type { TempFailure } from './outcome.ts';

export type ReconcileResult =
  { kind: 'found'; id: string } | { kind: 'not_found' } | { kind: 'unknown'; error: ApiFailure };

/** A send whose answer never came: its tag, and the latest time it may have gone out (Unix ms). */
export interface UnansweredSend {
  tag: string;
  atMs: number;
  /** Already looked up once and not found while young: not again until it is old enough. */
  checked?: boolean;
}

/** What an unanswered send turned out to be. */
export type UnansweredVerdict =
  /** In the logs: Cakemail queued it; count the recipient as accepted, send nothing. */
  | { kind: 'sent'; id: string }
  /** Absent and older than RECONCILE_WAIT_MS: it was not sent; send now. */
  | { kind: 'not_sent' }
  /** Not decidable now (lookup failed, or absent but too young): try again from `retryAt` (Unix ms). */
  | { kind: 'undecided'; failure: TempFailure; retryAt: number };

/** One lookup in the API logs, as a trace records it. */
export interface LookupSeen {
  status: number | null;
  latencyMs: number;
  error?: string;
  cakemailId?: string;
}

export interface LookupDeps {
  client: CakemailClient;
  metrics: Metrics;
  /** RECONCILE_WAIT_MS */
  waitMs: number;
}

/** Slack around an attempt's start for clock skew between the gateway and Cakemail (s). */
const WINDOW_SLACK_S = 120;

/** A tag unique to one send attempt; fits the API's tag pattern `^[a-zA-Z0-9-_]+$`. */
export function attemptTag(): string {
  return `gw-${randomUUID().replace(/-/g, '')}`;
}

/**
 * The one rule for "an earlier send of this recipient is unanswered": found → sent, absent and
 * old → not sent, anything else → undecided. A send is looked up at most twice, never per
 * message: once when its recipient is next tried (a committed send is found at once), and, if
 * that found nothing while it was young, once more when it is older than RECONCILE_WAIT_MS.
 */
export async function lookUpUnanswered(
  deps: LookupDeps,
  credential: Credential,
  recipient: string,
  sends: readonly UnansweredSend[],
  signal: AbortSignal,
  /** Told about each lookup made (a message's trace records it). */
  observe?: (lookup: LookupSeen) => void,
): Promise<UnansweredVerdict> {
  const readyAt = Math.max(...sends.map((s) => s.atMs)) + deps.waitMs;
  if (Date.now() < readyAt && sends.every((s) => s.checked)) return tooRecent(readyAt);
  const started = performance.now();
  const r = await reconcile(deps.client, credential, recipient, sends, signal);
  deps.metrics.reconciled.inc({ result: r.kind });
  observe?.({
    status: r.kind === 'unknown' ? (r.error.kind === 'http' ? r.error.status : null) : 200,
    latencyMs: Math.round(performance.now() - started),
    ...(r.kind === 'unknown'
      ? { error: r.error.message }
      : r.kind === 'found'
        ? { cakemailId: r.id }
        : { error: 'absent from the API logs' }),
  });
  if (r.kind === 'found') return { kind: 'sent', id: r.id };
  if (r.kind === 'unknown') {
    const f = tempFailureOf(r.error);
    return {
      kind: 'undecided',
      failure: { ...f, reason: `could not check an earlier unanswered send: ${f.reason}` },
      retryAt: 0,
    };
  }
  // Absent from the logs proves little while the attempt is young: the API may still be
  // processing it, or its logs may lag.
  if (Date.now() < readyAt) return tooRecent(readyAt);
  return { kind: 'not_sent' };
}

function tooRecent(readyAt: number): UnansweredVerdict {
  return {
    kind: 'undecided',
    failure: {
      kind: 'api_timeout',
      reason: 'an earlier send of this recipient is unanswered and too recent to rule out',
    },
    retryAt: readyAt,
  };
}

async function reconcile(
  client: CakemailClient,
  credential: Credential,
  recipient: string,
  sends: readonly UnansweredSend[],
  signal: AbortSignal,
): Promise<ReconcileResult> {
  const bearer = await credential.bearer(signal);
  if (!bearer.ok) return { kind: 'unknown', error: bearer.error };
  const now = Math.ceil(Date.now() / 1000);
  for (const a of sends) {
    const res = await client.emailLogs(
      bearer.value,
      {
        tags: JSON.stringify([a.tag]),
        log_type: 'all',
        start_time: Math.max(1, Math.floor(a.atMs / 1000) - WINDOW_SLACK_S),
        end_time: now + WINDOW_SLACK_S,
        per_page: 100,
      },
      credential.accountId,
      signal,
    );
    if (!res.ok) return { kind: 'unknown', error: res.error };
    const hit = res.value.data.find(
      (e) => e.email?.toLowerCase() === recipient.toLowerCase() && e.type !== 'rejected' && e.type !== 'error',
    );
    if (hit) return { kind: 'found', id: hit.email_id };
  }
  return { kind: 'not_found' };
}
