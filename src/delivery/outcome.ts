// Decisions, not codes. Every stage returns one of these typed outcomes; only the reply table
// (src/delivery/replies.ts) turns them into SMTP codes, enhanced codes, texts and metric labels.

/** Why the gateway refuses a message before (or instead of) calling the API: the sender's own problem. */
export type Refusal =
  | { kind: 'content_invalid'; reason: string } // 554 5.6.0: structure, limits, control headers, duplicate From
  | { kind: 'attachment_refused'; reason: string } // 554 5.6.1: an attachment type the API cannot carry
  | { kind: 'too_large'; reason: string } // 552 5.3.4: message, attachment or total over a limit
  | { kind: 'sender_not_allowed'; address: string; reason?: string } // 550 5.7.1
  | { kind: 'recipient_invalid'; address: string; reason: string }; // 550 5.1.3

/** A temporary failure: the client keeps the message and retries. */
export type TempFailure =
  | { kind: 'api_unavailable'; reason: string } // 451 4.4.1: 5xx, refused, reset
  | { kind: 'api_timeout'; reason: string } // 451 4.4.2: no answer within the deadline (ambiguous)
  | { kind: 'api_dns'; reason: string } // 451 4.4.3
  | { kind: 'api_rate_limited'; reason: string; retryAfterS?: number } // 451 4.4.5
  | { kind: 'api_auth'; reason: string } // 451 4.3.5: our token or account configuration
  | { kind: 'circuit_open'; reason: string; retryInS: number } // 451 4.4.1: the API failed too often; no call made
  | { kind: 'in_progress'; reason: string } // 451 4.3.0: the same message is being sent by another session
  | { kind: 'parse_timeout'; reason: string } // 451 4.3.0
  | { kind: 'local_error'; reason: string }; // 451 4.3.0

/** One recipient's result. */
export type RecipientResult =
  | { recipient: string; status: 'queued'; id: string; duplicate: boolean }
  | {
      recipient: string;
      status: 'refused';
      reason: string;
      apiStatus?: number;
      kind: 'api_invalid' | 'api_rejected' | 'api_too_large';
    }
  /** `ambiguous`: the request went out and its answer was lost (Cakemail may have queued it). */
  | { recipient: string; status: 'failed'; failure: TempFailure; ambiguous?: boolean };

/** The result of one DATA transaction. */
export type MessageOutcome =
  /** `skipped`: recipients not sent again because Cakemail had accepted them earlier (dedupe). */
  | { kind: 'accepted'; id: string; recipients: number; duplicate: boolean; skipped: number }
  | { kind: 'accepted_partial'; id: string; recipients: number; refused: number }
  | { kind: 'refused'; refusal: Refusal }
  | { kind: 'api_refused'; reason: string; apiKind: 'api_invalid' | 'api_rejected' | 'api_too_large' }
  | { kind: 'temp_failure'; failure: TempFailure }
  /** Spool mode: durably written, delivery deferred (docs/architecture.md#spool-mode). */
  | { kind: 'spooled'; id: string; notBefore?: number }
  /** Spool mode: no room, nothing written: SPOOL_MAX_BYTES reached (`budget`), or the storage is full (`storage`). */
  | { kind: 'spool_full'; cause: 'budget' | 'storage' }
  /** Test mode: every stage ran but the API call; `duplicate`: this test message was seen before. */
  | { kind: 'test_mode'; id: string; duplicate: boolean };

/**
 * Reduce per-recipient results to the transaction's outcome (docs/architecture.md#outcomes-and-replies):
 * any transient failure → 451 (accepted recipients are remembered, the retry skips them);
 * all refused → the API's reason; some refused → 250 with the count; all queued → 250.
 */
export function reduceRecipients(results: readonly RecipientResult[], gatewayId: string): MessageOutcome {
  const failed = results.find((r): r is Extract<RecipientResult, { status: 'failed' }> => r.status === 'failed');
  if (failed) return { kind: 'temp_failure', failure: failed.failure };
  const queued = results.filter((r): r is Extract<RecipientResult, { status: 'queued' }> => r.status === 'queued');
  const refused = results.filter((r): r is Extract<RecipientResult, { status: 'refused' }> => r.status === 'refused');
  if (queued.length === 0) {
    const first = refused[0];
    if (!first) return { kind: 'temp_failure', failure: { kind: 'local_error', reason: 'no recipients' } };
    return { kind: 'api_refused', reason: first.reason, apiKind: first.kind };
  }
  const only = queued.length === 1 && refused.length === 0 ? queued[0] : undefined;
  const id = only ? only.id : gatewayId;
  if (refused.length > 0) return { kind: 'accepted_partial', id, recipients: results.length, refused: refused.length };
  const skipped = queued.filter((q) => q.duplicate).length;
  return { kind: 'accepted', id, recipients: results.length, duplicate: skipped === queued.length, skipped };
}
