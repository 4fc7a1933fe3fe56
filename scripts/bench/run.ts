// The benchmark suite (`npm run bench`): the gateway from the production build against an API
// stand-in with added latency, and alternately in the same run the same load against a bare
// smtp-server sink. Reports msg/s, latency, CPU ms per message and RSS of the server under test,
// medians over runs and the ratio to the sink; `--write` puts the table into docs/benchmarks.md.
//
//   npm run bench -- [--quick] [--filter REGEX] [--runs 3] [--duration 10] [--workers 1] [--write]
//   npm run bench -- --soak 900 --rate 0.7x [--window 60] [--write]
// Full option list: docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cellName, fullMatrix, HEADLINE, quickMatrix, type Cell, type Measured } from './matrix.ts';
import { machine, rssSampler, treeCpuMs } from './proc.ts';
import { loadtest, ROOT, startGateway, startPeer, type GatewayProcess, type Running } from './procs.ts';
import { runSoak } from './soak.ts';

interface Args {
  quick: boolean;
  filter: RegExp | undefined;
  runs: number;
  durationS: number;
  /** Seconds at the start of each run left out of its msg/s and latencies (loadtest --warmup). */
  warmupS: number;
  maxMessages: number;
  workers: number;
  latencyMs: number;
  build: boolean;
  write: boolean;
  logLevel: string;
  soakS: number;
  rate: string;
  windowS: number;
  tls: 'starttls' | 'implicit';
  /** Another checkout whose dist/ is measured alongside, alternately (before/after a change). */
  baseline: string | undefined;
  /** Extra gateway settings (`--env K=V`, repeatable), e.g. DEDUPE_MAX_ENTRIES for a soak. */
  env: Record<string, string>;
  /** Settings for the baseline gateway only (`--baseline-env K=V`), e.g. WORKERS=1 against --workers 2. */
  baselineEnv: Record<string, string>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false,
    filter: undefined,
    runs: 3,
    durationS: 10,
    warmupS: 0,
    maxMessages: 50_000,
    workers: 1,
    latencyMs: 20,
    build: true,
    write: false,
    logLevel: 'info',
    soakS: 0,
    rate: '0.7x',
    windowS: 60,
    tls: 'starttls',
    baseline: undefined,
    env: {},
    baselineEnv: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const v = () => argv[++i] as string;
    switch (argv[i]) {
      case '--quick':
        a.quick = true;
        break;
      case '--filter':
        a.filter = new RegExp(v());
        break;
      case '--runs':
        a.runs = Number(v());
        break;
      case '--duration':
        a.durationS = Number(v());
        break;
      case '--warmup':
        a.warmupS = Number(v());
        break;
      case '--max-messages':
        a.maxMessages = Number(v());
        break;
      case '--workers':
        a.workers = Number(v());
        break;
      case '--latency':
        a.latencyMs = Number(v());
        break;
      case '--no-build':
        a.build = false;
        break;
      case '--write':
        a.write = true;
        break;
      case '--log-level':
        a.logLevel = v();
        break;
      case '--soak':
        a.soakS = Number(v().replace(/s$/, ''));
        break;
      case '--rate':
        a.rate = v();
        break;
      case '--window':
        a.windowS = Number(v());
        break;
      case '--tls':
        a.tls = v() === 'implicit' ? 'implicit' : 'starttls';
        break;
      case '--baseline':
        a.baseline = v().replace(/\/+$/, '');
        break;
      case '--env':
      case '--baseline-env': {
        const flag = argv[i] as string;
        const kv = v();
        const eq = kv.indexOf('=');
        if (eq < 1) throw new Error(`${flag} wants KEY=VALUE, got ${kv}`);
        (flag === '--env' ? a.env : a.baselineEnv)[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return a;
}

/** One loadtest run against a running server, with its CPU and peak RSS. */
export async function measure(
  target: Running,
  port: number,
  cell: Cell,
  args: Args,
  extra: string[] = [],
): Promise<Measured> {
  const cpu0 = treeCpuMs(target.pid);
  const rss = rssSampler(target.pid);
  const report = await loadtest([
    '--port',
    String(port),
    '--tls',
    args.tls,
    '--shape',
    cell.shape,
    '--concurrency',
    String(cell.concurrency),
    '--per-connection',
    String(cell.perConnection),
    '--recipients',
    String(cell.recipients),
    '--messages',
    String(args.maxMessages),
    '--duration',
    String(args.durationS),
    ...(args.warmupS > 0 ? ['--warmup', String(args.warmupS)] : []),
    ...extra,
  ]);
  const cpu = treeCpuMs(target.pid) - cpu0;
  return {
    report,
    cpuMsPerMessage: report.accepted > 0 ? cpu / report.accepted : NaN,
    peakRssMb: rss.stop() / 1024 / 1024,
  };
}

async function apiCounts(url: string, reset = false): Promise<{ emails: number; invalid: number }> {
  const res = await fetch(`${url}/_standin/counts`, { method: reset ? 'DELETE' : 'GET' });
  return (await res.json()) as { emails: number; invalid: number };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

interface CellResult {
  cell: Cell;
  gateway: Measured[];
  sink: Measured[];
  baseline: Measured[];
}

function summaryRow(r: CellResult): string {
  const g = r.gateway;
  const s = r.sink;
  const gRate = median(g.map((m) => m.report.msgPerS));
  const sRate = median(s.map((m) => m.report.msgPerS));
  const range = (ms: Measured[]) =>
    `${Math.min(...ms.map((m) => m.report.msgPerS)).toFixed(0)}–${Math.max(...ms.map((m) => m.report.msgPerS)).toFixed(0)}`;
  const errors = g.reduce((n, m) => n + m.report.rejected, 0);
  const exact = g.every((m) => m.apiCalls === m.report.accepted * r.cell.recipients);
  const f0 = (x: number) => x.toFixed(0);
  const f2 = (x: number) => x.toFixed(2);
  // With --warmup, a run whose connections all opened in the warm-up has no set-up to show.
  const setup = (ms: Measured[]) => {
    const measured = ms.filter((m) => m.report.latencyMs.session.count > 0);
    return measured.length ? f0(median(measured.map((m) => m.report.latencyMs.session.p50))) : '—';
  };
  return [
    r.cell.shape,
    r.cell.concurrency,
    r.cell.perConnection,
    r.cell.recipients,
    `**${f0(gRate)}** (${range(g)})`,
    `${f0(sRate)} (${range(s)})`,
    `${((100 * gRate) / sRate).toFixed(0)}%`,
    f0(gRate * r.cell.recipients),
    setup(g),
    setup(s),
    f0(median(g.map((m) => m.report.latencyMs.dot.p50))),
    f0(median(g.map((m) => m.report.latencyMs.dot.p99))),
    f2(median(g.map((m) => m.cpuMsPerMessage))),
    f2(median(s.map((m) => m.cpuMsPerMessage))),
    f0(Math.max(...g.map((m) => m.peakRssMb))),
    f0(Math.max(...s.map((m) => m.peakRssMb))),
    `${errors}${exact ? '' : ' (API count off)'}`,
    ...(r.baseline.length
      ? [
          `${f0(median(r.baseline.map((m) => m.report.msgPerS)))} (${range(r.baseline)})`,
          f2(median(r.baseline.map((m) => m.cpuMsPerMessage))),
          f0(median(r.baseline.map((m) => m.report.latencyMs.dot.p99))),
        ]
      : []),
  ].join(' | ');
}

const TABLE_HEAD = [
  '| shape | conns | msgs/conn | rcpt | gateway msg/s median (range) | sink msg/s | gw/sink | API calls/s | gw setup p50 ms | sink setup p50 ms | dot p50 ms | dot p99 ms | gw CPU ms/msg | sink CPU ms/msg | gw RSS MB | sink RSS MB | errors |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
];

async function runMatrix(args: Args): Promise<void> {
  const cells = (args.quick ? quickMatrix() : fullMatrix()).filter(
    (c) => !args.filter || args.filter.test(cellName(c)),
  );
  if (cells.length === 0) throw new Error('no cell matches the filter');
  const api = await startPeer<{ url: string }>('api', [String(args.latencyMs)]);
  const sink = await startPeer<{ submission: number; smtps: number }>('sink');
  let gw: GatewayProcess | undefined;
  let base: GatewayProcess | undefined;
  const results: CellResult[] = [];
  try {
    gw = await startGateway(gatewayEnv(args, api.info.url));
    if (args.baseline)
      base = await startGateway(
        { ...gatewayEnv(args, api.info.url), ...args.baselineEnv },
        [],
        args.baseline,
        `${args.baseline}/dist/main.js`,
      );
    process.stderr.write(
      `gateway pid ${gw.pid} ports ${JSON.stringify(gw.ports)}, sink pid ${sink.pid}, API stand-in ${api.info.url} (+${args.latencyMs} ms)\n`,
    );
    const port = (p: { submission: number; smtps: number }) => (args.tls === 'implicit' ? p.smtps : p.submission);
    // Warm-up, not recorded: JIT, TLS session setup, the gateway's token and sender caches.
    await measure(sink, port(sink.info), HEADLINE, { ...args, durationS: 3, warmupS: 0 });
    await measure(gw, port(gw.ports), HEADLINE, { ...args, durationS: 3, warmupS: 0 });
    if (base) await measure(base, port(base.ports), HEADLINE, { ...args, durationS: 3, warmupS: 0 });
    for (const cell of cells) {
      const r: CellResult = { cell, gateway: [], sink: [], baseline: [] };
      for (let run = 0; run < args.runs; run++) {
        // Alternate which goes first, so drift on a shared machine hits both alike.
        const order = run % 2 === 0 ? ['sink', 'gateway', 'baseline'] : ['baseline', 'gateway', 'sink'];
        for (const which of order) {
          if (which === 'baseline') {
            if (!base) continue;
            await apiCounts(api.info.url, true);
            const m = await measure(base, port(base.ports), cell, args);
            m.apiCalls = (await apiCounts(api.info.url)).emails;
            r.baseline.push(m);
          } else if (which === 'sink') {
            r.sink.push(await measure(sink, port(sink.info), cell, args));
          } else {
            await apiCounts(api.info.url, true);
            const m = await measure(gw, port(gw.ports), cell, args);
            m.apiCalls = (await apiCounts(api.info.url)).emails;
            r.gateway.push(m);
          }
          const last = (which === 'sink' ? r.sink : which === 'baseline' ? r.baseline : r.gateway).at(-1) as Measured;
          process.stderr.write(
            `${cellName(cell)} run ${run + 1} ${which.padEnd(7)} ${last.report.msgPerS.toFixed(0)} msg/s, dot p99 ${last.report.latencyMs.dot.p99} ms, ` +
              `${last.cpuMsPerMessage.toFixed(2)} CPU ms/msg, RSS ${last.peakRssMb.toFixed(0)} MB, rejected ${last.report.rejected}` +
              `${last.apiCalls !== undefined ? `, API calls ${last.apiCalls}` : ''}${last.report.rejected ? ' ' + JSON.stringify(last.report.rejectedBy) : ''}\n`,
          );
        }
      }
      results.push(r);
    }
  } finally {
    await Promise.all([gw?.stop(), base?.stop(), sink.stop(), api.stop()]);
  }
  const m = machine();
  const head = base
    ? [`${TABLE_HEAD[0]} baseline msg/s | baseline CPU ms/msg | baseline dot p99 ms |`, `${TABLE_HEAD[1]}---|---|---|`]
    : TABLE_HEAD;
  const table = [...head, ...results.map((r) => `| ${summaryRow(r)} |`)].join('\n');
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const section = [
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${m.nproc} × ${m.cpu}, ${m.memGiB} GiB, Node ${m.node}, Linux ${m.kernel}; ` +
      `WORKERS=${args.workers}, ${args.tls === 'implicit' ? 'implicit TLS' : 'STARTTLS'} + AUTH PLAIN, API stand-in +${args.latencyMs} ms, ` +
      `${args.runs} runs of ${args.durationS} s per cell and target${args.warmupS > 0 ? ` (the first ${args.warmupS} s of each, its connections' set-up, left out of msg/s and latencies)` : ''} (medians; range in brackets), LOG_LEVEL=${args.logLevel}` +
      `${
        args.baseline
          ? `; baseline = the build in ${args.baseline}${
              Object.keys(args.baselineEnv).length
                ? ` with ${Object.entries(args.baselineEnv)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')}`
                : ''
            }, measured in turn with the others`
          : ''
      }.`,
    '',
    `Command: \`${command}\``,
    '',
    table,
  ].join('\n');
  process.stdout.write(section + '\n');
  mkdirSync(`${ROOT}.tmp`, { recursive: true });
  writeFileSync(
    `${ROOT}.tmp/bench-${Date.now()}.json`,
    JSON.stringify({ args: { ...args, filter: args.filter?.source }, machine: m, results }, null, 1),
  );
  if (args.write) replaceSection('matrix', section);
}

export function gatewayEnv(args: Args, apiUrl: string): Record<string, string> {
  return {
    CAKEMAIL_API_URL: apiUrl,
    LOG_LEVEL: args.logLevel,
    WORKERS: String(args.workers),
    // The generator is one address; production limits per client IP would refuse the load.
    MAX_CONNECTIONS: '5000',
    MAX_CONNECTIONS_PER_IP: '5000',
    // Each AUTH in flight is counted against its IP and username in advance
    // (smtp/auth-guard.ts), so 1,000 connections logging in at once as the generator's one user
    // from its one address would be refused.
    AUTH_MAX_FAILURES_PER_IP: '100000',
    AUTH_MAX_FAILURES_PER_USER: '100000',
    ...args.env,
  };
}

/** Replaces the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`. */
export function replaceSection(name: string, body: string): void {
  const path = `${ROOT}docs/benchmarks.md`;
  const doc = readFileSync(path, 'utf8');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i === -1 || j === -1) throw new Error(`docs/benchmarks.md has no ${start} … ${end} markers`);
  writeFileSync(path, `${doc.slice(0, i + start.length)}\n${body}\n${doc.slice(j)}`);
}

const args = parseArgs(process.argv.slice(2));
if (args.build) {
  const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
if (args.soakS > 0) await runSoak({ ...args, headline: HEADLINE, measure, apiCounts, gatewayEnv, replaceSection });
else await runMatrix(args);
