// Delivery workers (docs/architecture.md#spool-mode): lease due messages, SPOOL_CONCURRENCY at a
// time, and run each through the same back half as synchronous mode (dedupe, claims, circuit
// breaker, retry budget, token renewal). Per recipient: delivered, dead (with the reason), or
// pending again after a capped, fully jittered backoff.
//
// Exactly once across a SIGKILL: each send is journalled as an open attempt (its tag, its time)
// before it goes out, carrying that tag. An attempt found open on a later lease (the process died
// mid-send, or the answer was lost) is looked up in the API's logs by its tag first; absent
// counts as not sent only once the attempt is older than RECONCILE_WAIT_MS.
import { randomUUID } from 'node:crypto';
import type { CakemailClient } from '../cakemail/client.ts';
import type { Credential, TokenCache } from '../cakemail/tokens.ts';
import type { Config } from '../config/schema.ts';
import type { RecipientResult } from '../delivery/outcome.ts';
import type { DeliveryPipeline } from '../delivery/pipeline.ts';
import { lookUpUnanswered } from '../delivery/reconcile.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { outcomeReply, replyMessage } from '../delivery/replies.ts';
import { fullJitterMs } from '../lib/backoff.ts';
import type {
  AttemptResult,
  LeasedMessage,
  OpenAttempt,
  RecipientRecord,
  RecipientSettlement,
  SpoolBackend,
} from './backend.ts';
import type { SpoolKeyring } from './keyring.ts';
import type { LiveLookup } from '../delivery/live.ts';
import type { TraceStore } from '../trace/store.ts';
import { MessageTrace } from '../trace/trace.ts';

export interface WorkerDeps {
  backend: SpoolBackend;
  pipeline: DeliveryPipeline;
  client: CakemailClient;
  tokens: TokenCache;
  keys: SpoolKeyring;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Told after each settle (gauges). */
  settled(): void;
  /** Each delivery pass is added to the message's trace (found by its spool id). */
  traces?: TraceStore;
  live?: LiveLookup;
}

export class SpoolWorker {
  readonly #d: WorkerDeps;
  readonly #owner = `gw-${randomUUID()}`;
  readonly #inflight = new Set<Promise<void>>();
  /** Aborts sends still running when the drain budget is spent. */
  readonly #abort = new AbortController();
  #running = false;
  #loop: Promise<void> | null = null;
  #woken = false;
  #wake: (() => void) | null = null;

