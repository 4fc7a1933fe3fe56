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

const fn = (params: number): Shape => ({ kind: 'function', params });

/** Every private or undocumented member the adapter relies on. */
export const INTERNALS: readonly Internal[] = [
  {
    owner: 'server',
    member: 'connections',
    shape: { kind: 'set' },
    use: 'wrapped add(): each connection is adapted before it speaks',
  },
  {
    owner: 'server',
    member: 'server',
    shape: { kind: 'net-server' },
    use: "its one 'connection' listener is replaced by accept.ts",
  },
  { owner: 'server', member: 'options', shape: { kind: 'object' }, use: 'maxClients, read by the prompt greeting' },
  {
    owner: 'server',
    member: 'secureContext',
    shape: { kind: 'map' },
    use: "the '*' context for implicit TLS in accept.ts",
  },
  { owner: 'server', member: 'connect', shape: fn(2), use: 'hands an accepted socket to the library' },
  { owner: 'server', member: '_resolveSNI', shape: fn(2), use: 'SNI for implicit TLS in accept.ts' },
  { owner: 'connection', member: 'id', shape: { kind: 'string' }, use: 'session id in logs' },
  {
    owner: 'connection',
    member: 'name',
    shape: { kind: 'string' },
    use: 'host name in the 421 of the prompt greeting',
  },
  { owner: 'connection', member: 'secure', shape: { kind: 'boolean' }, use: 'EHLO hides AUTH before TLS' },
  { owner: 'connection', member: 'session', shape: { kind: 'object' }, use: 'authenticated or not, for admission' },
  { owner: 'connection', member: 'close', shape: fn(0), use: 'closes after a refused PROXY header or pipelined DATA' },
  { owner: 'connection', member: 'send', shape: fn(3), use: 'wrapped: every reply goes through our reply table' },
  { owner: 'connection', member: 'init', shape: fn(0), use: 'replaced: greeting without the 100 ms hold' },
  { owner: 'connection', member: 'connectionReady', shape: fn(1), use: 'sends the greeting' },
  { owner: 'connection', member: '_setListeners', shape: fn(1), use: 'socket listeners, from the replaced init' },
  {
    owner: 'connection',
    member: 'upgrade',
    shape: fn(2),
    use: 'wrapped: STARTTLS handshake deadline and renegotiation refusal',
  },
  {
    owner: 'connection',
    member: '_createParser',
    shape: fn(0),
    use: 'wrapped: the parser made by STARTTLS is watched too',
  },
  {
    owner: 'connection',
    member: '_armTimeout',
    shape: fn(0),
    use: 'wrapped during upgrade: the only sight of the new TLS socket',
  },
  { owner: 'connection', member: '_parser', shape: { kind: 'object' }, use: 'the parser of a new connection, watched' },
  {
    owner: 'connection',
    member: '_socket',
    shape: { kind: 'object' },
    use: 'bytes already read (pipelining), destroyed at a deadline',
  },
  { owner: 'connection', member: '_handlerPending', shape: { kind: 'boolean' }, use: 'waiting on our hook: not idle' },
  { owner: 'connection', member: '_dataStream', shape: { kind: 'unset' }, use: 'a DATA reply pending: not idle' },
  {
    owner: 'connection',
    member: '_upgrading',
    shape: { kind: 'boolean' },
    use: 'in a TLS handshake: its own deadline',
  },
  {
    owner: 'connection',
    member: '_closing',
    shape: { kind: 'boolean' },
    use: 'no deadline reply to a closing session',
  },
  { owner: 'connection', member: '_closed', shape: { kind: 'boolean' }, use: 'no deadline reply to a closed session' },
  {
    owner: 'parser',
    member: 'write',
    shape: fn(3),
    use: 'wrapped: bytes as they arrive (deadlines, PROXY header refusal)',
  },
  {
    owner: 'parser',
    member: '_write',
    shape: fn(3),
    use: 'wrapped: the buffer being parsed, for the pipelining check',
  },
  { owner: 'parser', member: 'oncommand', shape: fn(2), use: 'wrapped: one command line dispatched' },
  { owner: 'parser', member: 'startDataMode', shape: fn(1), use: 'wrapped: refuses message bytes sent before the 354' },
  { owner: 'parser', member: '_dataMode', shape: { kind: 'boolean' }, use: 'in DATA: the data deadline applies' },
  {
    owner: 'parser',
    member: 'writableLength',
    shape: { kind: 'number' },
    use: 'bytes queued behind DATA (pipelining)',
  },
];

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
