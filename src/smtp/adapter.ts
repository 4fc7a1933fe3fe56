// The one place that adapts smtp-server to our reply table. smtp-server derives the enhanced
// status code (RFC 3463) from the reply code alone (550 → 5.1.1, 451 → 4.3.0, DATA 250 →
// 2.6.0, 538 → 5.7.0), which would contradict what our replies say, and it lists AUTH in EHLO
// before STARTTLS. It offers no hook for either, so each connection's `send` is wrapped here,
// before the connection sends anything:
//  - a reply text that starts with an enhanced code is ours (replyMessage()): sent as it is;
//  - the library's own replies that our table defines differently are rewritten to our row;
//  - on a connection that is not yet TLS, the EHLO reply does not offer AUTH (RFC 4954 §4
//    lets a server hide mechanisms it will not accept; AUTH there would get 538 anyway).
// and each connection's `init` is replaced so that the greeting is not held back 100 ms (see
// greetPromptly).
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { sessionReplies, type Reply } from './replies.ts';

const OURS = /^[245]\.\d{1,3}\.\d{1,3} /;

interface Connection {
  id: string;
  name: string;
  secure: boolean;
  close(): void;
  send(code: number, data?: string | string[], context?: string | false): void;
  init(): void;
  connectionReady(): void;
  _setListeners(callback: () => void): void;
}

/** Library replies (code + text prefix) that our table words differently. */
const LIBRARY_REWRITES: { code: number; prefix: string; reply: Reply }[] = [
  { code: 421, prefix: 'Server shutting down', reply: sessionReplies.shuttingDown },
  { code: 421, prefix: 'Timeout - closing connection', reply: sessionReplies.idleTimeout },
  { code: 538, prefix: '', reply: sessionReplies.tlsRequired },
];

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
function greetPromptly(conn: Connection, server: { connections: Set<unknown>; options: { maxClients?: number } }): () => void {
  return () =>
    conn._setListeners(() => {
      if (server.options.maxClients && server.connections.size > server.options.maxClients) {
        return conn.send(421, `${conn.name} Too many connected clients, try again in a moment`, false);
      }
      setImmediate(() => setImmediate(() => conn.connectionReady()));
    });
}


function rewrite(conn: Connection, send: Connection['send']): Connection['send'] {
  return (code, data, context) => {
    if (typeof data === 'string' && OURS.test(data)) return send(code, data, false);
    if (typeof data === 'string') {
      const row = LIBRARY_REWRITES.find((r) => r.code === code && data.startsWith(r.prefix));
      if (row) return send(row.reply.code, `${row.reply.enhanced} ${row.reply.text}`, false);
      if (code === 421 && data.endsWith(' You talk too soon')) {
        const r = sessionReplies.earlyTalker;
        return send(r.code, `${r.enhanced} ${r.text}`, false);
      }
      // "<name> Too many connected clients": maxClients reached.
      if (code === 421 && data.includes('Too many connected clients')) {
        const r = sessionReplies.tooManyConnections;
        return send(r.code, `${r.enhanced} ${r.text}`, false);
      }
    }
    if (code === 250 && Array.isArray(data) && !conn.secure) {
      return send(code, data.filter((line) => !line.startsWith('AUTH ')), context);
    }
    return send(code, data, context);
  };
}

/** An SMTPServer whose connections speak our reply table. */
export class GatewaySmtpServer extends SMTPServer {
  constructor(options: SMTPServerOptions) {
    super(options);
    const connections = this.connections as unknown as Set<Connection>;
    const add = connections.add.bind(connections);
    connections.add = (conn: Connection) => {
      conn.send = rewrite(conn, conn.send.bind(conn));
      conn.init = greetPromptly(conn, this as unknown as { connections: Set<unknown>; options: { maxClients?: number } });
      return add(conn);
    };
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
      conn.send(r.code, `${r.enhanced} ${r.text}`, false);
      conn.close();
      closed++;
    }
    return closed;
  }
}
