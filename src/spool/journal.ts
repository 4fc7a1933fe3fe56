// A message's journal folded into its state (docs/architecture.md#spool-mode). The journal is the
// only thing ever changed after a message is stored: attempt records from the worker, settle
// records, and admin retries. Each record is one JSON line written with a newline on both sides,
// so a record torn by a crash (no trailing newline, or garbage) is one unparsable line that is
// skipped, and the next record still starts on a line of its own.
import type {
  AttemptResult,
  AttemptView,
  JournalRecord,
  RecipientRecord,
  RecipientSettlement,
  RecipientState,
  SpoolEntry,
  SpoolMessage,
  SpoolState,
} from './backend.ts';

/** Everything a journal can hold: the worker's attempt records plus settle and admin records. */
export type StoredRecord =
  | JournalRecord
  | { type: 'settle'; at: number; recipients: RecipientSettlement[]; nextAttemptAt: number }
  | { type: 'retry'; at: number };

export interface FoldedRecipient extends RecipientRecord {
  history: AttemptView[];
}

export interface FoldedState {
  recipients: FoldedRecipient[];
  nextAttemptAt: number;
  ageFrom: number;
  /** Unix ms of the last settle or admin retry (received when none): for a dead letter, when it died. */
  settledAt: number;
  /** Lines that could not be read (a torn tail after a crash). */
  skipped: number;
}

export function encodeRecord(r: StoredRecord): string {
  return `\n${JSON.stringify(r)}\n`;
}

/** Folds the journal text over the stored message. Never throws on bad lines. */
export function foldJournal(
  message: Pick<SpoolMessage, 'recipients' | 'receivedAt' | 'notBefore'>,
  text: string,
): FoldedState {
  const recipients: FoldedRecipient[] = message.recipients.map((address) => ({
    address,
    state: 'queued',
    attempts: 0,
    lastError: null,
    cakemailId: null,
    open: null,
    history: [],
  }));
  const byAddress = new Map(recipients.map((r) => [r.address.toLowerCase(), r]));
  // A scheduled message is first due, and starts to age, at its send time.
  const due = message.notBefore ?? message.receivedAt;
  const state = { nextAttemptAt: due, ageFrom: due, settledAt: message.receivedAt, skipped: 0 };
  const lines = text.split('\n');
  // The last piece has no newline after it: a record torn by a crash, or empty.
  const complete = lines.slice(0, -1);
  if ((lines[lines.length - 1] ?? '') !== '') state.skipped++;
  for (const line of complete) {
    if (line === '') continue;
    const rec = parseRecord(line);
    if (!rec) {
      state.skipped++;
      continue;
    }
    apply(rec, byAddress, state);
  }
  return { recipients, ...state };
}

function apply(
  rec: StoredRecord,
  byAddress: Map<string, FoldedRecipient>,
  state: { nextAttemptAt: number; ageFrom: number; settledAt: number },
): void {
  switch (rec.type) {
    case 'open': {
      const r = byAddress.get(rec.recipient.toLowerCase());
      if (!r) return;
      r.attempts++;
      r.history.push({ tag: rec.tag, opened_at: iso(rec.at), closed_at: null, result: null });
      r.open = { tag: rec.tag, at: rec.at };
      if (r.state === 'queued') r.state = 'retrying';
      return;
    }
    case 'result': {
      const r = byAddress.get(rec.recipient.toLowerCase());
      if (!r) return;
      const h = r.history.find((x) => x.tag === rec.tag);
      if (h) {
        h.closed_at = iso(rec.at);
        h.result = rec.result;
      }
      applyResult(r, rec.tag, rec.result);
      return;
    }
    case 'settle':
      for (const s of rec.recipients) {
        const r = byAddress.get(s.address.toLowerCase());
        if (!r) continue;
        // Delivered is final: a settle that says otherwise was made from an older view (a
        // process whose lease lapsed mid-delivery) and must not make that recipient due again.
        if (r.state === 'delivered' && s.state !== 'delivered') continue;
        if (s.state === 'delivered') {
          r.state = 'delivered';
          r.cakemailId = s.cakemailId;
          r.open = null;
        } else if (s.state === 'dead') {
          r.state = 'dead';
          r.lastError = s.reason;
        } else {
          if (s.error !== undefined) r.lastError = s.error;
          r.state = pendingState(r);
        }
      }
      state.nextAttemptAt = rec.nextAttemptAt;
      state.settledAt = rec.at;
      return;
    case 'retry':
      for (const r of byAddress.values()) if (r.state === 'dead') r.state = pendingState(r);
      state.ageFrom = rec.at;
      state.nextAttemptAt = rec.at;
      state.settledAt = rec.at;
      return;
  }
}

function applyResult(r: FoldedRecipient, tag: string, result: AttemptResult): void {
  const opened = r.open?.tag === tag ? r.open : null;
  switch (result.kind) {
    case 'queued':
      // Delivered from this record on, settled or not: a crash between the result and the
      // settle must not send it again.
      r.cakemailId = result.cakemailId;
      r.state = 'delivered';
      r.open = null;
      return;
    case 'refused':
      r.lastError = result.reason;
      r.open = null;
      return;
    case 'failed':
      r.lastError = result.reason;
      // A lost answer keeps the attempt open: it is reconciled before the next send.
      r.open = result.ambiguous ? opened : null;
      return;
    case 'reconciled':
      if (result.found) {
        r.state = 'delivered';
        if (result.cakemailId) r.cakemailId = result.cakemailId;
      }
      r.open = null;
      return;
  }
}

function pendingState(r: FoldedRecipient): RecipientState {
  return r.attempts > 0 || r.lastError !== null ? 'retrying' : 'queued';
}

/** A message's state from its recipients' states. */
export function messageState(recipients: readonly { state: RecipientState }[]): SpoolState {
  const pending = recipients.filter((r) => r.state === 'queued' || r.state === 'retrying');
  if (pending.length > 0) return recipients.every((r) => r.state === 'queued') ? 'queued' : 'retrying';
  return recipients.some((r) => r.state === 'dead') ? 'dead' : 'delivered';
}

export function entryOf(
  message: Pick<SpoolMessage, 'id' | 'receivedAt' | 'envelopeFrom'>,
  bytes: number,
  folded: FoldedState,
): SpoolEntry {
  const state = messageState(folded.recipients);
  return {
    id: message.id,
    state,
    received_at: iso(message.receivedAt),
    envelope_from: message.envelopeFrom,
    next_attempt_at: state === 'queued' || state === 'retrying' ? iso(folded.nextAttemptAt) : null,
    dead_since: state === 'dead' ? iso(folded.settledAt) : null,
    bytes,
    recipients: folded.recipients.map((r) => ({
      address: r.address,
      state: r.state,
      attempts: r.attempts,
      last_error: r.lastError,
      cakemail_id: r.cakemailId,
      history: r.history,
    })),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

const TYPES = new Set(['open', 'result', 'settle', 'retry']);

/** One line → a record, or null when it is not one (torn, garbled, or from a newer version). */
function parseRecord(line: string): StoredRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.type !== 'string' || !TYPES.has(o.type) || typeof o.at !== 'number') return null;
  if ((o.type === 'open' || o.type === 'result') && (typeof o.recipient !== 'string' || typeof o.tag !== 'string'))
    return null;
  if (o.type === 'result' && (typeof o.result !== 'object' || o.result === null)) return null;
  if (o.type === 'settle' && (!Array.isArray(o.recipients) || typeof o.nextAttemptAt !== 'number')) return null;
  return o as unknown as StoredRecord;
}
