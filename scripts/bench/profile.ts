// Where the gateway's CPU goes under the headline load: starts the build with --cpu-prof, runs
// one loadtest, stops the gateway (which writes the profile) and prints self time by function
// and by package/file, so a missed target comes with the profile that explains it.
//   node --import tsx scripts/bench/profile.ts [--duration 10] [--rate MSG_PER_S] [--shape html20k] [--concurrency 100] [--recipients 1] [--per-connection 100]
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadtest, startGateway, startPeer } from './procs.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : (argv[i + 1] as string);
};

export function summarizeProfile(files: string[], top = 25): string {
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  const perThread: string[] = [];
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as Profile;
    const before = total;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = nodes.get(p.samples[i] as number);
      const dt = (p.timeDeltas[i] ?? 0) / 1000;
      if (!n) continue;
      const url = n.callFrame.url.replace(/^file:\/\/.*?node_modules\//, '').replace(/^file:\/\/.*?\/dist\//, 'dist/');
      const name = n.callFrame.functionName || '(anonymous)';
      if (name === '(idle)') continue;
      total += dt;
      const key = `${name} ${url}:${n.callFrame.lineNumber + 1}`;
      byFn.set(key, (byFn.get(key) ?? 0) + dt);
      const file =
        url === ''
          ? `(${name === '(garbage collector)' || name === '(program)' ? name : 'native'})`
          : url.startsWith('node:')
            ? url
            : url
                .split('/')
                .slice(0, url.startsWith('dist/') ? 3 : 1)
                .join('/');
      byFile.set(file, (byFile.get(file) ?? 0) + dt);
    }
    // One profile per thread: the first is the main thread, the others the parse workers.
    perThread.push(`${f.split('/').pop()}: ${(total - before).toFixed(0)} ms busy`);
  }
  const fmt = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${v.toFixed(0).padStart(7)} ms  ${k}`)
      .join('\n');
  return `busy CPU ${total.toFixed(0)} ms\n${perThread.join('\n')}\n\nby package / file:\n${fmt(byFile)}\n\nby function (self):\n${fmt(byFn)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-prof-'));
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
    },
    ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    dir,
  );
  try {
    const r = await loadtest([
      '--port',
      String(gw.ports.submission),
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
      opt('duration', '10'),
      // A rate below saturation gives cleaner attribution on a shared machine (fewer samples
      // landing on a thread that the scheduler has set aside).
      ...(opt('rate', '') ? ['--rate', opt('rate', '')] : []),
    ]);
    process.stdout.write(
      `${r.accepted} accepted, ${r.rejected} rejected, ${r.msgPerS} msg/s, dot p99 ${r.latencyMs.dot.p99} ms\n`,
    );
  } finally {
    await gw.stop();
    await api.stop();
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
  process.stdout.write(`profiles: ${files.join(', ')}\n` + summarizeProfile(files) + '\n');
}
