// One DATA transaction, start to finish (docs/architecture.md#data-path): parse → inspect → sender →
// payload → per recipient: dedupe → send (retry, deadline) → outcome. Returns a typed
// MessageOutcome; the SMTP layer turns it into a reply through the one table.
import { randomUUID } from 'node:crypto';
import type { CakemailClient } from '../cakemail/client.ts';
import { isAmbiguous, type ApiFailure, type ApiResult } from '../cakemail/errors.ts';
import type { SenderDirectory } from '../cakemail/senders.ts';
import type { Credential } from '../cakemail/tokens.ts';
import type { SubmitEmail, SubmitEmailResponse } from '../cakemail/types.ts';
import type { Config } from '../config/schema.ts';
import type { MessageParser, ParseFailure } from '../mime/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { RetryBudget } from '../resilience/budget.ts';
import type { CallVerdict, CircuitBreaker, CircuitPermit } from '../resilience/circuit.ts';
import { withRetry } from '../cakemail/retry.ts';
import { isAccountDenied, recipientFailure, tempFailureOf } from './api-outcome.ts';
import {
  DedupeRecords,
  type AmbiguousAttempt,
  type MessageIdentity,
  type RecipientKeys,
  type SendEnd,
} from './dedupe.ts';
import { attemptTag, lookUpUnanswered, type LookupDeps } from './reconcile.ts';
import { countRepairs, initRepairCounter } from './repairs.ts';
import { inspectMessage } from './inspect.ts';
import {
  reduceRecipients,
  type MessageOutcome,
  type RecipientResult,
  type Refusal,
  type TempFailure,
} from './outcome.ts';
import { buildMessage, forRecipient, type BuiltMessage, type PayloadPolicy } from './payload.ts';
import { uniqueIgnoringCase } from './text.ts';
import { mappingNotes } from './trace-notes.ts';
import type { LiveLookup } from './live.ts';
import type { MessageTrace } from '../trace/trace.ts';

export interface Transaction {
  sessionId: string;
  credential: Credential;
  envelopeFrom: string;
  recipients: readonly string[];
  raw: Uint8Array;
  /** The message's trace: every decision and API attempt is noted in it. */
  trace?: MessageTrace | undefined;
}

export interface PipelineDeps {
  config: Config;
  parser: MessageParser;
  senders: SenderDirectory;
  client: CakemailClient;
  dedupe: DedupeRecords;
  circuit: CircuitBreaker;
  retryBudget: RetryBudget;
  logger: Logger;
  metrics: Metrics;
  /**
   * Test mode: told each payload that would have been sent (the embedded sandbox shows it in
   * its inbox, src/sandbox/test-mode.ts). Absent with the real API: logged and counted only.
   */
  testSink?: TestSink | undefined;
  /** Remembers each traced message's login (in memory only) for `trace --live`. */
  live?: LiveLookup;
}

/** What a test-mode message would have sent to one recipient, under the id its reply gave. */
export type TestSink = (record: { id: string; accountId: number | undefined; payload: SubmitEmail }) => void;

/** A message past the front half: ready for per-recipient sends. */
export interface PreparedMessage {
  credential: Credential;
  built: BuiltMessage;
  identity: MessageIdentity;
  log: Logger;
  trace?: MessageTrace | undefined;
  /** True when an idempotency key is the message's identity. */
  idempotent?: boolean;
  /** Test mode: the header that asked for it; every stage runs but the API call. */
  testMode?: string | undefined;
  /** A scheduled send (spool mode only; sync mode refuses it): Unix ms and the header that asked. */
  sendAt?: { header: string; at: number } | undefined;
}

export type Prepared =
  | { kind: 'ready'; message: PreparedMessage }
  /** Refused (or failed) before any send: the reply is this outcome in either mode. */
  | { kind: 'final'; outcome: MessageOutcome }
  /** The confirmed-sender lookup failed transiently: sync mode answers 451, spool mode spools. */
  | { kind: 'sender_unchecked'; failure: TempFailure; sendAt?: { header: string; at: number } | undefined };

/** Called, and durable, before a send carrying `tag` goes out; false: do not send (the message is gone, or the lease lost). */
export interface SendHooks {
  opened(recipient: string, tag: string, at: number): Promise<boolean>;
}

