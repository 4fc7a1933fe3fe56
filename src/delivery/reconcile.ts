// Reconciliation of ambiguous sends (RECONCILE=on; docs/security.md, "Ambiguous outcomes").
// Each send carries a tag unique to that attempt. When its answer was lost, the next delivery
// of the same recipient first asks `GET /v2/logs/emails` for that tag: an entry means Cakemail
// took the earlier attempt (count it as accepted, do not send again); none means it did not.
// A failed lookup decides nothing: the caller answers 451 and the client comes back later.
import { randomUUID } from 'node:crypto';
import type { CakemailClient } from '../cakemail/client.ts';
import type { ApiFailure } from '../cakemail/errors.ts';
import type { Credential } from '../cakemail/tokens.ts';
import type { AmbiguousAttempt } from './dedupe.ts';

export type ReconcileResult =
  { kind: 'found'; id: string } | { kind: 'not_found' } | { kind: 'unknown'; error: ApiFailure };

/** Slack around an attempt's start for clock skew between the gateway and Cakemail (s). */
const WINDOW_SLACK_S = 120;

/** A tag unique to one send attempt; fits the API's tag pattern `^[a-zA-Z0-9-_]+$`. */
export function attemptTag(): string {
  return `gw-${randomUUID().replace(/-/g, '')}`;
}

export async function reconcile(
  client: CakemailClient,
  credential: Credential,
  recipient: string,
  attempts: readonly AmbiguousAttempt[],
  signal: AbortSignal,
): Promise<ReconcileResult> {
  const bearer = await credential.bearer(signal);
  if (!bearer.ok) return { kind: 'unknown', error: bearer.error };
  const now = Math.ceil(Date.now() / 1000);
  for (const a of attempts) {
    const res = await client.emailLogs(
      bearer.value,
      {
        tags: JSON.stringify([a.tag]),
        log_type: 'all',
        start_time: Math.max(1, a.at - WINDOW_SLACK_S),
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
