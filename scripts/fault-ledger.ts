// Fault ledger (docs/security.md, "Fault ledger"): N messages through a gateway child process
// while the sandbox (a separate process) faults a share of API calls across every transient
// fault mode it has, and the gateway is stopped with SIGTERM and SIGKILL and restarted. Clients
// retry 4xx replies and dropped connections with the same bytes, as an MTA would. At the end the
// clients' view (reply per message) is joined with what the API stored, per recipient:
//   lost       — a message answered 250 with a recipient the API never stored;
//   duplicates — a recipient stored more than once, split into the ambiguous class (the API
//                committed a send whose answer was lost: a copy the sandbox marks `answerLost`,
//                or an attempt cut by SIGKILL) and everything else (must be 0).
// Outside `npm test`: it takes minutes. Needs the shared Redis (random key prefix, removed at end).
//
//   node --import tsx scripts/fault-ledger.ts --messages 10000 --reconcile on
//
// Options: --messages N (10000) --reconcile on|off (on) --concurrency C (24) --fault-rate R (0.3)
//          --terms 20 --kills 5 --redis URL (redis://127.0.0.1:6379/0) --minutes M (60, a cap)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    reconcile: { type: 'string', default: 'on' },
    concurrency: { type: 'string', default: '24' },
    'fault-rate': { type: 'string', default: '0.3' },
    terms: { type: 'string', default: '20' },
    kills: { type: 'string', default: '5' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    minutes: { type: 'string', default: '60' },
  },
});
const N = Number(args.messages);
const RECONCILE = args.reconcile === 'off' ? 'off' : 'on';
const CONCURRENCY = Number(args.concurrency);
const FAULT_RATE = Number(args['fault-rate']);
const TERMS = Number(args.terms);
const KILLS = Number(args.kills);
const DEADLINE = Date.now() + Number(args.minutes) * 60_000;
const RUN = randomUUID().slice(0, 8);
const USER = 'demo@example.com';
const PASSWORD = 'demo-password';
const API_TIMEOUT_MS = 1000;

/**
 * Every transient fault mode of the sandbox, each an equal share of FAULT_RATE. Left out: an
 * injected 2xx (the sandbox answers it without storing, so it cannot be joined) and 400/422
 * (permanent by contract: the client bounces, which is right and not a fault-tolerance case).
 */
const MODES: Record<string, unknown>[] = [
  { status: 500 },
  { status: 502 },
  { status: 503 },
  { status: 504 },
  { status: 429, retryAfter: '1' },
  { status: 429 },
  { status: 401 },
  { status: 403 },
  { mode: 'reset_before_read' },
  { mode: 'reset_after_read' },
  { mode: 'hang_before_commit' },
  { mode: 'commit_then_hang' },
  { mode: 'commit_then_reset' },
  { latencyMs: API_TIMEOUT_MS + 500 }, // committed after the gateway gave up
];

// ── processes ────────────────────────────────────────────────────────────────────────────

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function start(command: string, env: Record<string, string>, log: NodeJS.WritableStream): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  return child;
}

async function waitFor(url: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`${url} not up after ${ms} ms`);
    await sleep(100);
  }
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

// ── a minimal SMTP client: same bytes every attempt, one connection per attempt ─────────────

type Attempt = { kind: 'reply'; code: number; text: string } | { kind: 'drop'; error: string };