  constructor(deps: WorkerDeps) {
    this.#d = deps;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** A new message (or a retry) is due now: look without waiting for the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stops leasing; in-flight deliveries get until `budgetMs`, then their sends are aborted. */
  async stop(budgetMs: number): Promise<void> {
    this.#running = false;
    this.wake();
    await this.#loop;
    const timer = setTimeout(() => this.#abort.abort(new Error('shutting down')), budgetMs);
    try {
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #run(): Promise<void> {
    const c = this.#d.config;
    while (this.#running) {
      this.#woken = false;
      const free = c.spoolConcurrency - this.#inflight.size;
      if (free > 0) {
        try {
          const leased = await this.#d.backend.lease({ owner: this.#owner, max: free, leaseMs: c.spoolLeaseMs });
          for (const m of leased) this.#track(this.#deliver(m));
        } catch (err) {
          this.#d.logger.error({ err: (err as Error).message }, 'spool lease failed');
        }
      }
      if (!this.#running) break;
      if (!this.#woken) await this.#sleep(c.spoolPollMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  #track(p: Promise<void>): void {
    const tracked = p
      .catch((err: Error) =>
        this.#d.logger.error({ err: err.message, stack: err.stack }, 'spool delivery failed unexpectedly'),
      )
      .finally(() => {
        this.#inflight.delete(tracked);
        // A slot is free: more may be due.
        this.wake();
      });
    this.#inflight.add(tracked);
  }

  async #deliver(m: LeasedMessage): Promise<void> {
    const c = this.#d.config;
    const id = m.message.id;
    const log = this.#d.logger.child({ spoolId: id, session: m.message.sessionId });
    const started = Date.now();
    const signal = AbortSignal.any([AbortSignal.timeout(c.messageDeadlineMs), this.#abort.signal]);
    const deadline = started + c.messageDeadlineMs;
    const decisions = new Map<string, RecipientSettlement>();
    /** Earliest time worth trying again (Retry-After, circuit, reconcile wait). */
    let notBefore = 0;
    const decide = (s: RecipientSettlement) => decisions.set(s.address.toLowerCase(), s);
    // This pass's API attempts, added to the stored trace at settle.
    const pass = new MessageTrace({
      id,
      session: m.message.sessionId,
      client: '',
      login: null,
      envelopeFrom: m.message.envelopeFrom,
      recipients: m.recipients.map((r) => r.address),
    });
    let passCredential: Credential | undefined;
    const settle = () => this.#settle(m, decisions, notBefore, log, pass, passCredential);
    const journalResult = (r: RecipientRecord | string, tag: string, result: AttemptResult) =>
      this.#d.backend.journal(m.lease, {
        type: 'result',
        recipient: typeof r === 'string' ? r : r.address,
        tag,
        at: Date.now(),
        result,
      });

    // What is left: recipients whose Cakemail id is known were queued (a backend that kept them
    // pending is not trusted on that); the rest were never sent, or have an attempt to look up.
    const unsent: RecipientRecord[] = [];
    const open: (RecipientRecord & { open: OpenAttempt })[] = [];
    for (const r of m.recipients) {
      if (r.state !== 'queued' && r.state !== 'retrying') continue;
      if (r.cakemailId !== null) decide({ address: r.address, state: 'delivered', cakemailId: r.cakemailId });
      else if (r.open) open.push({ ...r, open: r.open });
      else unsent.push(r);
    }
    const expired = Date.now() - m.ageFrom > c.spoolMaxAgeS * 1000;
    // Nothing to look up and nothing to send (every recipient delivered before a crash cut the
    // settle, or past SPOOL_MAX_AGE_S): no login, no parse, no API call.
    if (open.length === 0 && (unsent.length === 0 || expired)) {
      if (expired) this.#expire(unsent, decide);
      return settle();
    }

    const pending = [...open, ...unsent];
    const unsealed = this.#d.keys.unseal(id, m.message.credential);
    if (!unsealed.ok) {
      log.error({ reason: unsealed.reason }, 'spooled message cannot be delivered: its SMTP login does not open');
      for (const r of pending) decide({ address: r.address, state: 'dead', reason: unsealed.reason });
      return settle();
    }
    const login = unsealed.login;
    const auth = await this.#d.tokens.authenticate(login.username, login.password, signal);
    if (!auth.ok) {
      if (auth.reason === 'unavailable') {
        for (const r of pending)
          decide({
            address: r.address,
            state: 'pending',
            error: `Cakemail token endpoint unavailable: ${auth.detail}`,
          });
      } else {
        const why =
          auth.reason === 'mfa'
            ? 'the SMTP login now needs MFA'
            : 'Cakemail refused the SMTP login at delivery (password changed?)';
        for (const r of pending) decide({ address: r.address, state: 'dead', reason: why });
      }
      return settle();
    }
    const base: Credential =
      login.accountId !== undefined ? auth.credential.forAccount(login.accountId) : auth.credential;
    // The message names its account (X-Account-Id): lookups and sends use that one.
    const prepared = await this.#d.pipeline.prepare(
      { sessionId: m.message.sessionId, credential: base, envelopeFrom: m.message.envelopeFrom, raw: m.message.raw },
      signal,
      { reread: true },
    );
    const credential = prepared.kind === 'ready' ? prepared.message.credential : base;
    passCredential = credential;

    // 1. Attempts left open by a crash or a lost answer: were they sent?
    const toSend = unsent.map((r) => r.address);
    for (const r of open) {
      const v = await lookUpUnanswered(
        this.#d.pipeline.lookup,
        credential,
        r.address,
        [{ tag: r.open.tag, atMs: r.open.at }],
        signal,
        (lookup) => pass.attempt(r.address, { kind: 'reconcile', ...lookup }),
      );
      if (v.kind === 'undecided') {
        notBefore = Math.max(notBefore, v.retryAt);
        decide({ address: r.address, state: 'pending', error: v.failure.reason });
        continue;
      }
      this.#d.metrics.spoolAttempts.inc({ result: 'reconciled' });
      if (v.kind === 'sent') {
        await journalResult(r, r.open.tag, { kind: 'reconciled', found: true, cakemailId: v.id });
        log.info(
          { to: r.address, tag: r.open.tag, cakemailId: v.id },
          'unanswered send found in the API logs: delivered',
        );
        decide({ address: r.address, state: 'delivered', cakemailId: v.id });
        continue;
      }
      await journalResult(r, r.open.tag, { kind: 'reconciled', found: false });
      log.info({ to: r.address, tag: r.open.tag }, 'unanswered send absent from the API logs: sending again');
      toSend.push(r.address);
    }

    // 2. Past SPOOL_MAX_AGE_S nothing more is tried.
    if (expired) {
      this.#expire(
        pending.filter((r) => decisions.get(r.address.toLowerCase())?.state !== 'delivered'),
        decide,
      );
      return settle();
    }

    // 3. The front half again (the same code as at DATA), then the sends.
    if (toSend.length > 0) {
      if (prepared.kind === 'final') {
        const reply = outcomeReply(prepared.outcome);
        for (const a of toSend) {
          if (reply.code >= 500) {
            decide({ address: a, state: 'dead', reason: `${reply.code} ${replyMessage(reply)}` });
            this.#d.metrics.spoolDeadLetters.inc({ reason: 'refused' });
          } else decide({ address: a, state: 'pending', error: `${reply.code} ${replyMessage(reply)}` });
        }
      } else if (prepared.kind === 'sender_unchecked') {
        for (const a of toSend)
          decide({ address: a, state: 'pending', error: `confirmed sender not checked: ${prepared.failure.reason}` });
        if (prepared.failure.kind === 'api_rate_limited' && prepared.failure.retryAfterS)
          notBefore = Math.max(notBefore, Date.now() + prepared.failure.retryAfterS * 1000);
      } else {
        const tags = new Map<string, string>();
        const results = await this.#d.pipeline.sendTo(prepared.message, toSend, {
          deadline,
          signal,
          trace: pass,
          hooks: {
            opened: (recipient, tag, at) => {
              tags.set(recipient.toLowerCase(), tag);
              return this.#d.backend.journal(m.lease, { type: 'open', recipient, tag, at });
            },
          },
        });
        for (const r of results) {
          const tag = tags.get(r.recipient.toLowerCase());
          notBefore = Math.max(notBefore, await this.#record(r, tag, journalResult, decide, log));
        }
        await this.#d.pipeline.forgetAnonymous(
          prepared.message,
          results.filter((r) => r.status !== 'failed').map((r) => r.recipient),
        );
      }
    }
    return settle();
  }

  /** Past SPOOL_MAX_AGE_S: these recipients are dead letters. */
  #expire(recipients: readonly RecipientRecord[], decide: (s: RecipientSettlement) => void): void {
    const maxAgeS = this.#d.config.spoolMaxAgeS;
    for (const r of recipients) {
      decide({
        address: r.address,
        state: 'dead',
        reason: `expired: not delivered within SPOOL_MAX_AGE_S (${maxAgeS} s)${r.lastError ? `; last error: ${r.lastError}` : ''}`,
      });
      this.#d.metrics.spoolDeadLetters.inc({ reason: 'expired' });
    }
  }

