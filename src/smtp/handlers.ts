// The SMTP session hooks (docs/architecture.md#data-path): AUTH → MAIL → RCPT → DATA. Each hook decides with
// typed outcomes and answers through the reply table; smtp-server's callback API is adapted
// here and nowhere else.
import { randomUUID } from 'node:crypto';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Credential } from '../cakemail/tokens.ts';
import type { Transaction } from '../delivery/pipeline.ts';
import type { MessageOutcome } from '../delivery/outcome.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { CircuitPermit } from '../resilience/circuit.ts';
import type { RateLimits } from '../resilience/rate-limit.ts';
import type { Authenticator } from './auth.ts';
import { MessageTrace } from '../trace/trace.ts';
import type { TraceStore } from '../trace/store.ts';
import { readData } from './data.ts';
import {
  SmtpReplyError,
  badAddressSyntax,
  circuitOpenReply,
  connectionReplies,
  invalidUtf8Address,
  nonAsciiAddress,
  smtputf8NotOffered,
  futureReleaseNotOffered,
  outcomeReply,
  rateLimited,
  replyMessage,
  sessionReplies,
  spoolFullReply,
  withTrace,
  type Reply,
} from '../delivery/replies.ts';

type Callback<T = void> = (err?: Error | null, result?: T) => void;

/** A simple `local@domain` check; smtp-server has already parsed the angle brackets. */
const ADDRESS =
  /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export interface HandlerDeps {
  auth: Authenticator;
  rateLimits: RateLimits;
  /** Sync mode: the delivery pipeline; spool mode: the spool intake. */
  pipeline: { deliver(tx: Transaction): Promise<MessageOutcome> };
  /** The API circuit breaker, read at RCPT (never a probe slot). Absent in spool mode: the spool accepts during outages. */
  circuit?: { peek(): CircuitPermit };
  /**
   * Spool mode: whether a message of `bytes` (the SIZE declared at MAIL, else 0) can no longer
   * fit, so RCPT gets 452 4.3.1 before the body is sent.
   */
  spoolFull?: (bytes: number) => boolean;
  logger: Logger;
  metrics: Metrics;
  maxMessageBytes: number;
  /** Where each message's trace is kept (docs/security.md, "Message traces"). */
  traces: TraceStore;
}

export class SessionHandlers {
  readonly #d: HandlerDeps;
  /** Sessions with a DATA transaction under way: shutdown waits for these. */
  readonly #busy = new Map<string, Promise<void>>();
  /** One child logger per session, made on first use: a pino child costs a serialisation of its bindings. */
  readonly #logs = new WeakMap<SMTPServerSession, { client: string; log: Logger }>();
  #draining = false;

  constructor(deps: HandlerDeps) {
    this.#d = deps;
  }

  isBusy(sessionId: string): boolean {
    return this.#busy.has(sessionId);
  }

  /**
   * From now on a DATA that reaches the handler is refused with 421 4.3.2 unsent. A command
   * already read from a socket can still arrive after shutdown began (and after `settled()`
   * found nothing to wait for); sending it then would race the process exit and leave its
   * claim and dedupe records unwritten.
   */
  drain(): void {
    this.#draining = true;
  }

