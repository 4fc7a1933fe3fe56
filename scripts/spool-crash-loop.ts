// Spool crash loop (docs/testing.md, "Spool crash loop"): the crash-safety promise of spool mode,
// tested from outside. N messages with several recipients go through gateway child processes in
// DELIVERY_MODE=spool while they are killed with SIGKILL at random moments (some with message
// bytes in flight, i.e. during the spool write, most with deliveries under way) and restarted,
// optionally through an API outage during which every send fails (the sandbox, a separate
// process, answers 503). Clients retry 4xx replies and dropped connections with the same bytes,
// as an MTA would. Once every client has its final reply, the script waits for the spool to
// empty (`smtp-gateway spool list --json`, a separate process reading the same spool) and joins
// the clients' view with what the API stored, per recipient:
//   lost        — answered 250, a recipient never stored and not a dead letter (must be 0);
//   duplicated  — extra copies of a recipient the API stored more than once (must be 0), with
//                 the part explained by a client resend after a reply cut by a kill (two
//                 spool entries of one message: the dedupe records' job) shown apart;
//   dead        — recipients left as dead letters (visible and retryable: not lost).
// With --backend redis two gateways share one Redis spool and are killed alternately: the
// survivor must take over the dead one's leased messages.
// Outside `npm test`: it takes minutes. Needs Redis (random key prefix, removed at the end).
//
//   node --import tsx scripts/spool-crash-loop.ts --messages 2000 --kills 30
//   node --import tsx scripts/spool-crash-loop.ts --messages 1000 --kills 20 --outage-s 180
//   node --import tsx scripts/spool-crash-loop.ts --backend redis --messages 2000 --kills 30
//
// Options: --backend dir|redis (dir) --messages N (500) --kills K (10) --terms T (2)
//          --kill-every-s S (4, mean gap between signals) --concurrency C (16)
//          --outage-s S (0) --outage-at-s S (10, after the first message) --fault-rate R (0)
//          --state redis|memory (redis: dedupe records in Redis, as a fleet runs)
//          --retry-base-ms (1000) --retry-cap-ms (30000) --drain-timeout-s (900)
//          --redis URL (redis://127.0.0.1:6379/0) --minutes M (60, a cap on the client phase) --keep
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { exited, freePort, runCli, startCli, waitFor } from './lib/children.ts';
import { smtpAttempt, type Phase } from './lib/smtp-attempt.ts';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'dir' },
    messages: { type: 'string', default: '500' },
    kills: { type: 'string', default: '10' },
    terms: { type: 'string', default: '2' },
    'kill-every-s': { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '16' },
    'outage-s': { type: 'string', default: '0' },
    'outage-at-s': { type: 'string', default: '10' },
    'fault-rate': { type: 'string', default: '0' },
    state: { type: 'string', default: 'redis' },
    'retry-base-ms': { type: 'string', default: '1000' },
    'retry-cap-ms': { type: 'string', default: '30000' },
    'drain-timeout-s': { type: 'string', default: '900' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    minutes: { type: 'string', default: '60' },
    keep: { type: 'boolean', default: false },
  },
});
const BACKEND = args.backend === 'redis' ? 'redis' : 'dir';
if (args.backend !== BACKEND) throw new Error(`--backend must be dir or redis, not ${args.backend}`);
const N = Number(args.messages);
const KILLS = Number(args.kills);
const TERMS = Number(args.terms);
const KILL_EVERY_MS = Number(args['kill-every-s']) * 1000;
const CONCURRENCY = Number(args.concurrency);
const OUTAGE_MS = Number(args['outage-s']) * 1000;
const OUTAGE_AT_MS = Number(args['outage-at-s']) * 1000;
const FAULT_RATE = Number(args['fault-rate']);
const STATE = args.state === 'memory' ? 'memory' : 'redis';
const DRAIN_TIMEOUT_MS = Number(args['drain-timeout-s']) * 1000;
const CLIENT_DEADLINE = Date.now() + Number(args.minutes) * 60_000;
const RUN = randomUUID().slice(0, 8);
const USER = 'demo@example.com';
const PASSWORD = 'demo-password';
const API_TIMEOUT_MS = 1000;
const MESSAGE_DEADLINE_MS = 8000;
const usesRedis = BACKEND === 'redis' || STATE === 'redis';

