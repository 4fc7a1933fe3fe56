// Per-thread CPU of the gateway under one load: where a message's CPU goes between the main
// thread (the event loop serving SMTP and the API) and the parse threads, from /proc, without a
// profiler's overhead. Also peak RSS.
//   node --import tsx scripts/bench/threads.ts [--root DIR] [--duration 8] [--shape html20k] [--concurrency 100] [--per-connection 100] [--recipients 1] [--rate MSG_PER_S] [--env K=V,...] [--node-args '--flag ...']
import { readdirSync, readFileSync } from 'node:fs';
import { DIST_MAIN, ROOT, loadtest, startGateway, startPeer } from './procs.ts';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : (argv[i + 1] as string);
};
const TICK_MS = 10;

function threads(pid: number): Map<string, { name: string; ms: number }> {
  const out = new Map<string, { name: string; ms: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, ms: (Number(f[11]) + Number(f[12])) * TICK_MS });
    } catch {
      /* thread gone */
    }
  }
  return out;
}
const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const root = opt('root', ROOT);
const extra = Object.fromEntries(
  opt('env', '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);
const api = await startPeer<{ url: string }>('api', [opt('latency', '20')]);
const gw = await startGateway(
  {
    CAKEMAIL_API_URL: api.info.url,
    LOG_LEVEL: 'info',
    MAX_CONNECTIONS: '5000',
    MAX_CONNECTIONS_PER_IP: '5000',
    AUTH_MAX_FAILURES_PER_IP: '100000',
    AUTH_MAX_FAILURES_PER_USER: '100000',
    WORKERS: '1',
    ...extra,
  },
  opt('node-args', '').split(' ').filter(Boolean),
  root,
  `${root}/dist/main.js`,
);
void DIST_MAIN;
try {
  const before = threads(gw.pid);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(gw.pid))), 200);
  // The main thread's V8 heap at the RSS peak's neighbourhood, from the admin port's default metrics.
  const mem: Record<string, number> = {};
  const scraper = setInterval(() => {
    void fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)
      .then((res) => res.text())
      .then((text) => {
        for (const m of ['heap_size_total_bytes', 'heap_size_used_bytes', 'external_memory_bytes']) {
          const v = Number(new RegExp(`^smtp_gateway_nodejs_${m} (\\S+)`, 'm').exec(text)?.[1] ?? 0) / 2 ** 20;
          mem[m] = Math.max(mem[m] ?? 0, Math.round(v));
        }
      })
      .catch(() => undefined);
  }, 1000);
  const r = await loadtest([
    '--port',
    String(gw.ports.submission),
    '--tls',
    'starttls',
    '--shape',
    opt('shape', 'html20k'),
    '--concurrency',
    opt('concurrency', '100'),
    '--per-connection',
    opt('per-connection', '100'),
    '--recipients',
    opt('recipients', '1'),
    '--messages',
    '0',
    '--duration',
    opt('duration', '8'),
    // Below saturation (--rate) the CPU per message is steadier on a shared machine: fewer
    // threads competing for the two cores means less time lost to the scheduler.
    ...(opt('rate', '') ? ['--rate', opt('rate', '')] : []),
  ]);
  clearInterval(sampler);
  clearInterval(scraper);
  const after = threads(gw.pid);
  const n = r.accepted || 1;
  const rows = [...after]
    .map(([tid, a]) => ({ tid, name: a.name, ms: a.ms - (before.get(tid)?.ms ?? 0) }))
    .filter((t) => t.ms > 0)
    .sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((s, t) => s + t.ms, 0);
  process.stdout.write(
    JSON.stringify({
      root,
      env: extra,
      nodeArgs: opt('node-args', ''),
      accepted: r.accepted,
      rejected: r.rejected,
      rejectedBy: r.rejectedBy,
      sample: r.rejectedSample,
      msgPerS: r.msgPerS,
      dotP50: r.latencyMs.dot.p50,
      dotP99: r.latencyMs.dot.p99,
      cpuMsPerMsg: +(total / n).toFixed(3),
      peakRssMb: Math.round(peak),
      mainHeapMb: mem,
      threads: rows.map((t) => `${t.name}:${(t.ms / n).toFixed(3)}`),
    }) + '\n',
  );
} finally {
  await gw.stop();
  await api.stop();
}
