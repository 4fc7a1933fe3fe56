// The one place that adapts smtp-server (3.21.6) to the gateway. Everything here reaches into
// the library, so it stays in this file; the policies live in small files of their own
// (accept.ts, admission.ts, deadlines.ts, proxy-protocol.ts, replies.ts).
//
// Replies. smtp-server derives the enhanced status code (RFC 3463) from the reply code alone
// (550 → 5.1.1, 451 → 4.3.0, DATA 250 → 2.6.0, 538 → 5.7.0), which would contradict what our
// replies say, and it lists AUTH in EHLO before STARTTLS. It offers no hook for either, so
// each connection's `send` is wrapped before the connection sends anything:
//  - a reply text that starts with an enhanced code is ours (replyMessage()): sent as it is;
//  - the library's own replies that our table defines differently are rewritten to our row;
//  - on a connection that is not yet TLS, the EHLO reply does not offer AUTH (RFC 4954 §4
//    lets a server hide mechanisms it will not accept; AUTH there would get 538 anyway);
//  - the EHLO reply advertises RFC 9422 LIMITS (RCPTMAX), so a client that reads it splits a
//    large recipient list itself instead of meeting 452 4.5.3. There is no per-session
//    transaction limit, hence no MAILMAX.
// Each connection's `init` is replaced so that the greeting is not held back 100 ms (see
// greetPromptly).
//
// Connections. The library's accept path (per-listener maxClients, PROXY v1 only, an implicit
// TLS handshake bounded only by the idle timeout) is replaced by accept.ts. Each session's
// byte stream is observed where the library reads it: the socket is piped into a parser
// (SMTPStream, a Writable) whose `write` (bytes as they arrive), `oncommand` (one complete
// line) and `startDataMode` (DATA accepted) are wrapped per parser; STARTTLS makes a new
// parser and a new TLS socket, so `_createParser` and `upgrade` are wrapped too.
//
// Every library member used here is listed in internals.ts, checked when a server is built
// (a release that renamed one refuses to start, naming it) and held to this file by
// test/unit/smtp-internals.test.ts.
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { acceptConnection, type ClientInfo } from './accept.ts';
import type { Admission, ListenerName, Ticket } from './admission.ts';
import type { CidrMatcher } from '../lib/cidr.ts';
import { SessionDeadlines, type SessionLimits } from './deadlines.ts';
import { assertSmtpServerInternals, type Connection, type Parser } from './internals.ts';
import { startsWithProxySignature } from './proxy-protocol.ts';
import { connectionReplies, replyMessage, sessionReplies, type Reply } from '../delivery/replies.ts';

const OURS = /^[245]\.\d{1,3}\.\d{1,3} /;

/** Library replies (code + text prefix) that our table words differently. */
export const LIBRARY_REWRITES: { code: number; prefix: string; reply: Reply }[] = [
  { code: 421, prefix: 'Server shutting down', reply: sessionReplies.shuttingDown },
  { code: 421, prefix: 'Timeout - closing connection', reply: sessionReplies.idleTimeout },
  { code: 538, prefix: '', reply: sessionReplies.tlsRequired },
];

/** The end of the library's 421 to a client that talks before the greeting. */
export const EARLY_TALKER_SUFFIX = ' You talk too soon';

/**
 * smtp-server's `init` holds every greeting 100 ms so that a client which talks before the
 * banner (a spam bot's tell) is caught sending early: its commands are refused with 421 until
 * the greeting has gone out. A client that sends one message per connection pays those 100 ms
 * on every message. This `init` does the same setup (listeners, the connection limit) and
 * greets after two turns of the event loop instead: the turn in between reads whatever the
 * client already sent, so bytes that arrived before the banner are still refused (421 4.5.0)
 * by the library's own check, at a cost of microseconds instead of 100 ms. (Greeting in the
 * same turn would let such bytes through: test/integration/greeting.test.ts.)
 */
function greetPromptly(
  conn: Connection,
  server: { connections: Set<unknown>; options: { maxClients?: number } },
): () => void {
  return () =>
    conn._setListeners(() => {
      if (server.options.maxClients && server.connections.size > server.options.maxClients) {
        return conn.send(421, `${conn.name} Too many connected clients, try again in a moment`, false);
      }
      setImmediate(() => setImmediate(() => conn.connectionReady()));
    });
}

