// The fence around smtp-server's internals (docs/architecture.md, "The SMTP edge: a fenced
// library"). adapter.ts wraps private members of the library's server, connection and parser
// objects; the library may rename or reshape any of them in any release, and a wrapper around a
// member that no longer exists is silently never called: the DATA guards, the deadlines and the
// pipelining check would stop working without an error. So every member the adapter touches is
// declared here once, as a type (what the adapter compiles against) and as a row of INTERNALS
// (what each server checks at construction, on real objects of the installed library). A
// missing or reshaped member stops the start, naming it. test/unit/smtp-internals.test.ts holds
// the adapter to this list and watches the DATA stream byte by byte.
import net from 'node:net';
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { StartupError } from '../config/startup-error.ts';

/** The smtp-server release whose internals INTERNALS was written against (package.json pins it). */
export const VERIFIED_SMTP_SERVER = '3.21.6';

/** The parts of smtp-server's SMTPStream (the command/DATA parser) used by the adapter. */
export interface Parser {
  write(chunk: Buffer, ...rest: unknown[]): boolean;
  _write(chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void): void;
  oncommand(command: Buffer, callback?: () => void): void;
  startDataMode(maxBytes?: number): unknown;
  _dataMode: boolean;
  readonly writableLength: number;
}

/** The parts of smtp-server's SMTPConnection used by the adapter. */
export interface Connection {
  id: string;
  name: string;
  secure: boolean;
  session: SMTPServerSession;
  close(): void;
  send(code: number, data?: string | string[], context?: string | false): void;
  init(): void;
  connectionReady(): void;
  _setListeners(callback: () => void): void;
  upgrade(callback: () => void, secureCallback?: () => void): void;
  _createParser(): Parser;
  _armTimeout(socket?: net.Socket): void;
  _parser: Parser | false;
  _socket: net.Socket;
  _handlerPending: boolean;
  _dataStream: unknown;
  _upgrading: boolean;
  _closing: boolean;
  _closed: boolean;
}

/** The parts of SMTPServer itself used by the adapter, beyond its public API. */
export interface ServerInternals {
  connections: Set<unknown>;
  server: net.Server;
  options: { maxClients?: number };
  secureContext: Map<string, unknown>;
  connect(socket: net.Socket, options: object): void;
  _resolveSNI(name: string, cb: unknown): void;
}

type Shape =
  | { kind: 'function'; params: number }
  | { kind: 'boolean' | 'string' | 'number' | 'object' | 'set' | 'map' | 'net-server' }
  /** `false` or `null` while unset (the connection's DATA stream, before DATA). */
  | { kind: 'unset' };

export interface Internal {
  owner: 'server' | 'connection' | 'parser';
  member: string;
  shape: Shape;
  /** What the adapter does with it: what stops working if it changes. */
  use: string;
}

// One row per member: owner, member, shape (`fnN` is a function of N parameters; `unset` is
// `false` or `null`), and what the adapter does with it, i.e. what stops working if it changes.
const TABLE = `
server     connections     set        wrapped add(): each connection is adapted before it speaks
server     server          net-server its one 'connection' listener is replaced by accept.ts
server     options         object     maxClients, read by the prompt greeting
server     secureContext   map        the '*' context for implicit TLS in accept.ts
server     connect         fn2        hands an accepted socket to the library
server     _resolveSNI     fn2        SNI for implicit TLS in accept.ts
connection id              string     session id in logs
connection name            string     host name in the 421 of the prompt greeting
connection secure          boolean    EHLO hides AUTH before TLS
connection session         object     authenticated or not, for admission
connection close           fn0        closes after a refused PROXY header or pipelined DATA
connection send            fn3        wrapped: every reply goes through our reply table
connection init            fn0        replaced: greeting without the 100 ms hold
connection connectionReady fn1        sends the greeting
connection _setListeners   fn1        socket listeners, from the replaced init
connection upgrade         fn2        wrapped: STARTTLS handshake deadline and renegotiation refusal
connection _createParser   fn0        wrapped: the parser made by STARTTLS is watched too
connection _armTimeout     fn0        wrapped during upgrade: the only sight of the new TLS socket
connection _parser         object     the parser of a new connection, watched
connection _socket         object     bytes already read (pipelining), destroyed at a deadline
connection _handlerPending boolean    waiting on our hook: not idle
connection _dataStream     unset      a DATA reply pending: not idle
connection _upgrading      boolean    in a TLS handshake: its own deadline
connection _closing        boolean    no deadline reply to a closing session
connection _closed         boolean    no deadline reply to a closed session
parser     write           fn3        wrapped: bytes as they arrive (deadlines, PROXY header refusal)
parser     _write          fn3        wrapped: the buffer being parsed, for the pipelining check
parser     oncommand       fn2        wrapped: one command line dispatched
parser     startDataMode   fn1        wrapped: refuses message bytes sent before the 354
parser     _dataMode       boolean    in DATA: the data deadline applies
parser     writableLength  number     bytes queued behind DATA (pipelining)
`;