export interface SendOptions {
  deadline: number;
  signal: AbortSignal;
  /** Given: every send carries its attempt tag and is journalled first, whatever RECONCILE says. */
  hooks?: SendHooks | undefined;
  /** Where each API attempt and result is noted (spool mode: the delivery's own collector). */
  trace?: MessageTrace | undefined;
}

/** What one message's fan-out shares: deadline, identity, its log. */
interface SendContext extends PreparedMessage {
  deadline: number;
  signal: AbortSignal;
  hooks: SendHooks | undefined;
}

export class DeliveryPipeline {
  readonly #d: PipelineDeps;
  readonly #policy: PayloadPolicy;
  readonly #lookup: LookupDeps;

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    this.#lookup = { client: deps.client, metrics: deps.metrics, waitMs: deps.config.reconcileWaitMs };
    initRepairCounter(deps.metrics);
    const c = deps.config;
    this.#policy = {
      attachmentPolicy: c.attachmentPolicy,
      maxAttachmentBytes: c.maxAttachmentBytes,
      maxTotalAttachmentBytes: c.maxTotalAttachmentBytes,
      serverName: c.serverName,
      defaultEmailType: c.emailType,
      defaultListId: c.listId,
    };
  }

  /** Synchronous mode: the front half, then every recipient sent before the reply. */
  async deliver(tx: Transaction): Promise<MessageOutcome> {
    const budget = this.#budget();
    const prepared = await this.prepare(tx, budget.signal);
    if (prepared.kind === 'final') return prepared.outcome;
    if (prepared.kind === 'sender_unchecked') return { kind: 'temp_failure', failure: prepared.failure };
    const { sendAt } = prepared.message;
    // Holding a message until later needs somewhere durable to hold it: the spool.
    if (sendAt && !prepared.message.testMode) return scheduleRefused(sendAt);
    return this.sendNow(prepared.message, tx.recipients, budget);
  }

  /** MESSAGE_DEADLINE_MS from now: the whole message's budget, front half included. */
  #budget(): { deadline: number; signal: AbortSignal } {
    const ms = this.#d.config.messageDeadlineMs;
    return { deadline: Date.now() + ms, signal: AbortSignal.timeout(ms) };
  }

  /**
   * The back half in the client's transaction: every recipient sent (or, in test mode, every
   * stage but the API call) before the reply. Spool mode uses it for test-mode messages, which
   * have nothing to defer.
   */
  async sendNow(
    message: PreparedMessage,
    envelope: readonly string[],
    budget = this.#budget(),
  ): Promise<MessageOutcome> {
    const { deadline, signal } = budget;
    const trace = message.trace;
    // The trace id is the gateway id: the id in a several-recipient 250 is the one to look up.
    const gatewayId = trace?.id ?? randomUUID();
    // Envelope duplicates are sent once (case-insensitive: no provider treats them apart).
    const recipients = uniqueIgnoringCase(envelope);
    const results = await this.sendTo(message, recipients, { deadline, signal });
    let outcome = reduceRecipients(results, gatewayId);
    for (const r of results) trace?.result(r);
    // A one-recipient 250 names Cakemail's id: that id finds the trace too.
    if ((outcome.kind === 'accepted' || outcome.kind === 'accepted_partial') && outcome.id !== gatewayId)
      trace?.alias(outcome.id);
    if (message.testMode !== undefined) trace?.note('delivery', `test mode (${message.testMode}): no API call made`);
    // Without a Message-ID, records live only while the message is unfinished: after a final
    // reply, the same bytes again are a new message (a cron job's static alert, sent hourly).
    if (outcome.kind !== 'temp_failure') await this.forgetAnonymous(message, recipients);
    if (message.testMode !== undefined && outcome.kind === 'accepted') {
      outcome = { kind: 'test_mode', id: outcome.id, duplicate: outcome.duplicate };
      this.#d.metrics.testModeMessages.inc({ header: message.testMode.toLowerCase() });
      message.log.info({ gatewayId, header: message.testMode, recipients: recipients.length }, 'test mode: not sent');
    }
    for (const r of results) {
      const result = r.status === 'queued' && r.duplicate ? 'duplicate' : r.status;
      this.#d.metrics.recipients.inc({
        result: message.testMode !== undefined && result === 'queued' ? 'test_mode' : result,
      });
      // Like an MTA's to=<…> lines: the trace from a gateway id to each Cakemail id.
      if (r.status === 'queued')
        message.log.info(
          { gatewayId, to: r.recipient, cakemailId: r.id, duplicate: r.duplicate, testMode: message.testMode },
          message.testMode !== undefined ? 'recipient not sent (test mode)' : 'recipient queued',
        );
      else if (r.status === 'refused')
        message.log.warn(
          { gatewayId, to: r.recipient, reason: r.reason, apiStatus: r.apiStatus },
          'recipient refused by Cakemail',
        );
      else message.log.warn({ gatewayId, to: r.recipient, failure: r.failure }, 'recipient failed temporarily');
    }
    return outcome;
  }

  /**
   * The front half, shared by both delivery modes: parse → inspect → sender → payload. Whatever
   * it refuses is refused at DATA with the same reply in both modes. MIME repairs are logged and
   * counted once per message: the spool worker, preparing a spooled message again at delivery,
   * passes `{ reread: true }`.
   */
  async prepare(
    tx: Omit<Transaction, 'recipients'>,
    signal: AbortSignal,
    opts: { reread?: boolean } = {},
  ): Promise<Prepared> {
    const log = this.#d.logger.child({ session: tx.sessionId });
    const trace = tx.trace;
    const parsed = await this.#d.parser.parse(tx.raw);
    if (!parsed.ok) {
      this.#d.metrics.parseFailures.inc({ kind: parsed.failure.kind });
      trace?.note('parse', `${parsed.failure.kind}: ${parsed.failure.detail}`);
      return { kind: 'final', outcome: parseFailureOutcome(parsed.failure) };
    }
    if (!opts.reread) countRepairs(parsed.message.repairs, this.#d.metrics, log);
    for (const [kind, n] of Object.entries(parsed.message.repairs ?? {}))
      if (n) trace?.note('parse', `MIME repair ${kind} × ${n} (docs/message-mapping.md §8)`);
    const inspected = inspectMessage(parsed.message);
    if (!inspected.ok) {
      trace?.note('inspect', `refused: ${describeRefusal(inspected.refusal)}`);
      return { kind: 'final', outcome: { kind: 'refused', refusal: inspected.refusal } };
    }
    const { from, controls } = inspected;
    const late = controls.sendAt ? beyondHorizon(controls.sendAt, Date.now()) : null;
    if (late) {
      trace?.note('inspect', `refused: ${late}`);
      return { kind: 'final', outcome: refused(late) };
    }
    const credential = controls.accountId !== undefined ? tx.credential.forAccount(controls.accountId) : tx.credential;

    const lookup =
      controls.senderId !== undefined
        ? { kind: 'id' as const, id: controls.senderId }
        : { kind: 'email' as const, address: from.address };
    const found = await this.#d.senders.find(credential, lookup, signal);
    if (!found.ok) {
      // An account the sender chose in X-Account-Id and may not use is the sender's problem.
      if (controls.accountId !== undefined && isAccountDenied(found.error)) {
        return {
          kind: 'final',
          outcome: {
            kind: 'refused',
            refusal: {
              kind: 'content_invalid',
              reason: `X-Account-Id ${controls.accountId} is not an account this login may use`,
            },
          },
        };
      }
      const failure = tempFailureOf(found.error);
      trace?.note('sender', `confirmed-sender lookup failed: ${failure.kind}: ${failure.reason}`);
      return { kind: 'sender_unchecked', failure, sendAt: controls.sendAt };
    }
    if (!found.value) {
      const address = lookup.kind === 'id' ? `X-Sender-Id ${lookup.id}` : from.address;
      trace?.note('sender', `${address} is not a confirmed sender of this account`);
      return { kind: 'final', outcome: { kind: 'refused', refusal: { kind: 'sender_not_allowed', address } } };
    }
    const sender = from.name ? { id: String(found.value.id), name: from.name } : { id: String(found.value.id) };
    trace?.note('sender', `From ${from.address} is confirmed sender ${found.value.id}`);

    const built = buildMessage(
      { message: parsed.message, controls, sender, envelopeFrom: tx.envelopeFrom },
      this.#policy,
    );
    if (!built.ok) {
      trace?.note('mapping', `refused: ${describeRefusal(built.refusal)}`);
      return { kind: 'final', outcome: { kind: 'refused', refusal: built.refusal } };
    }
    if (trace) {
      trace.messageId(built.built.messageId.replace(/^<(.*)>$/, '$1'));
      for (const n of mappingNotes(parsed.message, built.built)) trace.note('mapping', n);
      if (controls.sendAt)
        trace.note('inspect', `${controls.sendAt.header}: scheduled for ${new Date(controls.sendAt.at).toISOString()}`);
      if (controls.idempotencyKey)
        trace.note('dedupe', `idempotency key from ${controls.idempotencyKey.header} is the message's identity`);
      this.#d.live?.remember(trace.id, credential);
    }
    for (const d of built.built.dropped) {
      this.#d.metrics.attachmentsDropped.inc({ reason: d.kind });
      log.warn({ filename: d.filename, contentType: d.contentType, reason: d.reason }, 'attachment dropped by policy');
    }
    const identity = DedupeRecords.identity(
      credential.accountKey,
      built.built.messageIdGenerated ? null : built.built.messageId,
      tx.raw,
      { idempotencyKey: controls.idempotencyKey?.value, test: controls.testMode !== undefined },
    );
    return {
      kind: 'ready',
      message: {
        credential,
        built: built.built,
        identity,
        log,
        idempotent: controls.idempotencyKey !== undefined,
        testMode: controls.testMode,
        sendAt: controls.sendAt,
        trace,
      },
    };
  }

  /**
   * The back half: one send per recipient (dedupe, claim, reconcile, circuit, retry budget,
   * token renewal), at most SEND_CONCURRENCY at once. `hooks` is how the spool journals each
   * attempt before it goes out.
   */
  async sendTo(message: PreparedMessage, recipients: readonly string[], opts: SendOptions): Promise<RecipientResult[]> {
    const ctx: SendContext = {
      ...message,
      deadline: opts.deadline,
      signal: opts.signal,
      hooks: opts.hooks,
      trace: opts.trace ?? message.trace,
    };
    return mapLimit(recipients, this.#d.config.sendConcurrency, (r) => this.#sendOne(ctx, r));
  }

  /** The "look up an unanswered send" rule, for the spool's workers (src/delivery/reconcile.ts). */
  get lookup(): LookupDeps {
    return this.#lookup;
  }

  /**
   * Spool mode, at DATA: a message with an idempotency key that every recipient already has
   * accepted is answered "already accepted" instead of being spooled again; null otherwise.
   */
  async acceptedEarlier(message: PreparedMessage, envelope: readonly string[]): Promise<MessageOutcome | null> {
    if (!message.idempotent) return null;
    const recipients = uniqueIgnoringCase(envelope);
    const ids: string[] = [];
    for (const r of recipients) {
      const id = await this.#d.dedupe.accepted(DedupeRecords.keys(message.identity, r));
      if (id === null) return null;
      ids.push(id);
    }
    this.#d.metrics.dedupeHits.inc(ids.length);
    const id = ids.length === 1 ? (ids[0] as string) : randomUUID();
    return { kind: 'accepted', id, recipients: ids.length, duplicate: true, skipped: ids.length };
  }

  /** Drops the records of a message without Message-ID once its outcome is final. */
  async forgetAnonymous(message: PreparedMessage, recipients: readonly string[]): Promise<void> {
    if (message.identity.kind !== 'anonymous') return;
    const identity = message.identity;
    await this.#d.dedupe.forget(recipients.map((r) => DedupeRecords.keys(identity, r)));
  }

  /**
   * One recipient: claim (with the dedupe check, one step) → reconcile → circuit → send →
   * record and release (one step). With RECONCILE=on the attempt is written down with the
   * claim, before the call, so even a crash mid-call leaves it to reconcile.
   */
  async #sendOne(ctx: SendContext, recipient: string): Promise<RecipientResult> {
    const keys = DedupeRecords.keys(ctx.identity, recipient);
    const reconcileOn = this.#d.config.reconcile === 'on';
    const tag = attemptTag();
    // Whole seconds: the send goes out at once after the claim (a lookup reads it as "within the
    // second after `at`").
    const attempt = { tag, at: Math.floor(Date.now() / 1000) };
    const claimTtlS = Math.ceil(this.#d.config.messageDeadlineMs / 1000) + 1;
    const begun = await this.#d.dedupe.begin(keys, tag, claimTtlS, reconcileOn ? attempt : null);
    if (begun.kind === 'accepted') return this.#skipped(recipient, begun.id);
    if (begun.kind === 'busy')
      return { recipient, status: 'failed', failure: { kind: 'in_progress', reason: 'claimed by another session' } };
    // Whatever happens, the claim is released; an exception keeps the attempt on record (the
    // call may have gone out).
    const end: { value: SendEnd } = { value: { ambiguous: 'keep' } };
    try {
      return await this.#sendClaimed(ctx, recipient, keys, attempt, begun.ambiguous, end);
    } finally {
      await this.#d.dedupe.end(keys, end.value);
    }
  }

  async #sendClaimed(
    ctx: SendContext,
    recipient: string,
    keys: RecipientKeys,
    attempt: AmbiguousAttempt,
    pending: readonly AmbiguousAttempt[],
    end: { value: SendEnd },
  ): Promise<RecipientResult> {
    if (ctx.testMode !== undefined) return this.#testSend(ctx, recipient, end);
    const reconcileOn = this.#d.config.reconcile === 'on';
    if (pending.length > 0 && reconcileOn) {
      // Attempts are stamped in whole seconds: the latest each may have gone out is a second on.
      const sends = pending.map((p) => ({ tag: p.tag, atMs: (p.at + 1) * 1000, checked: p.checked === true }));
      const v = await lookUpUnanswered(this.#lookup, ctx.credential, recipient, sends, ctx.signal, (lookup) =>
        ctx.trace?.attempt(recipient, { kind: 'reconcile', ...lookup }),
      );
      ctx.log.info(
        { to: recipient, tags: pending.map((p) => p.tag), result: v.kind },
        'earlier ambiguous send looked up in the API logs',
      );
      if (v.kind === 'undecided') {
        // Looked up while young and not found: no second lookup until it is old enough.
        if (v.retryAt > 0 && sends.some((x) => !x.checked))
          end.value = { ambiguous: pending.map((p) => ({ ...p, checked: true })) };
        return { recipient, status: 'failed', failure: v.failure };
      }
      if (v.kind === 'sent') {
        end.value = { accepted: v.id, ambiguous: 'clear' };
        return this.#skipped(recipient, v.id);
      }
      // Not sent: this attempt replaces them, on record before the call (stamped now: the
      // lookup took time).
      attempt.at = Math.floor(Date.now() / 1000);
      await this.#d.dedupe.setAmbiguous(keys, [attempt]);
    } else if (pending.length > 0) {
      ctx.log.warn(
        { to: recipient },
        'sending again a recipient whose earlier send had no answer (RECONCILE=off: it may arrive twice)',
      );
    }
    // No call made: this attempt's record (RECONCILE=on) goes; earlier ones stay as they were.
    const notSent: SendEnd = { ambiguous: reconcileOn ? 'clear' : 'keep' };

    const permit = this.#d.circuit.acquire();
    if (!permit.ok) {
      end.value = notSent;
      return {
        recipient,
        status: 'failed',
        failure: { kind: 'circuit_open', reason: 'circuit open', retryInS: permit.retryInS },
      };
    }
    const payload = forRecipient(ctx.built, recipient);
    // The tag goes out with the send, and is written down before it, so that even a crash
    // mid-call leaves something to reconcile.
    if (reconcileOn || ctx.hooks) payload.tags = [...(payload.tags ?? []), attempt.tag];
    if (ctx.hooks) {
      let opened: boolean;
      try {
        opened = await ctx.hooks.opened(recipient, attempt.tag, Date.now());
      } catch (err) {
        // The permit must go back whatever happens: a half-open probe slot never returned would
        // keep the circuit open until restart.
        this.#d.circuit.record('neutral', permit);
        throw err;
      }
      if (!opened) {
        this.#d.circuit.record('neutral', permit);
        end.value = notSent;
        return {
          recipient,
          status: 'failed',
          failure: {
            kind: 'local_error',
            reason: 'the spooled message was removed, or its lease lapsed and another worker has it',
          },
        };
      }
    }
    const res = await this.#send(ctx, payload, permit);
    const settled: 'clear' | 'keep' = reconcileOn || pending.length > 0 ? 'clear' : 'keep';
    if (res.ok) {
      const { status, id } = res.value.data;
      if (status !== 'queued') {
        end.value = notSent;
        return {
          recipient,
          status: 'refused',
          kind: 'api_rejected',
          reason: `Cakemail answered status "${status}"`,
          apiStatus: res.status,
        };
      }
      end.value = { accepted: id, ambiguous: settled };
      return { recipient, status: 'queued', id, duplicate: false };
    }
    // A 2xx whose body breaks the contract still means Cakemail took the message (docs/threat-model.md
    // F-19): answering 4xx would make the client send it again.
    if (res.error.kind === 'bad_response' && res.error.status >= 200 && res.error.status < 300) {
      const id = `unknown-${randomUUID()}`;
      ctx.log.error(
        { status: res.error.status, detail: res.error.message },
        'API accepted the email with a malformed body',
      );
      end.value = { accepted: id, ambiguous: settled };
      return { recipient, status: 'queued', id, duplicate: false };
    }
    if (isAmbiguous(res.error)) {
      // The request went out and the answer was lost: Cakemail may have queued it. 451 (a
      // possible duplicate beats a loss), remembered so the retry can reconcile.
      this.#d.metrics.apiAmbiguous.inc();
      ctx.log.warn(
        { to: recipient, tag: reconcileOn ? attempt.tag : undefined, failure: res.error.kind },
        'API answer lost after the request was sent: outcome ambiguous',
      );
      // RECONCILE=on: already on record. Off: remembered now, for the warning on the retry.
      end.value = reconcileOn
        ? { ambiguous: 'keep' }
        : { ambiguous: [...pending.filter((p) => p.tag !== attempt.tag), attempt] };
      const failed = recipientFailure(recipient, res.error);
      return failed.status === 'failed' ? { ...failed, ambiguous: true } : failed;
    }
    // A known failure: this attempt did not send, so there is nothing to reconcile.
    end.value = notSent;
    return recipientFailure(recipient, res.error);
  }

  /**
   * Test mode, under the claim like a real send: the payload is built and remembered as
   * accepted (a resend of the same test message is a duplicate), and no API call is made.
   */
  #testSend(ctx: SendContext, recipient: string, end: { value: SendEnd }): RecipientResult {
    const id = randomUUID();
    this.#d.testSink?.({ id, accountId: ctx.credential.accountId, payload: forRecipient(ctx.built, recipient) });
    // No call made: the attempt written with the claim (RECONCILE=on) goes with it.
    end.value = { accepted: id, ambiguous: this.#d.config.reconcile === 'on' ? 'clear' : 'keep' };
    return { recipient, status: 'queued', id, duplicate: false };
  }

  #skipped(recipient: string, id: string): RecipientResult {
    this.#d.metrics.dedupeHits.inc();
    return { recipient, status: 'queued', id, duplicate: true };
  }

  /**
   * Attempts with retry. The first attempt holds the circuit permit (a probe when half-open);
   * a retry needs the process retry budget and a closed circuit, so retries never multiply
   * an outage.
   */
  async #send(
    ctx: SendContext,
    payload: SubmitEmail,
    first: Extract<CircuitPermit, { ok: true }>,
  ): Promise<ApiResult<SubmitEmailResponse>> {
    const c = this.#d.config;
    const retry = { attempts: c.apiMaxAttempts, baseMs: c.retryBaseMs, capMs: c.retryCapMs };
    let permit = first;
    this.#d.retryBudget.recordCall();
    const attempt = async (): Promise<ApiResult<SubmitEmailResponse>> => {
      const res = await this.#submit(ctx, payload);
      this.#d.circuit.record(verdictOf(res), permit);
      return res;
    };
    const mayRetry = (): boolean => {
      const next = this.#d.circuit.acquire();
      if (next.ok && !next.probe && this.#d.retryBudget.tryRetry()) {
        permit = next;
        return true;
      }
      if (next.ok) this.#d.circuit.record('neutral', next);
      this.#d.metrics.retriesDenied.inc();
      return false;
    };
    return withRetry(attempt, retry, ctx.deadline, ctx.signal, mayRetry);
  }

  /** One attempt; a 401 gets one token renewal and one more try (docs/architecture.md#outcomes-and-replies). */
  async #submit(ctx: SendContext, payload: SubmitEmail): Promise<ApiResult<SubmitEmailResponse>> {
    const { credential, signal } = ctx;
    const bearer = await credential.bearer(signal);
    if (!bearer.ok) return this.#traced(ctx, payload.email, bearer, 0);
    let started = performance.now();
    const res = await this.#d.client.submitEmail(bearer.value, payload, credential.accountId, signal);
    this.#traced(ctx, payload.email, res, started);
    if (res.ok || res.error.kind !== 'http' || res.error.status !== 401) return res;
    const renewed = await credential.renew(signal);
    if (!renewed.ok) return this.#traced(ctx, payload.email, renewed, 0);
    started = performance.now();
    return this.#traced(
      ctx,
      payload.email,
      await this.#d.client.submitEmail(renewed.value, payload, credential.accountId, signal),
      started,
    );
  }

  /** Notes one API attempt in the trace (started 0: no call was made, the token could not be had). */
  #traced<T extends ApiResult<unknown>>(ctx: SendContext, recipient: string, res: T, started: number): T {
    if (!ctx.trace) return res;
    const latencyMs = started === 0 ? 0 : Math.round(performance.now() - started);
    if (res.ok) {
      const data = (res.value as Partial<SubmitEmailResponse>).data;
      ctx.trace.attempt(recipient, {
        kind: 'send',
        status: res.status,
        latencyMs,
        ...(data?.id ? { cakemailId: data.id } : {}),
        ...(data && data.status !== 'queued' ? { error: `status "${data.status}"` } : {}),
      });
    } else {
      const status = res.error.kind === 'http' || res.error.kind === 'bad_response' ? res.error.status : null;
      ctx.trace.attempt(recipient, {
        kind: 'send',
        status,
        latencyMs,
        error: `${started === 0 ? 'no token: ' : ''}${describeFailure(res.error)}`,
      });
    }
    return res;
  }
}

