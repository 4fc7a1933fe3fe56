// From an accepted TCP socket to an SMTP session: admission (a process-wide slot), the PROXY
// header from a listed load balancer (which names the client), the per-client cap, and on the
// implicit-TLS listener the handshake. All of it under TLS_HANDSHAKE_TIMEOUT_MS, because until
// the session starts nothing else bounds how long a socket may sit here holding its slot.
//
// Refusals on the cleartext listener get a 421 line; on the implicit-TLS listener nothing
// readable can be written before a handshake, and completing one for a client being refused
// would hand a flood the most expensive step for free, so the socket is just closed.
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Admission, ListenerName, Ticket } from './admission.ts';
import { normalizeIp, type CidrMatcher } from '../lib/cidr.ts';
import { parseProxyHeader, startsWithProxySignature } from './proxy-protocol.ts';
import { connectionReplies, replyMessage, type Reply } from '../delivery/replies.ts';

export interface AcceptOptions {
  listener: ListenerName;
  implicitTls: boolean;
  admission: Admission;
  proxyFrom: CidrMatcher;
  handshakeTimeoutMs: number;
  /** Options of the server-side TLS socket (secure context, SNI), read at each handshake. */
  tlsOptions: () => tls.TLSSocketOptions;
  /**
   * Sockets still in here, each to the socket on top of it (the TLS socket once a handshake
   * has started: destroying the TCP socket under a handshake in progress crashes Node). The
   * server destroys them when it closes.
   */
  pending: Map<net.Socket, net.Socket>;
  logger: Logger;
  metrics: Metrics;
  /** Hands the ready socket to the SMTP library. */
  start(socket: net.Socket | tls.TLSSocket, client: ClientInfo, ticket: Ticket): void;
}

export interface ClientInfo {
  /** The client: from the PROXY header when a load balancer sent one, else the peer. */
  address: string;
  port: number;
  /** The TCP peer (the load balancer when there is one). */
  peer: string;
  proxied: boolean;
}

/** Longest wait for the rest of a refused socket's 421 to leave before it is destroyed (ms). */
const REFUSAL_LINGER_MS = 1000;

export function acceptConnection(raw: net.Socket, o: AcceptOptions): void {
  // Until the library takes the socket over, errors (a reset mid-handshake) are ours to absorb.
  const swallow = () => undefined;
  raw.on('error', swallow);
  const peer = normalizeIp(raw.remoteAddress);
  const entry = o.admission.enter(o.listener);
  if (!entry.ok) return refuse(raw, o, entry.reply, peer);
  const ticket = entry.ticket;
  o.pending.set(raw, raw);

  let settled = false;
  let phase: 'proxy' | 'tls' = 'proxy';
  let top: net.Socket = raw;
  const onClose = () => {
    settled = true;
    clearTimeout(deadline);
    o.pending.delete(raw);
    ticket.release();
  };
  raw.once('close', onClose);
  // Until the session starts, the socket is idle from its first moment as far as eviction goes:
  // a connection still owing its PROXY header or handshake is the cheapest way to hold a slot.
  ticket.occupy({
    idleSince: () => ticket.started,
    authenticated: () => false,
    cut: (reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (top === raw && raw.bytesRead === 0) endWith(raw, reply);
      else top.destroy();
    },
  });
  const deadline = setTimeout(() => {
    if (settled) return;
    if (phase === 'proxy') return fail(connectionReplies.proxyRequired, peer, 'no PROXY header in time');
    settled = true;
    const reply = connectionReplies.tlsHandshake(o.handshakeTimeoutMs);
    o.metrics.deadlinesExceeded.inc({ limit: reply.label });
    o.logger.info(
      { listener: o.listener, client: peer, limit: reply.label },
      'connection closed: TLS handshake not completed in time',
    );
    // A client that sent nothing at all can be told why, in cleartext; a half-done handshake cannot.
    if (top === raw && raw.bytesRead === 0) endWith(raw, reply);
    else top.destroy();
  }, o.handshakeTimeoutMs);
  deadline.unref();
  const fail = (reply: Reply, client: string, detail?: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(deadline);
    // The slot is free at once: a refused socket must not crowd out the next client while
    // its 421 drains.
    ticket.release();
    refuse(raw, o, reply, client, detail);
  };

  const withClient = (client: ClientInfo) => {
    if (settled) return;
    phase = 'tls';
    const capped = ticket.bindClient(client.address);
    if (capped) return fail(capped, client.address);
    if (!o.implicitTls) return ready(raw, client);
    // The first bytes of an implicit-TLS connection must be a ClientHello; a PROXY header
    // here comes from a peer that is not a listed load balancer (a listed one had its header
    // read already), and a TLS error would hide the misconfiguration.
    firstBytes(raw, (head) => {
      if (settled) return;
      if (startsWithProxySignature(head)) return fail(connectionReplies.proxyForbidden, client.address);
      const secure = new tls.TLSSocket(raw, o.tlsOptions());
      top = secure;
      o.pending.set(raw, secure);
      secure.once('close', onClose);
      // Client-initiated renegotiation is a CPU lever for the client and buys it nothing.
      secure.disableRenegotiation();
      secure.on('error', swallow);
      secure.once('secure', () => {
        secure.removeListener('error', swallow);
        ready(secure, client);
      });
    });
  };
  const ready = (socket: net.Socket, client: ClientInfo) => {
    if (settled) return;
    settled = true;
    clearTimeout(deadline);
    o.pending.delete(raw);
    // From here the library owns the socket and its close; the ticket goes back in its onClose.
    raw.removeListener('close', onClose);
    socket.removeListener('close', onClose);
    if (socket === raw) raw.removeListener('error', swallow);
    o.start(socket, client, ticket);
  };

  if (!o.proxyFrom(peer)) return withClient({ address: peer, port: raw.remotePort ?? 0, peer, proxied: false });
  readProxyHeader(raw, (result) => {
    if (result.kind === 'closed') return;
    if (result.kind === 'invalid') return fail(connectionReplies.proxyInvalid, peer, result.reason);
    if (result.kind === 'not_proxy') return fail(connectionReplies.proxyRequired, peer);
    const source = result.source;
    withClient(
      source
        ? { address: normalizeIp(source.address), port: source.port, peer, proxied: true }
        : { address: peer, port: raw.remotePort ?? 0, peer, proxied: false },
    );
  });
}