  /** One recipient's send result → journal, metrics, decision. Returns a not-before time (or 0). */
  async #record(
    r: RecipientResult,
    tag: string | undefined,
    journalResult: (r: string, tag: string, result: AttemptResult) => Promise<boolean>,
    decide: (s: RecipientSettlement) => void,
    log: Logger,
  ): Promise<number> {
    const now = Date.now();
    switch (r.status) {
      case 'queued':
        if (tag) await journalResult(r.recipient, tag, { kind: 'queued', cakemailId: r.id, apiStatus: 201 });
        this.#d.metrics.spoolAttempts.inc({ result: 'queued' });
        this.#d.metrics.recipients.inc({ result: r.duplicate ? 'duplicate' : 'queued' });
        decide({ address: r.recipient, state: 'delivered', cakemailId: r.id });
        return 0;
      case 'refused':
        if (tag)
          await journalResult(r.recipient, tag, {
            kind: 'refused',
            reason: r.reason,
            ...(r.apiStatus !== undefined ? { apiStatus: r.apiStatus } : {}),
          });
        this.#d.metrics.spoolAttempts.inc({ result: 'refused' });
        this.#d.metrics.spoolDeadLetters.inc({ reason: 'refused' });
        this.#d.metrics.recipients.inc({ result: 'refused' });
        log.warn(
          { to: r.recipient, reason: r.reason, apiStatus: r.apiStatus },
          'spooled recipient refused by Cakemail: dead letter',
        );
        decide({ address: r.recipient, state: 'dead', reason: `Cakemail refused it: ${r.reason}` });
        return 0;
      case 'failed': {
        if (tag)
          await journalResult(r.recipient, tag, {
            kind: 'failed',
            reason: r.failure.reason,
            ...(r.ambiguous ? { ambiguous: true } : {}),
          });
        if (tag) this.#d.metrics.spoolAttempts.inc({ result: 'failed' });
        decide({ address: r.recipient, state: 'pending', error: `${r.failure.kind}: ${r.failure.reason}` });
        const f = r.failure;
        if (f.kind === 'circuit_open') return now + f.retryInS * 1000;
        if (f.kind === 'api_rate_limited' && f.retryAfterS !== undefined) return now + f.retryAfterS * 1000;
        return 0;
      }
    }
  }

  /** Adds this delivery pass (attempts, per-recipient state, dead-letter reasons) to the message's trace. */
  async #trace(
    spoolId: string,
    pass: MessageTrace,
    settled: readonly RecipientSettlement[],
    result: string,
    nextAttemptAt: number | undefined,
    credential: Credential | undefined,
  ): Promise<void> {
    if (!this.#d.traces) return;
    const done = pass.record();
    await this.#d.traces.update(spoolId, (r) => {
      if (credential) this.#d.live?.remember(r.id, credential);
      for (const p of done.recipients) {
        if (p.attempts.length === 0) continue;
        let t = r.recipients.find((x) => x.address.toLowerCase() === p.address.toLowerCase());
        if (!t) r.recipients.push((t = { address: p.address, attempts: [] }));
        t.attempts.push(...p.attempts);
      }
      for (const s of settled) {
        const t = r.recipients.find((x) => x.address.toLowerCase() === s.address.toLowerCase());
        if (!t) continue;
        t.result = s.state;
        if (s.state === 'delivered') t.cakemailId = s.cakemailId;
        if (s.state === 'dead') t.reason = s.reason;
        if (s.state === 'pending' && s.error) t.reason = s.error;
      }
      r.spool ??= { id: spoolId, deliveries: [] };
      r.spool.deliveries.push({
        at: new Date().toISOString(),
        result,
        recipients: settled.map((s) => ({
          address: s.address,
          state: s.state,
          ...(s.state === 'delivered' ? { cakemailId: s.cakemailId } : {}),
          ...(s.state === 'dead' ? { reason: s.reason } : {}),
          ...(s.state === 'pending' && s.error ? { reason: s.error } : {}),
        })),
        ...(nextAttemptAt !== undefined ? { nextAttemptAt: new Date(nextAttemptAt).toISOString() } : {}),
      });
    });
  }

  async #settle(
    m: LeasedMessage,
    decisions: Map<string, RecipientSettlement>,
    notBefore: number,
    log: Logger,
    pass: MessageTrace,
    credential: Credential | undefined,
  ): Promise<void> {
    const c = this.#d.config;
    const recipients = [...decisions.values()];
    // The n-th wait grows with the attempts the message has had.
    const attempts = Math.max(1, ...m.recipients.map((r) => r.attempts + 1));
    const nextAttemptAt = Math.max(
      notBefore,
      Date.now() + fullJitterMs(attempts, c.spoolRetryBaseMs, c.spoolRetryCapMs),
    );
    const res = await this.#d.backend.settle(m.lease, { recipients, nextAttemptAt });
    this.#d.settled();
    await this.#trace(
      m.message.id,
      pass,
      recipients,
      res.kind,
      res.kind === 'rescheduled' ? nextAttemptAt : undefined,
      credential,
    );
    switch (res.kind) {
      case 'removed': {
        this.#d.metrics.spoolDelivered.inc();
        // The trace from the gateway id to each Cakemail id.
        const delivered = m.recipients.map((r) => {
          const d = decisions.get(r.address.toLowerCase());
          return { to: r.address, cakemailId: d?.state === 'delivered' ? d.cakemailId : r.cakemailId };
        });
        log.info({ recipients: delivered }, 'spooled message delivered');
        return;
      }
      case 'dead':
        log.warn({ recipients: recipients.filter((r) => r.state === 'dead') }, 'spooled message is a dead letter');
        return;
      case 'rescheduled':
        log.info(
          {
            nextAttemptAt: new Date(nextAttemptAt).toISOString(),
            pending: recipients.filter((r) => r.state === 'pending').map((r) => r.address),
          },
          'spooled message rescheduled',
        );
        return;
      case 'gone':
        log.info('spooled message was dropped during delivery');
        return;
      case 'lost':
        log.warn('spool lease lapsed during delivery; another worker has the message');
        return;
    }
  }
}
