// The one place that adapts smtp-server to our reply table. smtp-server derives the enhanced
// status code (RFC 3463) from the reply code alone (550 → 5.1.1, 451 → 4.3.0, DATA 250 →
// 2.6.0, 538 → 5.7.0), which would contradict what our replies say, and it lists AUTH in EHLO
// before STARTTLS. It offers no hook for either, so each connection's `send` is wrapped here,
// before the connection sends anything:
//  - a reply text that starts with an enhanced code is ours (replyMessage()): sent as it is;
//  - the library's own replies that our table defines differently are rewritten to our row;
//  - on a connection that is not yet TLS, the EHLO reply does not offer AUTH (RFC 4954 §4
//    lets a server hide mechanisms it will not accept; AUTH there would get 538 anyway);
//  - the EHLO reply advertises RFC 9422 LIMITS (RCPTMAX), so a client that reads it splits a
//    large recipient list itself instead of meeting 452 4.5.3. There is no per-session
//    transaction limit, hence no MAILMAX.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { sessionReplies, type Reply } from './replies.ts';

const OURS = /^[245]\.\d{1,3}\.\d{1,3} /;

interface Connection {
  id: string;
  secure: boolean;
  close(): void;
  send(code: number, data?: string | string[], context?: string | false): void;
}

/** Library replies (code + text prefix) that our table words differently. */
const LIBRARY_REWRITES: { code: number; prefix: string; reply: Reply }[] = [
  { code: 421, prefix: 'Server shutting down', reply: sessionReplies.shuttingDown },
  { code: 421, prefix: 'Timeout - closing connection', reply: sessionReplies.idleTimeout },
  { code: 538, prefix: '', reply: sessionReplies.tlsRequired },
];

function rewrite(conn: Connection, send: Connection['send'], ehloExtra: readonly string[]): Connection['send'] {
  return (code, data, context) => {
    if (typeof data === 'string' && OURS.test(data)) return send(code, data, false);
    if (typeof data === 'string') {
      const row = LIBRARY_REWRITES.find((r) => r.code === code && data.startsWith(r.prefix));
      if (row) return send(row.reply.code, `${row.reply.enhanced} ${row.reply.text}`, false);
      // "<name> Too many connected clients": maxClients reached.
      if (code === 421 && data.includes('Too many connected clients')) {
        const r = sessionReplies.tooManyConnections;
        return send(r.code, `${r.enhanced} ${r.text}`, false);
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

/** An SMTPServer whose connections speak our reply table. */
export class GatewaySmtpServer extends SMTPServer {
  constructor(options: SMTPServerOptions) {
    super(options);
    const ehloExtra = options.maxRecipients ? [`LIMITS RCPTMAX=${options.maxRecipients}`] : [];
    const connections = this.connections as unknown as Set<Connection>;
    const add = connections.add.bind(connections);
    connections.add = (conn: Connection) => {
      conn.send = rewrite(conn, conn.send.bind(conn), ehloExtra);
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
