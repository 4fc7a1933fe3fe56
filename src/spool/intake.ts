// Spool mode at DATA (docs/architecture.md#spool-mode): the same front half as synchronous mode
// (parse, inspect, sender, payload: the same refusals with the same replies), then a durable
// write and `250 2.0.0 Ok: spooled as <id>`. Only the API sends are deferred. A sender lookup
// that failed because the API is down does not hold the message back: that outage is what the
// spool is for; the sender is checked again at delivery, and a refusal then is a dead letter.
import { randomBytes } from 'node:crypto';
import type { DeliveryPipeline, Transaction } from '../delivery/pipeline.ts';
import type { MessageOutcome } from '../delivery/outcome.ts';
import { uniqueIgnoringCase } from '../delivery/text.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SpoolBackend } from './backend.ts';
import type { SpoolKeyring } from './keyring.ts';

export interface IntakeDeps {
  pipeline: DeliveryPipeline;
  backend: SpoolBackend;
  keys: SpoolKeyring;
  /** How long DATA waits for the sender lookup before spooling unchecked (SPOOL_SENDER_CHECK_MS). */
  senderCheckMs: number;
  logger: Logger;
  metrics: Metrics;
  /** Told after each stored message: wakes the workers and refreshes the gauges. */
  stored(): void;
}

/** Time-ordered (sorts by arrival in a listing), unique without coordination, safe as a file name. */
export function newSpoolId(now = Date.now()): string {
  return `${now.toString(36)}-${randomBytes(8).toString('hex')}`;
}

export class SpoolIntake {
  readonly #d: IntakeDeps;

  constructor(deps: IntakeDeps) {
    this.#d = deps;
  }

  async deliver(tx: Transaction): Promise<MessageOutcome> {
    const log = this.#d.logger.child({ session: tx.sessionId });
    // A hung API must not hold every DATA for a full API timeout: that wait is what the spool saves.
    const prepared = await this.#d.pipeline.prepare(tx, AbortSignal.timeout(this.#d.senderCheckMs));
    if (prepared.kind === 'final') return prepared.outcome;
    if (prepared.kind === 'ready') {
      // Test mode has no API call to defer: answered now, in the same words as sync mode.
      if (prepared.message.testMode !== undefined) return this.#d.pipeline.sendNow(prepared.message, tx.recipients);
      // An idempotency key already accepted for every recipient (a job-queue retry): nothing to spool.
      const earlier = await this.#d.pipeline.acceptedEarlier(prepared.message, tx.recipients);
      if (earlier) return earlier;
    }
    if (prepared.kind === 'sender_unchecked') {
      log.warn(
        { failure: prepared.failure },
        'confirmed sender not checked (API unavailable): spooling, checked again at delivery',
      );
      tx.trace?.note('sender', 'not checked (API unavailable): spooled, checked again at delivery');
    }
    const id = newSpoolId();
    const started = performance.now();
    const receivedAt = Date.now();
    // A scheduled send (X-SMTPAPI send_at, X-Mailgun-Deliver-By, X-MC-SendAt, FUTURERELEASE)
    // waits in the spool until it is due; a time already past is due now.
    const sendAt = prepared.kind === 'ready' ? prepared.message.sendAt : prepared.sendAt;
    const notBefore = sendAt && sendAt.at > receivedAt ? sendAt.at : undefined;
    const put = await this.#d.backend
      .put({
        id,
        receivedAt,
        ...(notBefore !== undefined ? { notBefore } : {}),
        envelopeFrom: tx.envelopeFrom,
        recipients: uniqueIgnoringCase(tx.recipients),
        raw: tx.raw,
        credential: tx.credential.sealWith((login) => this.#d.keys.seal(id, login)),
        sessionId: tx.sessionId,
      })
      .catch((err: Error) => err);
    if (put instanceof Error) {
      // A disk or Redis error: nothing was taken, the client keeps the message.
      log.error({ err: put.message, spoolId: id }, 'spool write failed');
      return { kind: 'temp_failure', failure: { kind: 'local_error', reason: 'spool write failed' } };
    }
    if (put.kind === 'full') {
      this.#d.metrics.spoolFull.inc();
      log.warn(
        { bytes: put.bytes, usedBytes: put.usedBytes, maxBytes: put.maxBytes },
        'spool full: message refused with 452 4.3.1',
      );
      return { kind: 'spool_full', cause: 'budget' };
    }
    if (put.kind === 'no_space') {
      this.#d.metrics.spoolFull.inc();
      log.error(
        { bytes: put.bytes, err: put.reason, spoolId: id },
        'spool storage has no room: message refused with 452 4.3.1, nothing kept',
      );
      return { kind: 'spool_full', cause: 'storage' };
    }
    this.#d.metrics.spoolWriteSeconds.observe((performance.now() - started) / 1000);
    log.info(
      { spoolId: id, bytes: put.bytes, recipients: tx.recipients.length, notBefore, scheduledBy: sendAt?.header },
      'message spooled',
    );
    // The spool id in the 250 finds the trace; each delivery pass is added to it (worker.ts).
    tx.trace?.spooled(id);
    tx.trace?.note('spool', `written to the spool as ${id}; delivery by the spool workers`);
    this.#d.stored();
    return notBefore !== undefined ? { kind: 'spooled', id, notBefore } : { kind: 'spooled', id };
  }
}