function shapeOf(token: string): Shape {
  const params = /^fn(\d)$/.exec(token);
  if (params) return { kind: 'function', params: Number(params[1]) };
  const kinds = ['boolean', 'string', 'number', 'object', 'set', 'map', 'net-server', 'unset'] as const;
  const kind = kinds.find((k) => k === token);
  if (!kind) throw new Error(`internals.ts: unknown shape ${token}`);
  return { kind } as Shape;
}

/** Every private or undocumented member the adapter relies on. */
export const INTERNALS: readonly Internal[] = TABLE.trim()
  .split('\n')
  .map((line) => {
    const [owner, member, shape, ...use] = line.split(/\s+/);
    return {
      owner: owner as Internal['owner'],
      member: member as string,
      shape: shapeOf(shape as string),
      use: use.join(' '),
    };
  });

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function of ${value.length} parameters`;
  if (value instanceof Set) return 'a Set';
  if (value instanceof Map) return 'a Map';
  return `a ${typeof value}`;
}

function fits(value: unknown, shape: Shape): boolean {
  switch (shape.kind) {
    case 'function':
      return typeof value === 'function' && value.length === shape.params;
    case 'boolean':
    case 'string':
    case 'number':
      return typeof value === shape.kind;
    case 'object':
      return typeof value === 'object' && value !== null;
    case 'set':
      return value instanceof Set;
    case 'map':
      return value instanceof Map;
    case 'net-server':
      return value instanceof net.Server;
    case 'unset':
      return value === false || value === null;
  }
}

function expected(shape: Shape): string {
  if (shape.kind === 'function') return `a function of ${shape.params} parameters`;
  if (shape.kind === 'unset') return 'false or null';
  if (shape.kind === 'net-server') return 'a net.Server';
  return shape.kind === 'set' ? 'a Set' : shape.kind === 'map' ? 'a Map' : `a ${shape.kind}`;
}

/** Objects of the installed library to check: a server, and a connection and parser it made. */
export interface Specimens {
  server: object;
  connection: object;
  parser: object;
}

/**
 * Checks every row of INTERNALS against real objects. Returns one line per problem, naming the
 * member, what the adapter expected and what it found; empty when the library fits.
 */
export function checkInternals(specimens: Specimens, internals: readonly Internal[] = INTERNALS): string[] {
  const problems: string[] = [];
  for (const i of internals) {
    const value = (specimens[i.owner] as Record<string, unknown>)[i.member];
    if (!fits(value, i.shape))
      problems.push(`${i.owner}.${i.member}: expected ${expected(i.shape)}, found ${describe(value)} (${i.use})`);
  }
  // The accept path is replaced by removing the library's own listener: there must be exactly it.
  const server = (specimens.server as { server?: unknown }).server;
  if (server instanceof net.Server && server.listenerCount('connection') !== 1)
    problems.push(
      `server.server: expected the library's one 'connection' listener, found ${server.listenerCount('connection')}`,
    );
  return problems;
}

/** A connection (on an unconnected socket, never added to the server) and its parser. */
export function specimensOf(server: SMTPServer): Specimens {
  const socket = new net.Socket();
  try {
    const connection = new SMTPConnection(server, socket, {}) as unknown as { _parser: unknown };
    return { server, connection, parser: (connection._parser as object) ?? {} };
  } finally {
    socket.destroy();
  }
}

/**
 * Refuses to start on an smtp-server whose internals are not the ones the adapter wraps. Run by
 * every GatewaySmtpServer before it patches anything: about a millisecond.
 */
export function assertSmtpServerInternals(server: SMTPServer): void {
  let problems: string[];
  try {
    problems = checkInternals(specimensOf(server));
  } catch (err) {
    problems = [`cannot build an SMTPConnection to check: ${(err as Error).message}`];
  }
  if (problems.length === 0) return;
  throw new StartupError(
    'smtp-server (package.json)',
    `the installed smtp-server does not have the internals the SMTP edge relies on (written for ${VERIFIED_SMTP_SERVER}): ${problems.join('; ')}`,
    `install smtp-server ${VERIFIED_SMTP_SERVER} (npm ci), or adapt src/smtp/adapter.ts and src/smtp/internals.ts to the new release and run test/unit/smtp-internals.test.ts`,
  );
}
