// Hostile SMTP sessions against a gateway child process (with its embedded sandbox): grammar
// mutations of every command, floods, trickles, stalls, end-of-data smuggling variants, long
// lines, NUL and control bytes, pipelining, junk and PROXY headers from an unlisted peer. A
// normal client sends real messages throughout, and its latency is compared with a baseline
// taken before the attack. Reports crashes, error log lines, RSS over time and event-loop lag.
//
//   node --import tsx scripts/hostile-sessions.ts [--sessions 100000] [--concurrency 128] [--max-seconds 840] [--seed 1]
//
// Traffic is loopback only: attackers use source addresses 127.0.0.2-127.0.0.201 (so the per-IP
// cap is exercised without refusing every attacker), the normal client 127.0.0.1.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeV1, encodeV2 } from '../src/smtp/proxy-protocol.ts';
import { DEMO } from '../src/sandbox/seed.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const SESSIONS = arg('sessions', 100_000);
const CONCURRENCY = arg('concurrency', 128);
const MAX_SECONDS = arg('max-seconds', 840);
let seed = arg('seed', 1);
/** Deterministic PRNG (mulberry32), so a run can be repeated. */
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.
const PORTS = {
  submission: await freePort(),
  smtps: await freePort(),
  admin: await freePort(),
  sandbox: await freePort(),
};
const LIMITS = {
  SMTP_IDLE_TIMEOUT_MS: '5000',
  SMTP_COMMAND_TIMEOUT_MS: '2000',
  DATA_MIN_RATE_BYTES_PER_S: '500',
  DATA_RATE_GRACE_MS: '1000',
  TLS_HANDSHAKE_TIMEOUT_MS: '1500',
  SESSION_MAX_MS: '20000',
  MAX_CONNECTIONS: '1000',
  MAX_CONNECTIONS_PER_IP: '20',
};
const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
  env: {
    ...process.env,
    LOG_LEVEL: 'warn',
    SMTP_SUBMISSION_PORT: String(PORTS.submission),
    SMTP_SMTPS_PORT: String(PORTS.smtps),
    ADMIN_PORT: String(PORTS.admin),
    SANDBOX_PORT: String(PORTS.sandbox),
    SANDBOX_MAX_EMAILS: '50',
    ...LIMITS,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let exited: { code: number | null; signal: string | null } | undefined;
child.on('exit', (code, signal) => (exited = { code, signal }));
let stderr = '';
child.stderr.setEncoding('utf8');
child.stderr.on('data', (d: string) => (stderr += d));
const logLevels = new Map<number, number>();
const errorLines: string[] = [];
let partial = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (d: string) => {
  const lines = (partial + d).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) {
    try {
      const level = (JSON.parse(line) as { level: number }).level;
      logLevels.set(level, (logLevels.get(level) ?? 0) + 1);
      if (level >= 50 && errorLines.length < 20) errorLines.push(line.slice(0, 400));
    } catch {
      errorLines.push(`(not JSON) ${line.slice(0, 200)}`);
    }
  }
});
for (let i = 0; i < 150 && !stderr.includes('is running'); i++) await sleep(100);
if (!stderr.includes('is running')) throw new Error(`gateway did not start:\n${stderr}`);

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${PORTS.admin}/metrics`)).text();
}
const series = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));
const value = (text: string, name: string) => Number(series(text, `${name} `)[0]?.split(' ')[1] ?? NaN);
/**
 * One scrape: the V8 heap in use (if it stays flat while RSS moves, the growth is the
 * allocator, not a leak) and the event-loop lag since the previous scrape (prom-client resets
 * its delay histogram at each collection, so the run's figure is the maximum over samples).
 */
const lagMs: { max: number; p99: number }[] = [];
async function heapMiB(): Promise<number> {
  const text = await metrics().catch(() => '');
  lagMs.push({
    max: value(text, 'smtp_gateway_nodejs_eventloop_lag_max_seconds') * 1000,
    p99: value(text, 'smtp_gateway_nodejs_eventloop_lag_p99_seconds') * 1000,
  });
  return Math.round(value(text, 'smtp_gateway_nodejs_heap_size_used_bytes') / 1048576);
}
function rssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

// ---------------------------------------------------------------------------------------------
// A client connection with just enough SMTP to drive a session.
class Conn {
  socket: net.Socket;
  buf = '';
  replies = 0;
  closed = false;
  codes: string[] = [];
  #waiters: (() => void)[] = [];
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.#onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }
  #onData(d: string) {
    this.buf += d;
    for (let i = this.buf.indexOf('\n'); i !== -1; i = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (/^\d{3}(?: |\r|$)/.test(line)) {
        this.replies++;
        this.codes.push(line.slice(0, 3));
      }
    }
    if (this.buf.length > 100_000) this.buf = '';
    this.#wake();
  }
  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }
  /** Waits until `n` more replies arrived, the connection closed, or `ms` passed. */
  async wait(n: number, ms = 3000): Promise<void> {
    const target = this.replies + n;
    const until = Date.now() + ms;
    while (this.replies < target && !this.closed && Date.now() < until) {
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, Math.max(1, until - Date.now())).unref();
      });
    }
  }
  write(data: string | Buffer) {
    if (!this.closed && this.socket.writable)
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }
  async cmd(line: string | Buffer, ms?: number) {
    this.write(typeof line === 'string' ? `${line}\r\n` : line);
    await this.wait(1, ms);
  }
  destroy() {
    this.socket.destroy();
  }
}

let srcIndex = 0;
const attackerAddress = () => `127.0.0.${2 + (srcIndex++ % 200)}`;

async function open(opts: {
  port: 'submission' | 'smtps';
  tls?: boolean;
  preamble?: Buffer;
  localAddress?: string;
  greet?: boolean;
}): Promise<Conn | undefined> {
  const tcp = net.connect({
    port: PORTS[opts.port],
    host: '127.0.0.1',
    localAddress: opts.localAddress ?? attackerAddress(),
  });
  tcp.on('error', () => undefined);
  const ok = await new Promise<boolean>((r) => {
    tcp.once('connect', () => r(true));
    tcp.once('close', () => r(false));
  });
  if (!ok) return undefined;
  if (opts.preamble) tcp.write(opts.preamble);
  let socket: net.Socket = tcp;
  if (opts.tls) {
    const s = tls.connect({ socket: tcp, rejectUnauthorized: false, servername: 'localhost' });
    s.on('error', () => undefined);
    const secure = await new Promise<boolean>((r) => {
      s.once('secureConnect', () => r(true));
      s.once('close', () => r(false));
    });
    if (!secure) return undefined;
    socket = s;
  }
  const c = new Conn(socket);
  if (opts.greet !== false) await c.wait(1);
  return c;
}

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
async function login(): Promise<Conn | undefined> {
  const c = await open({ port: 'smtps', tls: true });
  if (!c) return undefined;
  await c.cmd('EHLO hostile.example');
  await c.cmd(`AUTH PLAIN ${b64(`\0${DEMO.username}\0${DEMO.password}`)}`);
  if (c.codes.at(-1) !== '235') {
    c.destroy();
    return undefined;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Generators.
const COMMANDS = [
  'HELO',
  'EHLO',
  'MAIL FROM:',
  'RCPT TO:',
  'DATA',
  'RSET',
  'NOOP',
  'QUIT',
  'VRFY',
  'EXPN',
  'HELP',
  'AUTH',
  'STARTTLS',
  'BDAT',
  'XCLIENT',
  'XFORWARD',
  'ETRN',
  'TURN',
  'ATRN',
  'SEND',
  'SOML',
  'SAML',
  'LHLO',
  'WIZ',
  'SHELL',
];
const ADDRESSES = [
  '<a@example.org>',
  '<>',
  'a@example.org',
  '<a@example.org',
  '<<a@example.org>>',
  '<a@b@c>',
  '<"quoted local"@example.org>',
  '<a@[127.0.0.1]>',
  '<a@[IPv6:::1]>',
  '<@route:a@example.org>',
  '<é@example.org>',
  '<a@exämple.org>',
  `<${'x'.repeat(300)}@example.org>`,
  '<a@example.org> SIZE=-1',
  '<a@example.org> SIZE=99999999999999',
  '<a@example.org> BODY=8BITMIME SMTPUTF8',
  '<a@example.org> BODY=BINARYMIME',
  '<a@example.org> NOTIFY=NEVER ORCPT=rfc822;a@b',
  '<a@example.org> X=Y X=Z',
  '<a@example.org> SIZE',
  '<\u0000@example.org>',
  '<a\r@example.org>',
  '<a\xff\xfe@example.org>',
];
const BYTES = [
  '\u0000',
  '\r',
  '\n',
  '\t',
  '\u001b',
  '\u007f',
  '\xff',
  '\xc3\x28',
  ' ',
  '  ',
  ':',
  '<',
  '>',
  '"',
  '\\',
  '%',
  '=',
  '+',
  '.',
];

function mutate(command: string): string {
  let arg =
    command.startsWith('MAIL') || command.startsWith('RCPT')
      ? pick(ADDRESSES)
      : pick([
          '',
          'client.example',
          '[127.0.0.1]',
          'x'.repeat(int(600)),
          'PLAIN',
          'LOGIN',
          'XOAUTH2 abc',
          'PLAIN =',
          'PLAIN ' + b64('\0a\0b'),
          '10 LAST',
          'ADDR=1.2.3.4 NAME=spoof',
          'root',
          '*',
        ]);
  let cmd = command;
  switch (int(8)) {
    case 0:
      cmd = cmd.toLowerCase();
      break;
    case 1:
      cmd = cmd.replace(':', ' : ');
      break;
    case 2:
      cmd = cmd.replace(':', '');
      break;
    case 3:
      arg = arg + pick(BYTES).repeat(1 + int(4));
      break;
    case 4: {
      const at = int(cmd.length + 1);
      cmd = cmd.slice(0, at) + pick(BYTES) + cmd.slice(at);
      break;
    }
    case 5:
      arg = arg + ' ' + 'A'.repeat(int(20_000));
      break;
    default:
      break;
  }
  return `${cmd}${cmd.endsWith(':') ? '' : ' '}${arg}`;
}

/** End-of-data variants (smuggling, T-01/T-03) followed by a smuggled transaction. */
const EOD_VARIANTS = [
  '\n.\n',
  '\r.\r',
  '\r\n.\n',
  '\n.\r\n',
  '\r\n.\r',
  '\r\n\u0000.\r\n',
  '\r\n.\u0000\r\n',
  '\r\n .\r\n',
  '\r\n..\r\n',
  '\r\n.\r\r\n',
];
const smuggled = `MAIL FROM:<${DEMO.username}>\r\nRCPT TO:<smuggled@example.org>\r\nDATA\r\nFrom: ${DEMO.username}\r\nSubject: smuggled\r\n\r\nsmuggled\r\n`;

type Session = () => Promise<void>;
const counters = new Map<string, number>();
const count = (k: string) => counters.set(k, (counters.get(k) ?? 0) + 1);
let dataAccepted = 0;

const sessions: [number, string, Session][] = [
  [
    30,
    'grammar',
    async () => {
      const c = await open({ port: 'submission' });
      if (!c) return;
      const pipelined = rand() < 0.3;
      for (let i = 0, n = 2 + int(8); i < n && !c.closed; i++) {
        const line = mutate(pick(COMMANDS)) + (rand() < 0.1 ? '\n' : '\r\n');
        if (pipelined) c.write(line);
        else await c.cmd(Buffer.from(line, 'latin1'), 2500);
      }
      if (pipelined) await c.wait(3, 800);
      c.destroy();
    },
  ],
  [
    12,
    'authed-grammar',
    async () => {
      const c = await login();
      if (!c) return;
      for (let i = 0, n = 2 + int(6); i < n && !c.closed; i++)
        await c.cmd(
          mutate(pick(['MAIL FROM:', 'RCPT TO:', 'RSET', 'NOOP', 'DATA', 'VRFY', 'BDAT', 'AUTH', 'EHLO', 'STARTTLS'])),
          2500,
        );
      c.destroy();
    },
  ],
  [
    10,
    'smuggling',
    async () => {
      const c = await login();
      if (!c) return;
      await c.cmd(`MAIL FROM:<${DEMO.username}>`);
      await c.cmd(`RCPT TO:<eod-${int(1e9)}@example.org>`);
      await c.cmd('DATA');
      if (c.codes.at(-1) !== '354') return c.destroy();
      const body = `From: ${DEMO.username}\r\nSubject: eod ${int(1e9)}\r\n\r\nline one${pick(EOD_VARIANTS)}${smuggled}\r\n.\r\n`;
      const split = int(3);
      if (split === 0) c.write(body);
      else
        for (let i = 0; i < body.length; i += split === 1 ? 1 + int(16) : 1)
          c.write(body.slice(i, i + (split === 1 ? 1 + int(16) : 1)));
      const before = c.replies;
      await c.wait(1, 5000);
      if (c.replies > before && c.codes.at(-1) === '250') dataAccepted++;
      await c.cmd('QUIT', 1000);
      c.destroy();
    },
  ],
  [
    8,
    'data-bytes',
    async () => {
      const c = await login();
      if (!c) return;
      await c.cmd(`MAIL FROM:<${DEMO.username}>`);
      await c.cmd(`RCPT TO:<bytes-${int(1e9)}@example.org>`);
      await c.cmd('DATA');
      if (c.codes.at(-1) !== '354') return c.destroy();
      const junk = pick([
        () => '\u0000'.repeat(1 + int(10)),
        () => 'x'.repeat(20_000 + int(200_000)), // a long line (T-12)
        () => Array.from({ length: 200 }, () => pick(BYTES)).join(''),
        () => '\r'.repeat(50) + '\n'.repeat(50),
        () => Buffer.from(Array.from({ length: 2000 }, () => int(256))).toString('latin1'),
        () => '=?utf-8?b?' + b64('\r\nBcc: x@evil.example') + '?=',
      ])();
      c.write(`From: ${DEMO.username}\r\nSubject: ${junk.slice(0, 200)}\r\n\r\n${junk}\r\n.\r\n`);
      const before = c.replies;
      await c.wait(1, 8000);
      if (c.replies > before && c.codes.at(-1) === '250') dataAccepted++;
      c.destroy();
    },
  ],
  [
    8,
    'pipelining',
    async () => {
      // T-15a unauthenticated and authenticated: the whole transaction in one write.
      const c = rand() < 0.5 ? await login() : await open({ port: 'submission' });
      if (!c) return;
      c.write(
        `EHLO p.example\r\nMAIL FROM:<${DEMO.username}>\r\nRCPT TO:<pipe@example.org>\r\nDATA\r\nFrom: ${DEMO.username}\r\n\r\nbody\r\n.\r\nQUIT\r\n`,
      );
      await c.wait(5, 3000);
      c.destroy();
    },
  ],
  [
    3,
    'noop-flood',
    async () => {
      // T-15b: 10,000 NOOPs in one write.
      const c = await open({ port: 'submission' });
      if (!c) return;
      c.write('NOOP\r\n'.repeat(10_000));
      await c.wait(50, 1000);
      c.destroy();
    },
  ],
  [
    6,
    'long-line',
    async () => {
      // T-12: a command line far over the limit, with and without its CRLF.
      const c = await open({ port: rand() < 0.5 ? 'submission' : 'smtps', tls: false });
      if (!c) return;
      c.write('EHLO ' + 'a'.repeat(20_000 + int(1_000_000)) + (rand() < 0.5 ? '\r\n' : ''));
      await c.wait(1, 2000);
      c.destroy();
    },
  ],
  [
    6,
    'junk',
    async () => {
      // T-23: binary noise, HTTP, a TLS ClientHello on the cleartext port, PROXY from an unlisted peer.
      const payload = pick([
        () => Buffer.from(Array.from({ length: 1 + int(4000) }, () => int(256))),
        () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        () => Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]),
        () => encodeV1('203.0.113.9', 1, '192.0.2.1', 587),
        () => encodeV2({ src: '2001:db8::9', srcPort: 1, dst: '2001:db8::1', dstPort: 587 }),
        () => Buffer.from('\u0000'.repeat(1000)),
      ])();
      const c = await open({ port: rand() < 0.8 ? 'submission' : 'smtps', preamble: payload, greet: false });
      if (!c) return;
      await c.wait(2, 600);
      c.destroy();
    },
  ],
  [
    5,
    'trickle',
    async () => {
      // T-16: one byte at a time; the command deadline (2 s here) or our own 3 s budget ends it.
      const c = await open({ port: 'submission' });
      if (!c) return;
      const text = 'EHLO trickle.example.com\r\nMAIL FROM:<a@example.org>\r\n';
      const until = Date.now() + 3000;
      for (let i = 0; !c.closed && Date.now() < until; i = (i + 1) % text.length) {
        c.write(text[i] as string);
        await sleep(50 + int(200));
      }
      c.destroy();
    },
  ],
  [
    3,
    'data-trickle',
    async () => {
      const c = await login();
      if (!c) return;
      await c.cmd(`MAIL FROM:<${DEMO.username}>`);
      await c.cmd('RCPT TO:<slow@example.org>');
      await c.cmd('DATA');
      const until = Date.now() + 3000;
      while (!c.closed && Date.now() < until) {
        c.write('x'.repeat(1 + int(20)));
        await sleep(100);
      }
      c.destroy();
    },
  ],
  [
    4,
    'stall',
    async () => {
      // T-19: a handshake that never starts or stops halfway; STARTTLS with no handshake.
      const kind = int(3);
      if (kind === 2) {
        const c = await open({ port: 'submission' });
        if (!c) return;
        await c.cmd('EHLO s.example');
        await c.cmd('STARTTLS');
        await sleep(500 + int(2000));
        return c.destroy();
      }
      const s = net.connect({ port: PORTS.smtps, host: '127.0.0.1', localAddress: attackerAddress() });
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      if (kind === 1) s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      await Promise.race([new Promise((r) => s.once('close', r)), sleep(500 + int(2000))]);
      s.destroy();
    },
  ],
  [
    3,
    'starttls-injection',
    async () => {
      const c = await open({ port: 'submission' });
      if (!c) return;
      await c.cmd('EHLO i.example');
      c.write(
        `STARTTLS\r\n${pick(['RSET', 'MAIL FROM:<a@example.org>', `AUTH PLAIN ${b64(`\0${DEMO.username}\0${DEMO.password}`)}`])}\r\n`,
      );
      await c.wait(1);
      const s = tls.connect({ socket: c.socket, rejectUnauthorized: false, servername: 'localhost' });
      s.on('error', () => undefined);
      await Promise.race([
        new Promise((r) => s.once('secureConnect', r)),
        new Promise((r) => s.once('close', r)),
        sleep(2000),
      ]);
      let extra = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => (extra += d));
      await sleep(100);
      if (extra.length > 0) count('starttls-unsolicited-reply');
      s.destroy();
    },
  ],
  [
    2,
    'connection-burst',
    async () => {
      // T-17 in miniature: 30 connections at once from one address, over the per-IP cap of 20.
      const from = attackerAddress();
      const conns = await Promise.all(
        Array.from({ length: 30 }, () => open({ port: 'submission', localAddress: from })),
      );
      for (const c of conns) c?.destroy();
    },
  ],
];
const totalWeight = sessions.reduce((n, [w]) => n + w, 0);
function pickSession(): [string, Session] {
  let r = rand() * totalWeight;
  for (const [w, name, fn] of sessions) {
    r -= w;
    if (r < 0) return [name, fn];
  }
  const last = sessions.at(-1) as [number, string, Session];
  return [last[1], last[2]];
}

// ---------------------------------------------------------------------------------------------
// The normal client: a whole authenticated message, timed from connect to the final 250.
async function probeOnce(): Promise<number | undefined> {
  const t0 = performance.now();
  const c = await open({ port: 'smtps', tls: true, localAddress: '127.0.0.1' });
  if (!c) return undefined;
  try {
    await c.cmd('EHLO probe.example');
    await c.cmd(`AUTH PLAIN ${b64(`\0${DEMO.username}\0${DEMO.password}`)}`);
    await c.cmd(`MAIL FROM:<${DEMO.username}>`);
    await c.cmd(`RCPT TO:<probe-${int(1e9)}@example.org>`);
    await c.cmd('DATA');
    await c.cmd(`From: ${DEMO.username}\r\nSubject: probe ${int(1e9)}\r\n\r\nhello\r\n.`, 10_000);
    return c.codes.includes('235') && c.codes.at(-1) === '250' ? performance.now() - t0 : undefined;
  } finally {
    c.destroy();
  }
}
async function probeSeries(n: number, gapMs: number): Promise<{ ok: number[]; failed: number }> {
  const ok: number[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const ms = await probeOnce();
    if (ms === undefined) failed++;
    else ok.push(ms);
    await sleep(gapMs);
  }
  return { ok, failed };
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number) : NaN;
};

// ---------------------------------------------------------------------------------------------
// The run.
const startedAt = Date.now();
const rss: { s: number; mib: number; heap: number }[] = [{ s: 0, mib: rssMiB(), heap: await heapMiB() }];
const baseline = await probeSeries(30, 50);
console.log(
  `baseline: ${baseline.ok.length} probes, p50 ${pct(baseline.ok, 50)} ms, p99 ${pct(baseline.ok, 99)} ms, failed ${baseline.failed}`,
);

let launched = 0;
let finished = 0;
let clientErrors = 0;
const deadline = startedAt + MAX_SECONDS * 1000;
const attackStart = Date.now();
let attacking = true;
const sampler = setInterval(() => {
  void heapMiB().then((heap) => {
    rss.push({ s: Math.round((Date.now() - attackStart) / 1000), mib: rssMiB(), heap });
    process.stdout.write(`  t=${rss.at(-1)?.s}s sessions=${finished} rss=${rss.at(-1)?.mib} MiB heap=${heap} MiB\n`);
  });
}, 10_000);

const during: number[] = [];
let duringFailed = 0;
const prober = (async () => {
  while (attacking) {
    const ms = await probeOnce();
    if (ms === undefined) duringFailed++;
    else during.push(ms);
    await sleep(200);
  }
})();

async function worker(): Promise<void> {
  while (launched < SESSIONS && Date.now() < deadline && !exited) {
    launched++;
    const [name, fn] = pickSession();
    count(name);
    try {
      // Every session is bounded here too, so a hang would show as a count, not a stuck run.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((r) => {
        timer = setTimeout(() => {
          count('client-timeout');
          r();
        }, 15_000);
      });
      await Promise.race([fn(), timeout]).finally(() => clearTimeout(timer));
    } catch {
      clientErrors++;
    }
    finished++;
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
attacking = false;
await prober;
clearInterval(sampler);
const attackSeconds = (Date.now() - attackStart) / 1000;
rss.push({ s: Math.round(attackSeconds), mib: rssMiB(), heap: await heapMiB() });
await sleep(6000); // idle timeouts and half-closed sockets drain
const after = await probeSeries(30, 50);
const m = await metrics().catch(() => '');
const api = (await (
  await fetch(`http://127.0.0.1:${PORTS.sandbox}/_sandbox/requests`)
)
  .json()
  .catch(() => ({}))) as Record<string, number>;