/** Transient faults for --fault-rate (each an equal share), the ambiguous ones included. */
const MODES: Record<string, unknown>[] = [
  { status: 500 },
  { status: 503 },
  { status: 429, retryAfter: '1' },
  { mode: 'reset_before_read' },
  { mode: 'hang_before_commit' },
  { mode: 'commit_then_hang' },
  { mode: 'commit_then_reset' },
  { latencyMs: API_TIMEOUT_MS + 500 },
];

/** Every process the run started, ended on a failure. */
const children = new Set<ChildProcess>();
function spawnCli(cliArgs: string[], env: Record<string, string>, log: NodeJS.WritableStream): ChildProcess {
  const child = startCli(cliArgs, env, log);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

// ── gateways ─────────────────────────────────────────────────────────────────────────────

interface Gateway {
  name: string;
  env: Record<string, string>;
  smtps: number;
  admin: number;
  child: ChildProcess;
  generation: number;
  /** Generations ended by SIGKILL (or a SIGTERM that had to become one). */
  killed: Set<number>;
  /** Client attempts on this gateway and how far each got. */
  phases: Map<number, Phase>;
  /** False from the signal until the restarted process is ready. */
  up: boolean;
}

interface Signal {
  signal: 'SIGKILL' | 'SIGTERM';
  gateway: string;
  at: string;
  /** Client attempts whose final dot was sent and whose reply had not come: a spool write (or the reply) under way. */
  dataInFlight: number;
  /** Messages to deliver in this gateway's spool just before (its gauges), null if unknown. */
  spoolPending: number | null;
  downMs: number;
}

async function spoolPendingFromMetrics(g: Gateway): Promise<number | null> {
  try {
    const text = await (
      await fetch(`http://127.0.0.1:${g.admin}/metrics`, { signal: AbortSignal.timeout(500) })
    ).text();
    let n = 0;
    let seen = false;
    for (const m of text.matchAll(/^smtp_gateway_spool_messages\{state="(queued|retrying)"\} (\S+)$/gm)) {
      n += Number(m[2]);
      seen = true;
    }
    return seen ? n : null;
  } catch {
    return null;
  }
}

// ── messages ─────────────────────────────────────────────────────────────────────────────

interface MessageLog {
  i: number;
  rcpts: string[];
  data: string;
  final?: { code: number; text: string };
  spoolId?: string;
  attempts: number;
  replies: Record<string, number>;
  /** Some attempt was cut by a kill after its final dot: the message may have been spooled without the client hearing 250, and is then spooled again by the resend. */
  cutAfterDot: boolean;
}

function buildMessage(i: number): MessageLog {
  const n = 1 + (i % 4); // 1 to 4 recipients
  const rcpts = Array.from({ length: n }, (_, j) => `m${i}-r${j}-${RUN}@crash.example`);
  // One in ten is large (~200 KB), so that some kills land in the middle of a longer write.
  const line = `Message ${i} of the spool crash loop, run ${RUN}. ${'x'.repeat(60)}\r\n`;
  const body = line.repeat(i % 10 === 0 ? 2500 : 20);
  const data =
    `From: Crash loop <${USER}>\r\nTo: ${rcpts[0]}\r\nSubject: spool-${RUN}-${i}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n` +
    `Message-ID: <spool-${RUN}-${i}@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`;
  return { i, rcpts, data, attempts: 0, replies: {}, cutAfterDot: false };
}

// ── the spool, as the admin CLI shows it ────────────────────────────────────────────────────

interface SpoolEntry {
  id: string;
  state: 'queued' | 'retrying' | 'delivered' | 'dead';
  recipients: { address: string; state: string; attempts: number; last_error: string | null }[];
}

/** The spool as a running gateway's admin port shows it (`GET /spool`); null when it cannot answer. */
async function spoolListHttp(g: Gateway): Promise<SpoolEntry[] | null> {
  if (!g.up) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${g.admin}/spool`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? ((await res.json()) as SpoolEntry[]) : null;
  } catch {
    return null;
  }
}

async function spoolList(env: Record<string, string>): Promise<SpoolEntry[]> {
  const r = await runCli(['spool', 'list', '--json'], env);
  if (r.code !== 0) throw new Error(`spool list --json exited ${r.code}: ${r.stderr.trim().slice(0, 500)}`);
  return JSON.parse(r.stdout) as SpoolEntry[];
}

// ── the run ──────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const started = Date.now();
  const logPath = `/tmp/spool-crash-loop-${RUN}.log`;
  const log = createWriteStream(logPath);
  const spoolDir = mkdtempSync(join(tmpdir(), `spool-crash-loop-${RUN}-`));
  const prefix = `spoolcrash:${RUN}:`;
  const sbPort = await freePort();
  const sbUrl = `http://127.0.0.1:${sbPort}`;
  const sandbox = spawnCli(
    ['sandbox'],
    { SANDBOX_HOST: '127.0.0.1', SANDBOX_PORT: String(sbPort), SANDBOX_MAX_EMAILS: String(N * 10), LOG_LEVEL: 'warn' },
    log,
  );
  await waitFor(`${sbUrl}/_sandbox/requests`, 60_000, sandbox);

  // What every gateway process (and the admin CLI) of the run shares.
  const shared: Record<string, string> = {
    CAKEMAIL_API_URL: sbUrl,
    SANDBOX_ENABLED: 'false',
    LOG_LEVEL: process.env.CRASH_LOOP_GATEWAY_LOG_LEVEL ?? 'warn',
    DELIVERY_MODE: 'spool',
    SPOOL_BACKEND: BACKEND,
    SPOOL_DIR: spoolDir,
    SPOOL_KEY: randomBytes(32).toString('hex'),
    SPOOL_RETRY_BASE_MS: args['retry-base-ms']!,
    SPOOL_RETRY_CAP_MS: args['retry-cap-ms']!,
    // A dead holder's leases lapse after this; it must exceed the message deadline.
    SPOOL_LEASE_MS: String(MESSAGE_DEADLINE_MS * 2),
    SPOOL_POLL_MS: '500',
    API_TIMEOUT_MS: String(API_TIMEOUT_MS),
    MESSAGE_DEADLINE_MS: String(MESSAGE_DEADLINE_MS),
    API_RETRY_BASE_MS: '50',
    API_RETRY_CAP_MS: '500',
    SHUTDOWN_TIMEOUT_MS: '5000',
    PARSE_WORKERS: '1',
    RECONCILE: 'on',
    // Every client of the run logs in from 127.0.0.1 with the right password. The AUTH guard no
    // longer blocks such bursts (logins in flight are reservations that lapse, docs/testing.md
    // "What the crash loop found"), but a waiting login still costs time: the limits are raised
    // so that the run measures the spool, not the guard.
    AUTH_MAX_FAILURES_PER_IP: '1000000',
    AUTH_MAX_FAILURES_PER_USER: '1000000',
    RECONCILE_WAIT_MS: String(API_TIMEOUT_MS * 3),
    ...(usesRedis ? { REDIS_URL: args.redis!, REDIS_KEY_PREFIX: prefix } : {}),
  };

  const gateways: Gateway[] = [];
  for (const name of BACKEND === 'redis' ? ['A', 'B'] : ['A']) {
    const [smtps, submission, admin] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...shared,
      SMTP_HOST: '127.0.0.1',
      SMTP_SMTPS_PORT: String(smtps),
      SMTP_SUBMISSION_PORT: String(submission),
      SMTP_ALT_SUBMISSION_PORT: '0',
      ADMIN_PORT: String(admin),
    };
    const child = spawnCli(['serve'], env, log);
    gateways.push({ name, env, smtps, admin, child, generation: 0, killed: new Set(), phases: new Map(), up: false });
  }
  for (const g of gateways) {
    await waitFor(`http://127.0.0.1:${g.admin}/health/ready`, 60_000, g.child);
    g.up = true;
  }

  // Background faults (--fault-rate), and the outage laid over them for its window.
  const share = FAULT_RATE / MODES.length;
  const baseFaults =
    FAULT_RATE > 0
      ? MODES.map((m, k) => ({ ...m, rate: Math.min(1, share / (1 - share * k)), paths: ['/v2/emails'] }))
      : [];
  const setFaults = async (faults: unknown[]) => {
    const r = faults.length
      ? await fetch(`${sbUrl}/_sandbox/faults`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(faults),
        })
      : await fetch(`${sbUrl}/_sandbox/faults`, { method: 'DELETE' });
    if (!r.ok) throw new Error(`faults: ${r.status} ${await r.text()}`);
  };
  await setFaults(baseFaults);
  let outage: { startedAt: number; endedAt: number | null } | null = null;
  const outageDone = (async () => {
    if (OUTAGE_MS <= 0) return;
    await sleep(OUTAGE_AT_MS);
    await setFaults([{ status: 503, rate: 1, paths: ['/v2/emails'] }, ...baseFaults]);
    outage = { startedAt: Date.now(), endedAt: null };
    log.write(`${new Date().toISOString()} crash-loop: API outage begins (${OUTAGE_MS / 1000} s)\n`);
    await sleep(OUTAGE_MS);
    await setFaults(baseFaults);
    outage.endedAt = Date.now();
    log.write(`${new Date().toISOString()} crash-loop: API outage ends\n`);
  })();

  // ── signals: KILLS SIGKILLs with TERMS SIGTERMs among them, alternating over the gateways ──
  const events: ('SIGTERM' | 'SIGKILL')[] = Array.from({ length: KILLS + TERMS }, () => 'SIGKILL');
  for (let k = 0; k < TERMS; k++) events[Math.floor(((k + 0.5) * events.length) / TERMS)] = 'SIGTERM';
  const signals: Signal[] = [];
  let stopSignals = false;
  let restarting: Promise<void> | null = null;

  async function signalAndRestart(g: Gateway, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const dataInFlight = [...g.phases.values()].filter((p) => p === 'awaiting_reply').length;
    const spoolPending = await spoolPendingFromMetrics(g);
    const t0 = Date.now();
    const at = new Date().toISOString();
    g.up = false;
    if (signal === 'SIGKILL') g.killed.add(g.generation);
    g.child.kill(signal);
    const bye = exited(g.child);
    if (
      signal === 'SIGTERM' &&
      (await Promise.race([bye.then(() => 'exited'), sleep(30_000).then(() => 'timeout')])) === 'timeout'
    ) {
      g.killed.add(g.generation);
      g.child.kill('SIGKILL');
    }
    await bye;
    log.write(
      `${at} crash-loop: ${signal} gateway ${g.name} (generation ${g.generation}; ${dataInFlight} messages in DATA, ${spoolPending ?? '?'} to deliver)\n`,
    );
    g.generation++;
    for (let tries = 1; ; tries++) {
      g.child = spawnCli(['serve'], g.env, log);
      try {
        await waitFor(`http://127.0.0.1:${g.admin}/health/ready`, 60_000, g.child);
        break;
      } catch (err) {
        // A gateway that cannot start again over its own spool is a finding, not a harness hiccup.
        log.write(
          `${new Date().toISOString()} crash-loop: restart ${tries} of gateway ${g.name} failed: ${(err as Error).message}\n`,
        );
        g.child.kill('SIGKILL');
        await exited(g.child);
        if (tries === 3)
          throw new Error(`gateway ${g.name} does not start again after ${signal} (log: ${logPath})`, { cause: err });
      }
    }
    g.up = true;
    signals.push({ signal, gateway: g.name, at, dataInFlight, spoolPending, downMs: Date.now() - t0 });
  }

  const signalLoop = (async () => {
    for (let k = 0; k < events.length; k++) {
      // Random gaps (0.5x to 1.5x the mean): kills land at any point of a write or a delivery.
      const until = Date.now() + KILL_EVERY_MS * (0.5 + Math.random());
      while (Date.now() < until && !stopSignals) await sleep(Math.min(200, until - Date.now()));
      if (stopSignals) return;
      restarting = signalAndRestart(gateways[k % gateways.length]!, events[k]!);
      await restarting;
      restarting = null;
    }
  })();

  // ── clients ──
  const messages = Array.from({ length: N }, (_, i) => buildMessage(i));
  let next = 0;
  let attemptSeq = 0;
  let rr = 0;
  const replyTexts = new Map<string, number>();
  const pick = (): Gateway => {
    // Round robin over the gateways that are up (a client retrying a dead pod's address would
    // get connection refused and come back: the load balancer's job, done here).
    const upNow = gateways.filter((g) => g.up);
    const from = upNow.length ? upNow : gateways;
    return from[rr++ % from.length]!;
  };
  async function client(): Promise<void> {
    for (;;) {
      const m = messages[next++];
      if (!m) return;
      while (!m.final && Date.now() < CLIENT_DEADLINE) {
        m.attempts++;
        const g = pick();
        const gen = g.generation;
        const id = attemptSeq++;
        const a = await smtpAttempt({
          port: g.smtps,
          user: USER,
          password: PASSWORD,
          from: USER,
          rcpts: m.rcpts,
          data: m.data,
          onPhase: (p) => (p === 'done' ? g.phases.delete(id) : g.phases.set(id, p)),
        });
        const key = a.kind === 'reply' ? String(a.code) : `drop:${a.error}`;
        m.replies[key] = (m.replies[key] ?? 0) + 1;
        if (a.kind === 'reply' && a.code !== 250) {
          // Every distinct refusal text once, ids and seconds blurred, to see why clients waited.
          const text = a.text
            .replace(/\b[0-9a-z]*\d[0-9a-z]*-[0-9a-f]{8,}\b/g, '<id>')
            .replace(/\d+ s\b/g, 'N s')
            .slice(0, 160);
          replyTexts.set(text, (replyTexts.get(text) ?? 0) + 1);
        }
        if (a.kind === 'drop' && a.afterDot && g.killed.has(gen)) m.cutAfterDot = true;
        if (a.kind === 'reply' && (a.code === 250 || a.code >= 500)) {
          m.final = { code: a.code, text: a.text };
          m.spoolId = /spooled as (\S+)/.exec(a.text)?.[1];
        } else await sleep(100 + Math.random() * 500);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, () => client()));
  const clientsDoneAt = Date.now();
  log.write(`${new Date().toISOString()} crash-loop: every client has its final reply\n`);
  await outageDone;

  // ── drain: the spool empties (kills go on meanwhile, so they also hit pure delivery) ──
  const cliEnv = { ...gateways[0]!.env, LOG_LEVEL: 'error' };
  let drainedAt: number | null = null;
  let lastPending = -1;
  let finalList: SpoolEntry[] = [];
  const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (Date.now() < drainDeadline) {
    // Assigned by the signal loop, which TypeScript's narrowing does not see.
    while (restarting) await (restarting as Promise<void>);
    try {
      // The admin port while a gateway is up (cheap); the CLI, a process of its own, otherwise.
      finalList = (await spoolListHttp(gateways.find((g) => g.up) ?? gateways[0]!)) ?? (await spoolList(cliEnv));
      const pending = finalList.filter((e) => e.state === 'queued' || e.state === 'retrying').length;
      const deadNow = finalList.filter((e) => e.state === 'dead').length;
      if (pending !== lastPending)
        log.write(
          `${new Date().toISOString()} crash-loop: spool holds ${pending} to deliver, ${deadNow} dead letters\n`,
        );
      lastPending = pending;
      if (pending === 0) {
        drainedAt = Date.now();
        break;
      }
    } catch (err) {
      log.write(`${new Date().toISOString()} crash-loop: ${(err as Error).message}\n`);
    }
    await sleep(2000);
  }
  stopSignals = true;
  await signalLoop;
  await setFaults([]);
  await sleep(API_TIMEOUT_MS + 1000); // late commits (injected latency) land before counting
  // The final word comes from the CLI: what an operator would see.
  if (drainedAt !== null) finalList = await spoolList(cliEnv);

  // ── the join ──
  const requests = (await (await fetch(`${sbUrl}/_sandbox/requests`)).json()) as Record<string, number>;
  const stored = (await (await fetch(`${sbUrl}/_sandbox/emails`)).json()) as {
    payload: { email: string; content: { subject: string } };
    answerLost?: string;
  }[];
  const copies = new Map<string, { n: number; answerLost: number }>();
  for (const e of stored) {
    const key = `${e.payload.content.subject}|${e.payload.email}`;
    const c = copies.get(key) ?? { n: 0, answerLost: 0 };
    c.n++;
    if (e.answerLost) c.answerLost++;
    copies.set(key, c);
  }
  const dead = new Map<string, string>();
  for (const e of finalList)
    for (const r of e.recipients) if (r.state === 'dead') dead.set(r.address, r.last_error ?? 'dead');
  const r = {
    recipients: 0,
    answered250: 0,
    answered5xx: 0,
    unanswered: 0,
    lost: 0,
    lostExamples: [] as unknown[],
    duplicated: 0,
    duplicatedAfterCutReply: 0,
    duplicatedAnswerLost: 0,
    duplicatedExamples: [] as unknown[],
    deadLetterRecipients: dead.size,
    deadLetterMessages: finalList.filter((e) => e.state === 'dead').length,
    stillSpooled: finalList.filter((e) => e.state === 'queued' || e.state === 'retrying').length,
    clientAttempts: 0,
    replies: {} as Record<string, number>,
    refusalTexts: Object.fromEntries([...replyTexts].sort((a, b) => b[1] - a[1]).slice(0, 8)),
  };
  for (const m of messages) {
    r.clientAttempts += m.attempts;
    for (const [k, v] of Object.entries(m.replies)) r.replies[k] = (r.replies[k] ?? 0) + v;
    if (!m.final) r.unanswered++;
    else if (m.final.code === 250) r.answered250++;
    else r.answered5xx++;
    for (const rcpt of m.rcpts) {
      r.recipients++;
      const c = copies.get(`spool-${RUN}-${m.i}|${rcpt}`) ?? { n: 0, answerLost: 0 };
      if (m.final?.code === 250 && c.n === 0 && !dead.has(rcpt)) {
        r.lost++;
        if (r.lostExamples.length < 5) r.lostExamples.push({ i: m.i, rcpt, spoolId: m.spoolId, replies: m.replies });
      }
      if (c.n > 1) {
        const extra = c.n - 1;
        r.duplicated += extra;
        const byAnswerLost = Math.min(extra, c.answerLost);
        r.duplicatedAnswerLost += byAnswerLost;
        if (m.cutAfterDot) r.duplicatedAfterCutReply += extra - byAnswerLost;
        if (r.duplicatedExamples.length < 5)
          r.duplicatedExamples.push({
            i: m.i,
            rcpt,
            copies: c.n,
            spoolId: m.spoolId,
            replies: m.replies,
            cutAfterDot: m.cutAfterDot,
          });
      }
    }
  }
  const o = outage as { startedAt: number; endedAt: number | null } | null;
  const kills = signals.filter((s) => s.signal === 'SIGKILL');
  const summary = {
    run: RUN,
    backend: BACKEND,
    gateways: gateways.length,
    stateStore: STATE,
    node: process.version,
    minutes: Number(((Date.now() - started) / 60_000).toFixed(1)),
    messages: N,
    concurrency: CONCURRENCY,
    faultRate: FAULT_RATE,
    outageS: OUTAGE_MS / 1000,
    spoolRetryMs: { base: Number(args['retry-base-ms']), cap: Number(args['retry-cap-ms']) },
    kills: kills.length,
    killsWithDataInFlight: kills.filter((s) => s.dataInFlight > 0).length,
    killsWithDeliveriesPending: kills.filter((s) => (s.spoolPending ?? 0) > 0).length,
    terms: signals.filter((s) => s.signal === 'SIGTERM').length,
    medianRestartMs: median(signals.map((s) => s.downMs)),
    clientPhaseS: Number(((clientsDoneAt - started) / 1000).toFixed(1)),
    drained: drainedAt !== null,
    drainS: drainedAt === null ? null : Number(((drainedAt - clientsDoneAt) / 1000).toFixed(1)),
    drainAfterOutageS: drainedAt === null || !o?.endedAt ? null : Number(((drainedAt - o.endedAt) / 1000).toFixed(1)),
    apiRequests: requests,
    ...r,
    ...(r.lost || r.duplicated ? { logs: logPath, spoolDir } : {}),
  };

  const ok =
    r.lost === 0 && r.duplicated - r.duplicatedAfterCutReply - r.duplicatedAnswerLost === 0 && drainedAt !== null;
  process.stdout.write(
    [
      `spool crash loop ${RUN}: backend ${BACKEND} (${gateways.length} gateway${gateways.length > 1 ? 's' : ''}), state store ${STATE}, ${N} messages / ${r.recipients} recipients, ${CONCURRENCY} clients, ${summary.minutes} min`,
      `  signals: ${summary.kills} SIGKILL (${summary.killsWithDataInFlight} with message bytes in flight, ${summary.killsWithDeliveriesPending} with deliveries pending), ${summary.terms} SIGTERM; median restart ${summary.medianRestartMs} ms`,
      `  API outage: ${OUTAGE_MS ? `${OUTAGE_MS / 1000} s of 503 on every send` : 'none'}; background faults: ${FAULT_RATE ? `${FAULT_RATE * 100} % of sends` : 'none'}`,
      `  answered 250: ${r.answered250}, 5xx: ${r.answered5xx}, no final reply: ${r.unanswered} (client attempts ${r.clientAttempts}: ${JSON.stringify(r.replies)})`,
      `  spool ${drainedAt === null ? `NOT drained after ${DRAIN_TIMEOUT_MS / 1000} s (${r.stillSpooled} messages left)` : `drained ${summary.drainS} s after the last client reply${summary.drainAfterOutageS !== null ? `, ${summary.drainAfterOutageS} s after the outage ended` : ''}`}`,
      `  LOST (250, a recipient never stored, not a dead letter): ${r.lost}`,
      `  DUPLICATED (extra copies of a recipient): ${r.duplicated} (after a reply cut by a kill: ${r.duplicatedAfterCutReply}; answer lost by a fault: ${r.duplicatedAnswerLost})`,
      `  dead letters: ${r.deadLetterRecipients} recipients in ${r.deadLetterMessages} messages`,
      `  API: ${JSON.stringify(requests)}`,
      `  ${ok ? 'OK' : 'FAILED'}; log ${logPath}`,
      '',
    ].join('\n'),
  );
  process.stdout.write(JSON.stringify(summary) + '\n');

  for (const g of gateways) g.child.kill('SIGTERM');
  sandbox.kill('SIGTERM');
  await Promise.all([...gateways.map((g) => exited(g.child)), exited(sandbox)]);
  if (usesRedis) {
    const redis = new Redis(args.redis!);
    let cursor = '0';
    do {
      const [c, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = c;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
  if (ok && !args.keep) rmSync(spoolDir, { recursive: true, force: true });
  log.end();
  process.exitCode = ok ? 0 : 1;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  // Nothing of the run may outlive it: every gateway and the sandbox it started.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  process.exit(2);
});