function rewrite(conn: Connection, send: Connection['send'], ehloExtra: readonly string[]): Connection['send'] {
  return (code, data, context) => {
    if (typeof data === 'string' && OURS.test(data)) return send(code, data, false);
    if (typeof data === 'string') {
      const row = LIBRARY_REWRITES.find((r) => r.code === code && data.startsWith(r.prefix));
      if (row) return send(row.reply.code, replyMessage(row.reply), false);
      if (code === 421 && data.endsWith(EARLY_TALKER_SUFFIX)) {
        const r = sessionReplies.earlyTalker;
        return send(r.code, replyMessage(r), false);
      }
    }
    // The EHLO reply is the only multi-line 250 smtp-server sends.
    if (code === 250 && Array.isArray(data)) {
      const lines = conn.secure ? data : data.filter((line) => !line.startsWith('AUTH '));
      return send(code, [...lines, ...ehloExtra], context);
    }
    return send(code, data, context);
  };
}

/** What the connection layer needs besides smtp-server's own options. */
export interface EdgeOptions {
  listener: ListenerName;
  admission: Admission;
  proxyFrom: CidrMatcher;
  limits: SessionLimits;
  logger: Logger;
  metrics: Metrics;
}

/** What a session carries beyond the library's connection. */
interface SessionState {
  ticket: Ticket;
  client: ClientInfo;
  deadlines: SessionDeadlines;
  /** When the last command line was dispatched (or the session began); Date.now(). */
  lastCommand: number;
  /** The TLS socket of a STARTTLS handshake in progress (the library keeps it to itself). */
  handshaking?: tls.TLSSocket;
}

/** An SMTPServer whose connections speak our reply table and obey the edge limits. */
export class GatewaySmtpServer extends SMTPServer {
  readonly #edge: EdgeOptions;
  readonly #pending = new Map<net.Socket, net.Socket>();
  readonly #sessions = new Map<string, SessionState>();
  /** Set by #start() for the duration of the library's connect() call. */
  #incoming: { client: ClientInfo; ticket: Ticket } | undefined;

  constructor(options: SMTPServerOptions, edge: EdgeOptions) {
    super(options);
    // Before anything is patched: a library whose internals moved must not start half-fenced.
    assertSmtpServerInternals(this);
    this.#edge = edge;
    const ehloExtra = options.maxRecipients ? [`LIMITS RCPTMAX=${options.maxRecipients}`] : [];
    const connections = this.connections as unknown as Set<Connection>;
    const add = connections.add.bind(connections);
    connections.add = (conn: Connection) => {
      conn.send = rewrite(conn, conn.send.bind(conn), ehloExtra);
      conn.init = greetPromptly(
        conn,
        this as unknown as { connections: Set<unknown>; options: { maxClients?: number } },
      );
      this.#attach(conn);
      return add(conn);
    };

    // Our accept path instead of the library's.
    this.server.removeAllListeners('connection');
    this.server.on('connection', (socket: net.Socket) =>
      acceptConnection(socket, {
        listener: edge.listener,
        implicitTls: Boolean(options.secure),
        admission: edge.admission,
        proxyFrom: edge.proxyFrom,
        handshakeTimeoutMs: edge.limits.tlsHandshakeTimeoutMs,
        tlsOptions: () => this.#tlsOptions(),
        pending: this.#pending,
        logger: edge.logger,
        metrics: edge.metrics,
        start: (s, client, ticket) => this.#start(s, client, ticket),
      }),
    );

    const onSecure = this.onSecure.bind(this);
    this.onSecure = (socket, session, callback) => {
      const state = this.#sessions.get(session.id);
      state?.deadlines.onHandshakeDone();
      if (state) state.handshaking = undefined;
      onSecure(socket, session, callback);
    };
    const onClose = this.onClose.bind(this);
    this.onClose = (session, callback) => {
      const state = this.#sessions.get(session.id);
      if (state) {
        this.#sessions.delete(session.id);
        state.deadlines.dispose();
        state.ticket.release();
      }
      onClose(session, callback);
    };
  }

