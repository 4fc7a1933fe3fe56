// Every reply a DATA transaction can end with: the values of smtp_gateway_messages_total{outcome}
// and their SLO class, from the reply table itself. The alert rules are checked against this
// list (test/deploy/slo-classes.test.ts), and the counter starts at 0 for each label.
// The Records below are keyed by every kind of the outcome types, so adding a kind without a row
// here does not compile.
import type { MessageOutcome, Refusal, TempFailure } from './outcome.ts';
import { connectionReplies, outcomeReply, sessionReplies, type Reply } from './replies.ts';

const refusals: { [K in Refusal['kind']]: Extract<Refusal, { kind: K }> } = {
  content_invalid: { kind: 'content_invalid', reason: '' },
  attachment_refused: { kind: 'attachment_refused', reason: '' },
  too_large: { kind: 'too_large', reason: '' },
  sender_not_allowed: { kind: 'sender_not_allowed', address: '' },
  recipient_invalid: { kind: 'recipient_invalid', address: '', reason: '' },
};

const tempFailures: { [K in TempFailure['kind']]: Extract<TempFailure, { kind: K }> } = {
  api_unavailable: { kind: 'api_unavailable', reason: '' },
  api_timeout: { kind: 'api_timeout', reason: '' },
  api_dns: { kind: 'api_dns', reason: '' },
  api_rate_limited: { kind: 'api_rate_limited', reason: '' },
  api_auth: { kind: 'api_auth', reason: '' },
  circuit_open: { kind: 'circuit_open', reason: '', retryInS: 1 },
  in_progress: { kind: 'in_progress', reason: '' },
  parse_timeout: { kind: 'parse_timeout', reason: '' },
  local_error: { kind: 'local_error', reason: '' },
};

const outcomes: { [K in MessageOutcome['kind']]: Extract<MessageOutcome, { kind: K }>[] } = {
  accepted: [
    { kind: 'accepted', id: 'x', recipients: 1, duplicate: false, skipped: 0 },
    { kind: 'accepted', id: 'x', recipients: 1, duplicate: true, skipped: 1 },
  ],
  accepted_partial: [{ kind: 'accepted_partial', id: 'x', recipients: 2, refused: 1 }],
  refused: Object.values(refusals).map((refusal) => ({ kind: 'refused' as const, refusal })),
  api_refused: (['api_invalid', 'api_rejected', 'api_too_large'] as const).map((apiKind) => ({
    kind: 'api_refused' as const,
    reason: '',
    apiKind,
  })),
  temp_failure: Object.values(tempFailures).map((failure) => ({ kind: 'temp_failure' as const, failure })),
  spooled: [{ kind: 'spooled', id: 'x' }],
  test_mode: [
    { kind: 'test_mode', id: 'x', duplicate: false },
    { kind: 'test_mode', id: 'x', duplicate: true },
  ],
  spool_full: [
    { kind: 'spool_full', cause: 'budget' },
    { kind: 'spool_full', cause: 'storage' },
  ],
};

/** Label → reply, one per label (the same label always has the same class). */
export function dataOutcomeReplies(): ReadonlyMap<string, Reply> {
  const replies: Reply[] = [
    ...Object.values(outcomes).flatMap((list: MessageOutcome[]) => list.map(outcomeReply)),
    // DATA without a login (smtp-server lets it through in one corner case) and a client gone mid-DATA.
    sessionReplies.authRequired,
    connectionReplies.connectionClosed,
  ];
  return new Map(replies.map((r) => [r.label, r]));
}