/** What an attempt says about the API's health: only transient failures count against it. */
function verdictOf(res: ApiResult<unknown>): CallVerdict {
  if (res.ok) return 'success';
  return isTransient(res.error) ? 'transient_failure' : 'neutral';
}

function isTransient(f: ApiFailure): boolean {
  if (f.kind === 'http') return f.status >= 500 || f.status === 429 || f.status === 408;
  return f.kind === 'timeout' || f.kind === 'network';
}

function describeFailure(f: ApiFailure): string {
  switch (f.kind) {
    case 'http':
      return `HTTP ${f.status}: ${f.message}`;
    case 'bad_response':
      return `HTTP ${f.status} with a body that breaks the contract: ${f.message}`;
    case 'timeout':
      return `timeout: ${f.message}`;
    case 'network':
      return `network (${f.sent ? 'request sent' : 'request not sent'}): ${f.message}`;
  }
}

function describeRefusal(r: Refusal): string {
  return 'reason' in r && r.reason ? `${r.kind}: ${r.reason}` : 'address' in r ? `${r.kind}: ${r.address}` : r.kind;
}

function refused(reason: string): MessageOutcome {
  return { kind: 'refused', refusal: { kind: 'content_invalid', reason } };
}

/** A scheduled send where it cannot be held (sync mode), naming the header. */
export function scheduleRefused(sendAt: { header: string; at: number }): MessageOutcome {
  return refused(
    `${sendAt.header} asks to send at ${new Date(sendAt.at).toISOString()}: scheduled sending needs spool mode (DELIVERY_MODE=spool), this gateway sends at once`,
  );
}

/** How far ahead a message may be scheduled (docs/message-mapping.md §3): as far as SendGrid's send_at. */
export const SCHEDULE_HORIZON_MS = 72 * 3600 * 1000;

/** The refusal of a send time past the horizon, or null. */
export function beyondHorizon(sendAt: { header: string; at: number }, now: number): string | null {
  if (sendAt.at - now <= SCHEDULE_HORIZON_MS) return null;
  return `${sendAt.header} asks to send at ${new Date(sendAt.at).toISOString()}, more than 72 h ahead (the longest the gateway holds a message)`;
}

function parseFailureOutcome(f: ParseFailure): MessageOutcome {
  switch (f.kind) {
    case 'limit':
    case 'malformed':
      return { kind: 'refused', refusal: { kind: 'content_invalid', reason: f.detail } };
    case 'timeout':
      return { kind: 'temp_failure', failure: { kind: 'parse_timeout', reason: f.detail } };
    case 'crashed':
      return { kind: 'temp_failure', failure: { kind: 'local_error', reason: f.detail } };
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}
