// What a trace holds (docs/security.md, "Message traces"): the answer to "what happened to my
// message?" for one DATA transaction, as plain JSON. Never a body, a header value other than the
// Message-ID, or a password: a trace is personal data kept TRACE_TTL_S, so it holds only what
// support needs to explain a reply.

/** One call to the Cakemail API made for a recipient. */
export interface TraceAttempt {
  at: string;
  /** `send`: POST /v2/emails; `reconcile`: the lookup of an earlier unanswered send in the API logs. */
  kind: 'send' | 'reconcile';
  /** HTTP status; null when no answer came (timeout, reset, DNS). */
  status: number | null;
  latencyMs: number;
  /** The failure, in the API's words or ours; absent when the call succeeded. */
  error?: string;
  cakemailId?: string;
}

export interface TraceRecipient {
  address: string;
  /** Absent while nothing was decided for it (the message was refused before any send). */
  result?: 'queued' | 'duplicate' | 'refused' | 'failed' | 'delivered' | 'dead' | 'pending';
  cakemailId?: string;
  reason?: string;
  attempts: TraceAttempt[];
}

/** A stage that made a decision about the message: each note says what it did and why. */
export type TraceStage = 'data' | 'parse' | 'inspect' | 'sender' | 'mapping' | 'dedupe' | 'spool' | 'delivery';

export interface TraceNote {
  at: string;
  stage: TraceStage;
  text: string;
}

export interface TraceReply {
  at: string;
  code: number;
  enhanced: string;
  text: string;
  outcome: string;
}

/** Spool mode: one pass of a delivery worker over the message. */
export interface TraceDelivery {
  at: string;
  /** What the spool did with the message afterwards: removed (all delivered), dead, rescheduled, … */
  result: string;
  recipients: { address: string; state: string; reason?: string; cakemailId?: string }[];
  nextAttemptAt?: string;
}

export interface TraceRecord {
  id: string;
  receivedAt: string;
  session: string;
  client: string;
  /** The SMTP login, masked (`j***@example.com`); null before AUTH. */
  login: string | null;
  envelope: { from: string; to: string[] };
  /** DATA bytes; null when the client went away before the final dot. */
  size: number | null;
  messageId?: string;
  notes: TraceNote[];
  recipients: TraceRecipient[];
  reply: TraceReply | null;
  spool?: { id: string; deliveries: TraceDelivery[] };
  /** Other ids that find this trace: the Cakemail id in a one-recipient 250, the spool id. */
  aliases: string[];
}

/** `--live`: Cakemail's current status of one recipient (`GET /v2/emails/{id}`), or why it is unknown. */
export type LiveStatus =
  | { address: string; cakemailId: string; status: string; hardBounced?: boolean; softBounced?: boolean }
  | { address: string; cakemailId: string; error: string };

export type LiveAnswer = { ok: true; recipients: LiveStatus[] } | { ok: false; reason: string };

/** `jane.doe@example.com` → `j***@example.com`; a login that is not an address keeps its first character only. */
export function maskLogin(login: string): string {
  const at = login.lastIndexOf('@');
  if (at <= 0) return `${login.slice(0, 1)}***`;
  return `${login.slice(0, 1)}***${login.slice(at)}`;
}