  override close(callback?: (() => void) | null): void {
    // Sockets still before their session (PROXY header, TLS handshake) have nothing to finish.
    for (const top of this.#pending.values()) top.destroy();
    super.close(callback);
  }

  /**
   * On shutdown: answer 421 4.3.2 to every session that has no transaction under way and close
   * it, instead of leaving idle clients to find out at closeTimeout. Returns how many.
   */
  closeIdle(isBusy: (sessionId: string) => boolean): number {
    let closed = 0;
    for (const conn of this.connections as unknown as Set<Connection>) {
      if (isBusy(conn.id)) continue;
      const r = sessionReplies.shuttingDown;
      conn.send(r.code, replyMessage(r), false);
      conn.close();
      closed++;
    }
    return closed;
  }

  #tlsOptions(): tls.TLSSocketOptions {
    const server = this as unknown as {
      _resolveSNI(name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void;
    };
    return {
      isServer: true,
      server: this.server,
      secureContext: this.secureContext.get('*') as tls.SecureContext,
      SNICallback: (name, cb) => server._resolveSNI(name, cb),
    };
  }

  #start(socket: net.Socket, client: ClientInfo, ticket: Ticket): void {
    this.#incoming = { client, ticket };
    if ('encrypted' in socket) this.#refuseRenegotiation(socket as tls.TLSSocket, { client: client.address });
    try {
      this.connect(socket, { remoteAddress: client.address, remotePort: client.port });
    } finally {
      this.#incoming = undefined;
    }
  }

  #attach(conn: Connection): void {
    const incoming = this.#incoming;
    // connect() is only ever called from #start(); anything else has no slot to account for.
    if (!incoming) return;
    const { metrics, logger, listener, limits } = this.#edge;
    const log = logger.child({ session: conn.id, client: incoming.client.address });
    const inData = () => Boolean(conn._parser && conn._parser._dataMode);
    const waitingOnServer = () =>
      conn._handlerPending || Boolean(conn._dataStream && conn._parser && !conn._parser._dataMode);
    const state: SessionState = {
      ...incoming,
      lastCommand: Date.now(),
      deadlines: new SessionDeadlines(limits, {
        inData,
        waitingOnServer,
        upgrading: () => conn._upgrading,
        closed: () => conn._closing || conn._closed,
        cut: (reply) => {
          metrics.deadlinesExceeded.inc({ limit: reply.label });
          log.info({ limit: reply.label }, 'connection closed: session limit');
          conn.send(reply.code, replyMessage(reply));
        },
        abort: (reply) => {
          metrics.deadlinesExceeded.inc({ limit: reply.label });
          log.info({ limit: reply.label }, 'connection closed: session limit');
          (state.handshaking ?? conn._socket).destroy();
        },
      }),
    };
    this.#sessions.set(conn.id, state);
    incoming.ticket.occupy({
      idleSince: () => (inData() || waitingOnServer() || conn._upgrading ? null : state.lastCommand),
      authenticated: () => Boolean(conn.session.user),
      // Logged (rate-limited per client) and counted by admission, which decided it.
      cut: (reply) => {
        if (conn._upgrading) (state.handshaking ?? conn._socket).destroy();
        else conn.send(reply.code, replyMessage(reply));
      },
    });
    log.info({ listener, ...(incoming.client.proxied ? { peer: incoming.client.peer } : {}) }, 'connection');