console.log('\n== hostile sessions ==');
console.log(
  `sessions: ${finished} in ${attackSeconds.toFixed(0)} s (${(finished / attackSeconds).toFixed(0)}/s), concurrency ${CONCURRENCY}, seed ${arg('seed', 1)}`,
);
console.log(
  `mix: ${[...counters]
    .filter(([k]) => !k.includes('-timeout') && !k.includes('unsolicited'))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
console.log(
  `client-side timeouts (15 s): ${counters.get('client-timeout') ?? 0}; client exceptions: ${clientErrors}; STARTTLS unsolicited replies: ${counters.get('starttls-unsolicited-reply') ?? 0}`,
);
console.log(
  `gateway process: ${exited ? `EXITED ${JSON.stringify(exited)}` : 'alive'}; stderr uncaught/unhandled: ${/uncaught|unhandled/i.test(stderr) ? 'YES' : 'none'}`,
);
console.log(
  `gateway log lines by level: ${[...logLevels]
    .sort()
    .map(([l, n]) => `${l}:${n}`)
    .join(' ')}; error lines: ${errorLines.length}`,
);
for (const line of errorLines.slice(0, 5)) console.log(`  ${line}`);
console.log(
  `RSS MiB over time (s:MiB): ${rss.map((r) => `${r.s}:${r.mib}`).join(' ')}; max ${Math.max(...rss.map((r) => r.mib))}`,
);
const lags = lagMs.slice(1).filter((l) => !Number.isNaN(l.max)); // the first covers start-up
console.log(
  `event-loop lag per 10 s sample: max of maxima ${Math.round(Math.max(...lags.map((l) => l.max)))} ms, max of p99s ${Math.round(Math.max(...lags.map((l) => l.p99)))} ms, median p99 ${pct(
    lags.map((l) => l.p99),
    50,
  )} ms (${lags.length} samples)`,
);
console.log(
  `V8 heap used MiB over time (s:MiB): ${rss.map((r) => `${r.s}:${r.heap}`).join(' ')}; max ${Math.max(...rss.map((r) => r.heap))}`,
);
console.log(
  `normal client: baseline p50/p99 ${pct(baseline.ok, 50)}/${pct(baseline.ok, 99)} ms (${baseline.ok.length} ok, ${baseline.failed} failed); during attack p50/p99 ${pct(during, 50)}/${pct(during, 99)} ms (${during.length} ok, ${duringFailed} failed); after p50/p99 ${pct(after.ok, 50)}/${pct(after.ok, 99)} ms (${after.ok.length} ok, ${after.failed} failed)`,
);
console.log(
  `messages answered 250 by hostile sessions: ${dataAccepted}; API POST /v2/emails (incl. probes): ${api['POST /v2/emails'] ?? 0}; probe messages: ${baseline.ok.length + during.length + after.ok.length}`,
);
for (const prefix of [
  'smtp_gateway_connections_refused_total',
  'smtp_gateway_deadlines_exceeded_total',
  'smtp_gateway_protocol_violations_total',
  'smtp_gateway_connections{',
]) {
  for (const line of series(m, prefix)) console.log(`  ${line}`);
}
const crashed = exited !== undefined;
child.kill('SIGTERM');
await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
console.log(
  `graceful stop after the run: ${exited ? `exit ${exited.code ?? exited.signal}` : 'did not exit within 10 s'}`,
);
process.exit(crashed ? 1 : 0);