function smtpAttempt(port: number, rcpts: string[], data: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    let buffer = '';
    let step = 0;
    let rcptIndex = 0;
    let settled = false;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done({ kind: 'drop', error: 'client timeout' }), 60_000);
    const send = (line: string) => socket.write(line + '\r\n');
    socket.setEncoding('utf8');
    socket.on('error', (err) => done({ kind: 'drop', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    socket.on('close', () => done({ kind: 'drop', error: 'closed' }));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        const m = /^(?:\d{3}-[^\r\n]*\r\n)*(\d{3})(?: ([^\r\n]*))?\r\n/.exec(buffer);
        if (!m) return;
        buffer = buffer.slice(m[0].length);
        const code = Number(m[1]);
        const text = m[0].trimEnd();
        const fail = () => {
          send('QUIT');
          done({ kind: 'reply', code, text });
        };
        switch (step) {
          case 0: // greeting
            if (code !== 220) return fail();
            send('EHLO ledger.example');
            step = 1;
            break;
          case 1:
            if (code !== 250) return fail();
            send(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`);
            step = 2;
            break;
          case 2:
            if (code !== 235) return fail();
            send(`MAIL FROM:<${USER}>`);
            step = 3;
            break;
          case 3:
            if (code !== 250) return fail();
            send(`RCPT TO:<${rcpts[0]}>`);
            step = 4;
            break;
          case 4:
            if (code !== 250) return fail();
            rcptIndex++;
            if (rcptIndex < rcpts.length) send(`RCPT TO:<${rcpts[rcptIndex]}>`);
            else {
              send('DATA');
              step = 5;
            }
            break;
          case 5:
            if (code !== 354) return fail();
            socket.write(data.replace(/\r\n\./g, '\r\n..') + '\r\n.\r\n');
            step = 6;
            break;
          case 6:
            send('QUIT');
            done({ kind: 'reply', code, text });
            break;
        }
      }
    });
  });
}

// ── the run ──────────────────────────────────────────────────────────────────────────────

interface MessageLog {
  i: number;
  rcpts: string[];
  data: string;
  withMessageId: boolean;
  final?: { code: number; text: string };
  attempts: number;
  replies: Record<string, number>;
  /** Some attempt was cut by a SIGKILL of the gateway (F-22): its API calls may have committed unseen. */
  cutByKill: boolean;
}

function buildMessage(i: number): MessageLog {
  const n = 1 + (i % 3);
  const rcpts = Array.from({ length: n }, (_, j) => `m${i}-r${j}@example.org`);
  const withMessageId = i % 10 !== 0; // one in ten has no Message-ID: no identity, intentional repeats allowed
  const data =
    `From: Ledger <${USER}>\r\nTo: ${rcpts[0]}\r\nSubject: ledger-${RUN}-${i}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n` +
    (withMessageId ? `Message-ID: <ledger-${RUN}-${i}@client.example>\r\n` : '') +
    `Content-Type: text/plain; charset=utf-8\r\n\r\nMessage ${i} of the fault ledger.\r\n`;
  return { i, rcpts, data, withMessageId, attempts: 0, replies: {}, cutByKill: false };
}

async function main(): Promise<void> {
  const started = Date.now();
  const log = createWriteStream(`/tmp/fault-ledger-${RUN}.log`);
  const [sbPort, smtpsPort, submissionPort, adminPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const sbUrl = `http://127.0.0.1:${sbPort}`;
  const prefix = `ledger:${RUN}:`;
  const sandbox = start(
    'sandbox',
    { SANDBOX_HOST: '127.0.0.1', SANDBOX_PORT: String(sbPort), SANDBOX_MAX_EMAILS: String(N * 4), LOG_LEVEL: 'warn' },
    log,
  );
  await waitFor(`${sbUrl}/_sandbox/requests`);

  const gwEnv = {
    CAKEMAIL_API_URL: sbUrl,
    SANDBOX_ENABLED: 'false',
    SMTP_HOST: '127.0.0.1',
    SMTP_SMTPS_PORT: String(smtpsPort),
    SMTP_SUBMISSION_PORT: String(submissionPort),
    ADMIN_PORT: String(adminPort),
    LOG_LEVEL: process.env.LEDGER_GATEWAY_LOG_LEVEL ?? 'warn',
    API_TIMEOUT_MS: String(API_TIMEOUT_MS),
    MESSAGE_DEADLINE_MS: '8000',
    API_RETRY_BASE_MS: '50',
    API_RETRY_CAP_MS: '500',
    SHUTDOWN_TIMEOUT_MS: '5000',
    PARSE_WORKERS: '1',
    REDIS_URL: args.redis!,
    REDIS_KEY_PREFIX: prefix,
    RECONCILE,
    RECONCILE_WAIT_MS: String(API_TIMEOUT_MS * 3),
  };
  let generation = 0;
  const killedGenerations = new Set<number>();
  let gateway = start('serve', gwEnv, log);
  await waitFor(`http://127.0.0.1:${adminPort}/health/ready`);

  // Equal shares: fault k is tried only when the faults before it missed, hence the division.
  const share = FAULT_RATE / MODES.length;
  const faults = MODES.map((m, k) => ({ ...m, rate: Math.min(1, share / (1 - share * k)), paths: ['/v2/emails'] }));
  const set = await fetch(`${sbUrl}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!set.ok) throw new Error(`faults: ${await set.text()}`);

  const messages = Array.from({ length: N }, (_, i) => buildMessage(i));
  let next = 0;
  let completed = 0;
  // 20 SIGTERMs and 5 SIGKILLs spread over the run, KILLs interleaved.
  const events: ('SIGTERM' | 'SIGKILL')[] = Array.from({ length: TERMS + KILLS }, () => 'SIGTERM');
  for (let k = 0; k < KILLS; k++) events[Math.floor(((k + 0.5) * events.length) / KILLS)] = 'SIGKILL';
  const thresholds = events.map((_, k) => Math.floor((N * (k + 1)) / (events.length + 1)));
  let restarting: Promise<void> | null = null;
  const signals: { signal: string; atCompleted: number; downMs: number; at: string }[] = [];

  async function restart(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const t0 = Date.now();
    const at = new Date().toISOString();
    if (signal === 'SIGKILL') killedGenerations.add(generation);
    gateway.kill(signal);
    const bye = exited(gateway);
    if (signal === 'SIGTERM') {
      const timeout = sleep(30_000).then(() => 'timeout');
      if ((await Promise.race([bye.then(() => 'exited'), timeout])) === 'timeout') {
        killedGenerations.add(generation);
        gateway.kill('SIGKILL');
      }
    }
    await bye;
    generation++;
    gateway = start('serve', gwEnv, log);
    await waitFor(`http://127.0.0.1:${adminPort}/health/ready`);
    signals.push({ signal, atCompleted: completed, downMs: Date.now() - t0, at });
  }

  async function worker(): Promise<void> {
    for (;;) {
      const m = messages[next++];
      if (!m) return;
      while (!m.final && Date.now() < DEADLINE) {
        m.attempts++;
        const gen = generation;
        const a = await smtpAttempt(smtpsPort, m.rcpts, m.data);
        const key = a.kind === 'reply' ? String(a.code) : `drop:${a.error}`;
        m.replies[key] = (m.replies[key] ?? 0) + 1;
        if (a.kind === 'drop' && killedGenerations.has(gen)) m.cutByKill = true;
        if (a.kind === 'reply' && (a.code === 250 || a.code >= 500)) m.final = { code: a.code, text: a.text };
        else await sleep(100 + Math.random() * 500);
      }
      completed++;
      const k = signals.length + (restarting ? 1 : 0);
      if (!restarting && k < events.length && completed >= thresholds[k]!) {
        restarting = restart(events[k]!).finally(() => (restarting = null));
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  // Assigned by the workers' callbacks, which TypeScript's narrowing does not see.
  while (restarting) await (restarting as Promise<void>);
  await fetch(`${sbUrl}/_sandbox/faults`, { method: 'DELETE' });
  await sleep(API_TIMEOUT_MS + 1000); // let late commits (injected latency) land before counting

  // ── the join ──
  const requests = (await (await fetch(`${sbUrl}/_sandbox/requests`)).json()) as Record<string, number>;
  const stored = (await (await fetch(`${sbUrl}/_sandbox/emails`)).json()) as {
    payload: { email: string; content: { subject: string } };
    answerLost?: string;
    receivedAt: string;
  }[];
  const copies = new Map<string, { n: number; lost: number; at: string[] }>();
  for (const e of stored) {
    const key = `${e.payload.content.subject}|${e.payload.email}`;
    const c = copies.get(key) ?? { n: 0, lost: 0, at: [] };
    c.n++;
    c.at.push(e.receivedAt + (e.answerLost ? ` (${e.answerLost})` : ''));
    if (e.answerLost) c.lost++;
    copies.set(key, c);
  }
  const r = {
    messages: N,
    recipients: 0,
    answered250: 0,
    answered5xx: 0,
    unanswered: 0,
    lost: 0,
    dupAmbiguous: 0,
    dupOther: 0,
    dupOtherExamples: [] as unknown[],
    attempts: 0,
    replies: {} as Record<string, number>,
  };
  for (const m of messages) {
    r.attempts += m.attempts;
    for (const [k, v] of Object.entries(m.replies)) r.replies[k] = (r.replies[k] ?? 0) + v;
    if (!m.final) r.unanswered++;
    else if (m.final.code === 250) r.answered250++;
    else r.answered5xx++;
    for (const rcpt of m.rcpts) {
      r.recipients++;
      const c = copies.get(`ledger-${RUN}-${m.i}|${rcpt}`) ?? { n: 0, lost: 0, at: [] };
      if (m.final?.code === 250 && c.n === 0) r.lost++;
      if (c.n > 1) {
        const extra = c.n - 1;
        // Explained extras: copies the API committed while their answer was lost, or a cut by SIGKILL.
        const explained = Math.min(extra, c.lost + (m.cutByKill ? extra : 0));
        r.dupAmbiguous += explained;
        r.dupOther += extra - explained;
        if (extra > explained && r.dupOtherExamples.length < 5)
          r.dupOtherExamples.push({ i: m.i, rcpt, copies: c.at, replies: m.replies, withMessageId: m.withMessageId });
      }
    }
  }
  const ambiguousLogged = await countLines(`/tmp/fault-ledger-${RUN}.log`, 'outcome ambiguous');
  const summary = {
    run: RUN,
    reconcile: RECONCILE,
    node: process.version,
    minutes: Number(((Date.now() - started) / 60_000).toFixed(1)),
    concurrency: CONCURRENCY,
    faultRate: FAULT_RATE,
    faultModes: MODES.length,
    signals: {
      SIGTERM: signals.filter((s) => s.signal === 'SIGTERM').length,
      SIGKILL: signals.filter((s) => s.signal === 'SIGKILL').length,
      medianDownMs: median(signals.map((s) => s.downMs)),
    },
    ...(r.dupOther > 0 ? { signalTimes: signals.map((s) => `${s.at} ${s.signal}`) } : {}),
    apiRequests: requests,
    ambiguousSendsLogged: ambiguousLogged,
    ...r,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');

  gateway.kill('SIGTERM');
  sandbox.kill('SIGTERM');
  await Promise.all([exited(gateway), exited(sandbox)]);
  const redis = new Redis(args.redis!);
  let cursor = '0';
  do {
    const [c, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = c;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  log.end();
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function countLines(file: string, needle: string): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l.includes(needle)).length;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
