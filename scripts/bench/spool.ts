// Spool mode against synchronous mode, alternately in one run (`node --import tsx scripts/bench/spool.ts`):
// the gateway from the production build against the API stand-in with added latency, the same
// SMTP load on each. Reports the final-dot-to-reply latency the client sees, msg/s, CPU ms per
// message of the gateway, the durable write latency (smtp_gateway_spool_write_seconds) and how
// long the spool takes to drain after the load stops. Needs `npm run build` first.
//
//   node --import tsx scripts/bench/spool.ts [--runs 3] [--messages 2000] [--concurrency 10] [--latency 20]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeCpuMs } from './proc.ts';
import { loadtest, startGateway, startPeer } from './procs.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('runs', 3);
const messages = arg('messages', 2000);
const concurrency = arg('concurrency', 10);
const latencyMs = arg('latency', 20);

interface Sample {
  mode: 'sync' | 'spool';
  msgPerS: number;
  dotP50: number;
  dotP99: number;
  cpuMsPerMessage: number;
  writeMeanMs: number | null;
  drainS: number | null;
}

async function metric(admin: number, name: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

async function one(mode: 'sync' | 'spool', api: string): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-spool-'));
  const gw = await startGateway({
    CAKEMAIL_API_URL: api,
    LOG_LEVEL: 'warn',
    DELIVERY_MODE: mode,
    SPOOL_DIR: dir,
    SPOOL_CONCURRENCY: String(concurrency),
  });
  try {
    const cpu0 = treeCpuMs(gw.pid);
    const report = await loadtest([
      '--port',
      String(gw.ports.submission),
      '--shape',
      'text1k',
      '--concurrency',
      String(concurrency),
      '--messages',
      String(messages),
      '--duration',
      '120',
    ]);
    let drainS: number | null = null;
    if (mode === 'spool') {
      const t0 = Date.now();
      // The delivered counter, not GET /spool: listing reads every message and would be measured too.
      while (((await metric(gw.ports.admin, 'smtp_gateway_spool_delivered_total')) ?? 0) < report.accepted)
        await new Promise((r) => setTimeout(r, 100));
      drainS = (Date.now() - t0) / 1000;
    }
    const cpuMs = treeCpuMs(gw.pid) - cpu0;
    const sum = await metric(gw.ports.admin, 'smtp_gateway_spool_write_seconds_sum');
    const count = await metric(gw.ports.admin, 'smtp_gateway_spool_write_seconds_count');
    if (report.accepted !== report.attempted)
      throw new Error(
        `${mode}: ${report.attempted - report.accepted} not accepted: ${JSON.stringify(report.rejectedSample)}`,
      );
    return {
      mode,
      msgPerS: report.msgPerS,
      dotP50: report.latencyMs.dot.p50,
      dotP99: report.latencyMs.dot.p99,
      cpuMsPerMessage: cpuMs / report.accepted,
      writeMeanMs: sum !== null && count ? (sum / count) * 1000 : null,
      drainS,
    };
  } finally {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const api = await startPeer<{ url: string }>('api', [String(latencyMs)]);
const samples: Sample[] = [];
try {
  for (let i = 0; i < runs; i++) {
    for (const mode of ['sync', 'spool'] as const) {
      const s = await one(mode, api.info.url);
      samples.push(s);
      process.stderr.write(`${JSON.stringify(s)}\n`);
    }
  }
} finally {
  await api.stop();
}
const of = (mode: 'sync' | 'spool', f: (s: Sample) => number | null) =>
  median(
    samples
      .filter((s) => s.mode === mode)
      .map(f)
      .filter((x): x is number => x !== null),
  );
const rows = (['sync', 'spool'] as const).map(
  (m) =>
    `| ${m} | ${of(m, (s) => s.msgPerS).toFixed(0)} | ${of(m, (s) => s.dotP50).toFixed(1)} | ${of(m, (s) => s.dotP99).toFixed(1)} | ${of(m, (s) => s.cpuMsPerMessage).toFixed(2)} | ${m === 'spool' ? of(m, (s) => s.writeMeanMs).toFixed(2) : '—'} | ${m === 'spool' ? of(m, (s) => s.drainS).toFixed(1) : '—'} |`,
);
process.stdout.write(
  [
    `${runs} runs each, alternately; ${messages} text1k messages, ${concurrency} connections, API stand-in latency ${latencyMs} ms; medians`,
    '',
    '| mode | msg/s | dot→reply p50 ms | p99 ms | gateway CPU ms/msg | spool write mean ms | drain after load s |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n') + '\n',
);