    if (conn._parser) this.#instrument(conn, conn._parser, state, log);
    const createParser = conn._createParser.bind(conn);
    conn._createParser = () => {
      const parser = createParser();
      this.#instrument(conn, parser, state, log);
      return parser;
    };
    const upgrade = conn.upgrade.bind(conn);
    conn.upgrade = (callback, secureCallback) => {
      state.deadlines.onHandshakeStart();
      // upgrade() arms its idle timer on the new TLS socket: the only moment it is visible.
      // Called with .call(conn) below and put back as it was in the finally.
      // eslint-disable-next-line @typescript-eslint/unbound-method
      const arm = conn._armTimeout;
      conn._armTimeout = (socket) => {
        if (socket && socket !== conn._socket) {
          state.handshaking = socket as tls.TLSSocket;
          this.#refuseRenegotiation(state.handshaking, { session: conn.id, client: state.client.address });
        }
        arm.call(conn, socket);
      };
      try {
        upgrade(callback, secureCallback);
      } finally {
        conn._armTimeout = arm;
      }
    };
  }

  #instrument(conn: Connection, parser: Parser, state: SessionState, log: Logger): void {
    const { deadlines } = state;
    const { metrics, admission, listener } = this.#edge;

    // Bytes as they arrive, and the check that the stream does not open with a PROXY header
    // (a listed balancer's header was consumed before the session; any other is refused).
    let head: Buffer | undefined = Buffer.alloc(0);
    const write = parser.write.bind(parser);
    parser.write = (chunk: Buffer, ...rest: unknown[]) => {
      deadlines.onBytes(chunk.length);
      if (head) {
        head = Buffer.concat([head, chunk]);
        const proxy = startsWithProxySignature(head);
        if (proxy !== undefined) head = undefined;
        if (proxy) {
          const reply = connectionReplies.proxyForbidden;
          admission.refuse(reply, listener, state.client.address);
          conn.send(reply.code, replyMessage(reply));
          conn.close();
        }
      }
      return write(chunk, ...rest);
    };

    // RFC 2920 §3.1: DATA ends a group; the message may be sent only after the 354. To know at
    // DATA whether bytes already follow it, track the buffer being parsed in command mode
    // (`current`, from `position` on not yet dispatched) and the chunks queued behind it.
    let current: Buffer | undefined;
    let position = 0;
    let inflight = 0;
    let afterLastCommand = 0;
    const _write = parser._write.bind(parser);
    parser._write = (chunk, encoding, next) => {
      let done = next;
      if (inflight === 0) {
        inflight = chunk.length || -1;
        done = (err) => {
          inflight = 0;
          next(err);
        };
      }
      if (!parser._dataMode) {
        current = chunk;
        position = 0;
      }
      _write(chunk, encoding, done);
    };
    const oncommand = parser.oncommand.bind(parser);
    parser.oncommand = (command, callback) => {
      deadlines.onCommand();
      state.lastCommand = Date.now();
      if (current) {
        const lf = current.indexOf(0x0a, position);
        if (lf !== -1) position = lf + 1;
        afterLastCommand = current.length - position;
      }
      oncommand(command, callback);
    };
    const startDataMode = parser.startDataMode.bind(parser);
    parser.startDataMode = (maxBytes) => {
      const queued =
        afterLastCommand + Math.max(0, parser.writableLength - Math.max(inflight, 0)) + conn._socket.readableLength;
      current = undefined;
      deadlines.onDataStart();
      const stream = startDataMode(maxBytes);
      if (queued > 0) {
        // Closing now also keeps the library's 354 from being written.
        metrics.protocolViolations.inc({ kind: connectionReplies.pipelinedData.label });
        log.info({ bytes: queued }, 'message data pipelined before 354: refused');
        const reply = connectionReplies.pipelinedData;
        conn.send(reply.code, replyMessage(reply));
        conn.close();
      }
      return stream;
    };
  }

  /**
   * Node refuses a renegotiation on a socket with disableRenegotiation() by reporting
   * ERR_TLS_RENEGOTIATION_DISABLED, but a server-side TLSSocket made by hand (as the library
   * and accept.ts make them) reports it only as the internal `_tlsError` event and carries on
   * with the handshake; the connection has to be dropped here.
   */
  #refuseRenegotiation(socket: tls.TLSSocket, who: { session?: string; client: string }): void {
    socket.disableRenegotiation();
    socket.on('_tlsError', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_TLS_RENEGOTIATION_DISABLED' && err.code !== 'ERR_TLS_SESSION_ATTACK') return;
      this.#edge.metrics.protocolViolations.inc({ kind: connectionReplies.tlsRenegotiation.label });
      this.#edge.logger.info(who, 'client-initiated TLS renegotiation refused');
      socket.destroy();
    });
  }
}
