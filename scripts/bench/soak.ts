// Soak: the headline load at a fixed rate (a fraction of the measured peak) for a long time, in
// windows; per window msg/s, final-dot p99, errors, RSS and V8 heap. A heap snapshot is taken
// after the warm-up and at the end (`--heapsnapshot-signal`), and the two are compared by
// constructor (heap-diff.ts) so growth has a name.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cellName, type Cell, type Measured } from './matrix.ts';
import { heapDiff, type HeapDiffRow } from './heap-diff.ts';
import { machine } from './proc.ts';
import { startGateway, startPeer, type GatewayProcess, type Running } from './procs.ts';

interface SoakArgs {
  soakS: number;
  rate: string;
  windowS: number;
  latencyMs: number;
  durationS: number;
  maxMessages: number;
  tls: 'starttls' | 'implicit';
  /** Soak that checkout's dist/ instead of this one. */
  baseline: string | undefined;
  workers: number;
  logLevel: string;
  write: boolean;
  headline: Cell;
  measure: (target: Running, port: number, cell: Cell, args: any, extra?: string[]) => Promise<Measured>;
  apiCounts: (url: string, reset?: boolean) => Promise<{ emails: number; invalid: number }>;
  gatewayEnv: (args: any, apiUrl: string) => Record<string, string>;
  replaceSection: (name: string, body: string) => void;
}

/** V8 heap in use (MB) and dedupe records evicted so far, from the admin port's metrics. */
async function gatewayMemory(gw: GatewayProcess): Promise<{ heapMb: number; evictions: number }> {
  const text = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  const heap = /^smtp_gateway_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(text);
  const evicted = /^smtp_gateway_dedupe_evictions_total (\d+(?:\.\d+)?)/m.exec(text);
  return { heapMb: heap ? Number(heap[1]) / 1024 / 1024 : NaN, evictions: evicted ? Number(evicted[1]) : 0 };
}

/** Sends the snapshot signal and waits until the new file stops growing. */
async function snapshot(gw: GatewayProcess, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  gw.child.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    await sleep(1000);
    if (statSync(join(dir, file)).size === size && size > 0) return join(dir, file);
  }
  throw new Error('heap snapshot did not appear');
}

export async function runSoak(a: SoakArgs): Promise<void> {
  const api = await startPeer<{ url: string }>('api', [String(a.latencyMs)]);
  const dir = mkdtempSync(join(tmpdir(), 'gateway-soak-'));
  let gw: GatewayProcess | undefined;
  try {
    gw = await startGateway(
      a.gatewayEnv(a, api.info.url),
      ['--heapsnapshot-signal=SIGUSR2'],
      dir,
      a.baseline ? `${a.baseline}/dist/main.js` : undefined,
    );
    const port = a.tls === 'implicit' ? gw.ports.smtps : gw.ports.submission;
    let rate = Number(a.rate);
    let peak: number | undefined;
    if (a.rate.endsWith('x')) {
      const p = await a.measure(gw, port, a.headline, { ...a, durationS: 15 });
      peak = p.report.msgPerS;
      rate = Math.round(Number(a.rate.slice(0, -1)) * peak);
      process.stderr.write(`peak ${peak} msg/s (closed loop, 15 s) → soak rate ${rate} msg/s\n`);
    }
    const window = (s: number) =>
      a.measure(gw as GatewayProcess, port, a.headline, { ...a, durationS: s, maxMessages: 0 }, [
        '--rate',
        String(rate),
      ]);
    await window(Math.min(30, a.windowS)); // warm-up: connections, tokens, sender list, JIT
    const first = await snapshot(gw, dir);
    const rows: { t: number; m: Measured; heapMb: number; evictions: number; load: number; apiCalls: number }[] = [];
    const started = Date.now();
    while (Date.now() - started < a.soakS * 1000) {
      await a.apiCounts(api.info.url, true);
      const m = await window(a.windowS);
      // The machine's 1-minute load average: on a shared machine it explains a window's p99.
      const row = {
        t: Math.round((Date.now() - started) / 1000),
        m,
        ...(await gatewayMemory(gw)),
        load: loadavg()[0] ?? 0,
        apiCalls: (await a.apiCounts(api.info.url)).emails,
      };
      rows.push(row);
      process.stderr.write(
        `soak ${row.t}s: ${m.report.msgPerS} msg/s, dot p99 ${m.report.latencyMs.dot.p99} ms, rejected ${m.report.rejected}, RSS ${m.peakRssMb.toFixed(0)} MB, heap ${row.heapMb.toFixed(0)} MB, evicted ${row.evictions}, load ${row.load.toFixed(1)}, API calls ${row.apiCalls}/${m.report.accepted}\n`,
      );
    }
    const last = await snapshot(gw, dir);
    const diff = heapDiff(first, last);
    const total = rows.reduce((n, r) => n + r.m.report.accepted, 0);
    const errors = rows.reduce((n, r) => n + r.m.report.rejected, 0);
    const mc = machine();
    const section = [
      `Soak ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${mc.nproc} × ${mc.cpu}, Node ${mc.node}: ${cellName(a.headline)}, ` +
        `${a.soakS} s at ${rate} msg/s${peak ? ` (${a.rate} of a measured peak of ${peak} msg/s)` : ''}, windows of ${a.windowS} s, ` +
        `${total} messages, ${errors} errors, API stand-in +${a.latencyMs} ms${a.baseline ? `; the build in ${a.baseline}` : ''}.`,
      '',
      `Command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\``,
      '',
      '| t (s) | msg/s | dot p50 ms | dot p99 ms | errors | RSS MB (peak) | V8 heap used MB | dedupe evictions (total) | load (1 min) | API calls = accepted |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.t} | ${r.m.report.msgPerS} | ${r.m.report.latencyMs.dot.p50} | ${r.m.report.latencyMs.dot.p99} | ${r.m.report.rejected} | ${r.m.peakRssMb.toFixed(0)} | ${r.heapMb.toFixed(0)} | ${r.evictions} | ${r.load.toFixed(1)} | ${r.apiCalls === r.m.report.accepted ? 'yes' : `${r.apiCalls} vs ${r.m.report.accepted}`} |`,
      ),
      '',
      `Heap snapshots: after warm-up and at the end (${first}, ${last}). Largest changes of retained self size by constructor:`,
      '',
      '| constructor | objects start → end | self size MB start → end |',
      '|---|---|---|',
      ...diff
        .slice(0, 12)
        .map(
          (d: HeapDiffRow) =>
            `| ${d.name} | ${d.countA} → ${d.countB} | ${(d.sizeA / 1048576).toFixed(1)} → ${(d.sizeB / 1048576).toFixed(1)} |`,
        ),
    ].join('\n');
    process.stdout.write(section + '\n');
    if (a.write) a.replaceSection('soak', section);
  } finally {
    await Promise.all([gw?.stop(), api.stop()]);
  }
}
