// The trace of one message while it is being handled: stages call note(), the pipeline records
// each API attempt and each recipient's result, the SMTP layer records the reply; the trace
// store keeps the finished record. A trace is a plain in-memory builder: recording costs a
// push, never I/O, so it is always on.
import { maskLogin, type TraceAttempt, type TraceRecipient, type TraceRecord, type TraceStage } from './record.ts';

/** A recipient's result as the delivery stage reports it (its RecipientResult has this shape). */
export type TraceResult =
  | { recipient: string; status: 'queued'; id: string; duplicate: boolean }
  | { recipient: string; status: 'refused'; reason: string }
  | { recipient: string; status: 'failed'; failure: { kind: string; reason: string }; ambiguous?: boolean };

export interface TraceStart {
  id: string;
  session: string;
  client: string;
  login: string | null;
  envelopeFrom: string;
  recipients: readonly string[];
}

export class MessageTrace {
  readonly id: string;
  readonly #r: TraceRecord;
  readonly #byAddress = new Map<string, TraceRecipient>();

  constructor(start: TraceStart, now = new Date()) {
    this.id = start.id;
    this.#r = {
      id: start.id,
      receivedAt: now.toISOString(),
      session: start.session,
      client: start.client,
      login: start.login === null ? null : maskLogin(start.login),
      envelope: { from: start.envelopeFrom, to: [...start.recipients] },
      size: null,
      notes: [],
      recipients: [],
      reply: null,
      aliases: [],
    };
    for (const a of start.recipients) this.#recipient(a);
  }

  /** A decision worth explaining later: a header dropped, a charset repaired, a part left out, … */
  note(stage: TraceStage, text: string): void {
    this.#r.notes.push({ at: new Date().toISOString(), stage, text });
  }

  size(bytes: number): void {
    this.#r.size = bytes;
  }

  messageId(id: string): void {
    this.#r.messageId = id;
  }

  alias(id: string): void {
    if (id !== this.id && !this.#r.aliases.includes(id)) this.#r.aliases.push(id);
  }

  spooled(spoolId: string): void {
    this.alias(spoolId);
    this.#r.spool = { id: spoolId, deliveries: [] };
  }

  attempt(recipient: string, a: Omit<TraceAttempt, 'at'> & { at?: string }): void {
    this.#recipient(recipient).attempts.push({ ...a, at: a.at ?? new Date().toISOString() });
  }

  result(r: TraceResult): void {
    const t = this.#recipient(r.recipient);
    switch (r.status) {
      case 'queued':
        t.result = r.duplicate ? 'duplicate' : 'queued';
        t.cakemailId = r.id;
        if (r.duplicate) t.reason = 'accepted earlier (same Message-ID and bytes): not sent again';
        return;
      case 'refused':
        t.result = 'refused';
        t.reason = r.reason;
        return;
      case 'failed':
        t.result = 'failed';
        t.reason = `${r.failure.kind}: ${r.failure.reason}${r.ambiguous ? ' (the request went out, the answer was lost)' : ''}`;
        return;
    }
  }

  reply(r: { code: number; enhanced: string; text: string; label: string }): void {
    this.#r.reply = {
      at: new Date().toISOString(),
      code: r.code,
      enhanced: r.enhanced,
      text: r.text,
      outcome: r.label,
    };
  }

  /** The record as stored (a copy: later notes do not change what was saved). */
  record(): TraceRecord {
    return structuredClone(this.#r);
  }

  #recipient(address: string): TraceRecipient {
    const key = address.toLowerCase();
    let t = this.#byAddress.get(key);
    if (!t) {
      t = { address, attempts: [] };
      this.#byAddress.set(key, t);
      this.#r.recipients.push(t);
    }
    return t;
  }
}