  /** Resolves when every DATA transaction under way has answered. */
  async settled(): Promise<void> {
    while (this.#busy.size > 0) await Promise.allSettled([...this.#busy.values()]);
  }

  /** Before the greeting: an IP blocked for failed logins gets 421 4.7.0 and is closed. */
  onConnect = (session: SMTPServerSession, callback: Callback): void => {
    void this.#d.auth.refuseAtConnect(session.remoteAddress).then((refusal) => {
      if (refusal) {
        // Counted (auth_blocked_total{scope="ip"}); the block itself was logged once when it
        // began, and a blocked client reconnecting in a loop must not flood the log.
        this.#log(session).debug(
          { remote: session.remoteAddress, result: refusal.label },
          'connection refused: IP blocked after failed logins',
        );
        return callback(new SmtpReplyError(refusal));
      }
      callback();
    });
  };

  onAuth = (
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    callback: Callback<{ user: unknown }>,
  ): void => {
    const attempt = {
      method: auth.method,
      username: auth.username ?? '',
      password: auth.password ?? '',
      remote: session.remoteAddress,
      connection: session,
      log: this.#log(session),
    };
    void this.#d.auth.attempt(attempt).then((d) => {
      if (d.ok) return callback(null, { user: d.credential });
      setTimeout(() => callback(new SmtpReplyError(d.reply)), d.delayMs);
    });
  };

  onMailFrom = (address: SMTPServerAddress, session: SMTPServerSession, callback: Callback): void => {
    // The null reverse-path <> is legal (RFC 5321 §4.5.5) and is kept as the envelope sender.
    const bad = address.address === '' ? null : checkAddress(address.address);
    if (bad) return callback(new SmtpReplyError(bad));
    // SMTPUTF8 is not offered (RFC 6531 §3.4: a server that does not advertise it refuses the
    // parameter), so a client cannot believe its non-ASCII addresses will be carried.
    const args = address.args as Record<string, unknown> | false;
    if (args && 'SMTPUTF8' in args) return callback(new SmtpReplyError(smtputf8NotOffered()));
    const hold = args ? Object.keys(args).find((k) => k === 'HOLDFOR' || k === 'HOLDUNTIL') : undefined;
    if (hold) return callback(new SmtpReplyError(futureReleaseNotOffered(hold)));
    // The envelope sender is the bounce address and may differ from From (VERP, <>): it is not
    // matched against confirmed senders; From is, after DATA (docs/security.md, "Sender identity").
    const credential = session.user as Credential | undefined;
    if (!credential || !this.#d.rateLimits.enabled) return callback();
    void this.#d.rateLimits.take(session.remoteAddress, credential.accountKey).then((r) => {
      if (r.ok) return callback();
      this.#d.metrics.rateLimited.inc({ limit: r.limit });
      const reply = rateLimited(r.limit, r.perMinute, r.retryS);
      this.#log(session).info(
        { remote: session.remoteAddress, result: reply.label, retryS: r.retryS },
        'MAIL refused by rate limit',
      );
      callback(new SmtpReplyError(reply));
    });
  };

  onRcptTo = (address: SMTPServerAddress, session: SMTPServerSession, callback: Callback): void => {
    const bad = checkAddress(address.address);
    if (bad) return callback(new SmtpReplyError(bad));
    // While the API circuit is open, refuse before the client uploads a body we cannot forward.
    const circuit = this.#d.circuit?.peek();
    if (circuit && !circuit.ok) {
      return callback(new SmtpReplyError(circuitOpenReply(circuit.retryInS)));
    }
    if (this.#d.spoolFull?.(declaredSize(session))) {
      this.#d.metrics.spoolFull.inc();
      return callback(new SmtpReplyError(spoolFullReply));
    }
    callback();
  };

  onData = (stream: SMTPServerDataStream, session: SMTPServerSession, callback: Callback<string>): void => {
    const credential = session.user as Credential | undefined;
    const trace = new MessageTrace({
      id: randomUUID(),
      session: session.id,
      client: session.remoteAddress,
      login: typeof credential?.username === 'string' ? credential.username : null,
      envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      recipients: session.envelope.rcptTo.map((r) => r.address),
    });
    if (this.#draining) {
      stream.resume();
      const reply = withTrace(sessionReplies.shuttingDown, trace.id);
      trace.note('data', 'refused unread: the gateway is shutting down');
      trace.reply(reply);
      // Not waited for by shutdown: nothing was taken, and the trace is best effort once the store may be closing.
      void this.#d.traces.save(trace).then(() => callback(new SmtpReplyError(reply)));
      return;
    }
    const started = performance.now();
    const work = this.#transaction(stream, session, trace).then(async (answered) => {
      const reply = withTrace(answered, trace.id);
      trace.reply(reply);
      // Saved before the client hears the reply, so the id it quotes is found at once.
      await this.#d.traces.save(trace);
      this.#d.metrics.messages.inc({ outcome: reply.label });
      this.#d.metrics.messageDuration.observe((performance.now() - started) / 1000);
      this.#log(session).info(
        {
          code: reply.code,
          enhanced: reply.enhanced,
          outcome: reply.label,
          trace: trace.id,
          ms: Math.round(performance.now() - started),
        },
        'message answered',
      );
      if (reply.code === 250) callback(null, replyMessage(reply));
      else callback(new SmtpReplyError(reply));
    });
    this.#busy.set(session.id, work);
    void work.finally(() => this.#busy.delete(session.id));
  };

  async #transaction(stream: SMTPServerDataStream, session: SMTPServerSession, trace: MessageTrace): Promise<Reply> {
    const log = this.#log(session);
    try {
      const read = await readData(stream, this.#d.maxMessageBytes);
      if (!read.ok) {
        trace.note('data', `refused: ${read.refusal.kind}: ${'reason' in read.refusal ? read.refusal.reason : ''}`);
        return outcomeReply({ kind: 'refused', refusal: read.refusal });
      }
      trace.size(read.raw.length);
      this.#d.metrics.messageSize.observe(read.raw.length);
      this.#d.metrics.messageRecipients.observe(session.envelope.rcptTo.length);
      if (read.normalized) {
        log.info('stray CR/LF normalised in DATA');
        trace.note('data', 'stray CR/LF normalised: bare LF became CRLF, bare CR a space');
      }
      const credential = session.user as Credential | undefined;
      if (!credential) return sessionReplies.authRequired;
      const outcome: MessageOutcome = await this.#d.pipeline.deliver({
        sessionId: session.id,
        credential,
        envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        recipients: session.envelope.rcptTo.map((r) => r.address),
        raw: read.raw,
        trace,
      });
      return outcomeReply(outcome);
    } catch (err) {
      // The connection closed under the message (the client hung up, or a limit cut it): no
      // one is left to answer, nothing was sent, and it is not our error.
      if (clientGone(err)) {
        log.info({ reason: (err as Error).message }, 'connection closed during DATA; message not sent');
        trace.note('data', `connection closed before the final dot: ${(err as Error).message}`);
        return connectionReplies.connectionClosed;
      }
      // A bug must not turn into a lost message or a 5xx: the client keeps it and retries.
      log.error({ err }, 'unexpected error in DATA');
      trace.note('data', `unexpected error: ${(err as Error).message}`);
      stream.resume();
      return outcomeReply({ kind: 'temp_failure', failure: { kind: 'local_error', reason: 'internal error' } });
    }
  }

  /** Every session line carries the session id and the client address (after PROXY). */
  #log(session: SMTPServerSession): Logger {
    const made = this.#logs.get(session);
    if (made && made.client === session.remoteAddress) return made.log;
    const log = this.#d.logger.child({ session: session.id, client: session.remoteAddress });
    this.#logs.set(session, { client: session.remoteAddress, log });
    return log;
  }
}

/** The SIZE= a client declared at MAIL (RFC 1870), 0 when none. */
function declaredSize(session: SMTPServerSession): number {
  const args = session.envelope.mailFrom ? (session.envelope.mailFrom.args as Record<string, string> | false) : false;
  const n = args ? Number(args.SIZE) : 0;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** The DATA stream ended because its connection closed before the final dot. */
function clientGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNECTION' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** Envelope address checks (RFC 6531 X.6.7; docs/threat-model.md T-13, T-14). */
export function checkAddress(address: string): Reply | null {
  if (address.includes('\uFFFD')) return invalidUtf8Address();
  if (/[^\x20-\x7e]/.test(address)) {
    return /[\x00-\x1f\x7f]/.test(address) ? badAddressSyntax(address) : nonAsciiAddress(address);
  }
  if (address.length > 254 || !ADDRESS.test(address)) return badAddressSyntax(address);
  return null;
}