type HeaderResult =
  | { kind: 'header'; source: { address: string; port: number } | undefined }
  | { kind: 'invalid'; reason: string }
  | { kind: 'not_proxy' }
  | { kind: 'closed' };

/** Reads exactly the PROXY header; whatever follows is put back for the next reader. */
function readProxyHeader(socket: net.Socket, done: (r: HeaderResult) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const finish = (r: HeaderResult) => {
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.pause();
    done(r);
  };
  const onEnd = () => finish({ kind: 'closed' });
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const parsed = parseProxyHeader(buf);
    if (parsed.kind === 'incomplete') return;
    if (parsed.kind !== 'header') return finish(parsed);
    const rest = buf.subarray(parsed.header.length);
    socket.removeListener('data', onData);
    socket.pause();
    if (rest.length) socket.unshift(rest);
    socket.removeListener('end', onEnd);
    done({ kind: 'header', source: parsed.header.source });
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
}

/** Waits for the first bytes (at least 12, or the first chunk if it already decides). */
function firstBytes(socket: net.Socket, done: (head: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    if (startsWithProxySignature(buf) === undefined) return;
    socket.removeListener('data', onData);
    socket.pause();
    socket.unshift(buf);
    done(buf);
  };
  socket.on('data', onData);
  // The socket may have been paused after a PROXY header.
  socket.resume();
}

function refuse(raw: net.Socket, o: AcceptOptions, reply: Reply, client: string, detail?: string): void {
  o.admission.refuse(reply, o.listener, client, detail);
  if (o.implicitTls) raw.destroy();
  else endWith(raw, reply);
}

/**
 * Writes one reply line and half-closes. What the client already sent is read and dropped:
 * closing a socket with unread input makes the kernel answer with a reset, which can destroy
 * the reply before the client reads it. A client that does not close its side is cut off after
 * REFUSAL_LINGER_MS (its slot is already free).
 */
function endWith(socket: net.Socket, reply: Reply): void {
  if (socket.destroyed) return;
  socket.on('error', () => undefined);
  socket.end(`${reply.code} ${replyMessage(reply)}\r\n`);
  socket.resume();
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}
