// Deadlines of one SMTP session against slow clients (docs/security.md, "Slow clients"). The
// idle timeout alone is reset by every byte, so one byte every few seconds would hold a
// connection (and a DATA) forever. These are not reset by bytes:
//  - a command line must be complete within SMTP_COMMAND_TIMEOUT_MS of its first byte;
//  - DATA must average DATA_MIN_RATE_BYTES_PER_S after a grace: the deadline is
//    start + grace + bytes / rate, so each byte buys the client 1/rate seconds (Postfix's
//    smtpd_min_data_rate works the same way);
//  - a STARTTLS handshake must finish within TLS_HANDSHAKE_TIMEOUT_MS;
//  - the whole session ends at SESSION_MAX_MS.
// None of them runs against the client while it waits for us (a handler or a message being
// answered): that time is ours. One timer per session, armed for the earliest deadline and
// re-evaluated when it fires, so bytes and commands only update numbers.
import { connectionReplies, type Reply } from '../delivery/replies.ts';

export interface SessionLimits {
  tlsHandshakeTimeoutMs: number;
  commandTimeoutMs: number;
  /** 0 = no DATA rate floor. */
  dataMinRate: number;
  dataRateGraceMs: number;
  sessionMaxMs: number;
}

/** What the deadlines need to know about, and do to, the connection. */
export interface GuardedConnection {
  /** The message body is being received. */
  inData(): boolean;
  /** The client is waiting for us: a handler has not answered, or a message is being decided. */
  waitingOnServer(): boolean;
  /** A STARTTLS handshake is under way. */
  upgrading(): boolean;
  closed(): boolean;
  /** Answer `reply` (421) and close. */
  cut(reply: Reply): void;
  /** Close without a reply (nothing can be written in the middle of a TLS handshake). */
  abort(reply: Reply): void;
}

/** While the client waits on us at the session limit, look again this often (ms). */
const SESSION_RECHECK_MS = 1000;

export class SessionDeadlines {
  readonly #limits: SessionLimits;
  readonly #conn: GuardedConnection;
  readonly #sessionEnd: number;
  #lineStart: number | undefined;
  #dataStart = 0;
  #dataBytes = 0;
  #handshakeEnd: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;
  #done = false;

  constructor(limits: SessionLimits, conn: GuardedConnection, now = Date.now()) {
    this.#limits = limits;
    this.#conn = conn;
    this.#sessionEnd = now + limits.sessionMaxMs;
    this.#arm(this.#sessionEnd, now);
  }

  /** Bytes arrived from the client (before the parser saw them). */
  onBytes(length: number): void {
    if (this.#done) return;
    if (this.#conn.inData()) {
      this.#dataBytes += length;
      return;
    }
    if (this.#lineStart === undefined) {
      const now = Date.now();
      this.#lineStart = now;
      this.#arm(now + this.#limits.commandTimeoutMs, now);
    }
  }

  /** A complete command line was dispatched. */
  onCommand(): void {
    this.#lineStart = undefined;
  }

  onDataStart(): void {
    if (this.#done || this.#limits.dataMinRate === 0) return;
    const now = Date.now();
    this.#dataStart = now;
    this.#dataBytes = 0;
    this.#lineStart = undefined;
    this.#arm(now + this.#limits.dataRateGraceMs, now);
  }

  onHandshakeStart(): void {
    if (this.#done) return;
    const now = Date.now();
    this.#handshakeEnd = now + this.#limits.tlsHandshakeTimeoutMs;
    this.#lineStart = undefined;
    this.#arm(this.#handshakeEnd, now);
  }

  onHandshakeDone(): void {
    this.#handshakeEnd = undefined;
  }

  dispose(): void {
    this.#done = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(at: number, now: number): void {
    if (this.#timer && at >= this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#check(), Math.max(0, at - now));
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    if (this.#done || this.#conn.closed()) return this.dispose();
    const now = Date.now();
    const limits = this.#limits;
    const waiting = this.#conn.waitingOnServer();
    if (this.#handshakeEnd !== undefined) {
      if (!this.#conn.upgrading()) this.#handshakeEnd = undefined;
      else if (now >= this.#handshakeEnd)
        return this.#finish(connectionReplies.tlsHandshake(limits.tlsHandshakeTimeoutMs), false);
    }
    if (now >= this.#sessionEnd && !waiting)
      return this.#finish(connectionReplies.sessionMax(limits.sessionMaxMs), !this.#conn.upgrading());
    let next = now >= this.#sessionEnd ? now + SESSION_RECHECK_MS : this.#sessionEnd;
    if (this.#handshakeEnd !== undefined) next = Math.min(next, this.#handshakeEnd);
    if (this.#conn.inData()) {
      if (limits.dataMinRate > 0) {
        const due = this.#dataStart + limits.dataRateGraceMs + (this.#dataBytes * 1000) / limits.dataMinRate;
        if (now >= due) return this.#finish(connectionReplies.dataRate(limits.dataMinRate), true);
        next = Math.min(next, due);
      }
    } else if (this.#lineStart !== undefined && this.#handshakeEnd === undefined) {
      // Time spent waiting on us is not the client's: its line starts over.
      if (waiting) this.#lineStart = now;
      const due = this.#lineStart + limits.commandTimeoutMs;
      if (now >= due) return this.#finish(connectionReplies.commandTimeout(limits.commandTimeoutMs), true);
      next = Math.min(next, due);
    }
    this.#arm(next, now);
  }

  #finish(reply: Reply, canReply: boolean): void {
    this.dispose();
    if (canReply) this.#conn.cut(reply);
    else this.#conn.abort(reply);
  }
}
