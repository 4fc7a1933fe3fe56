// The load loop: N connections, each sending up to K messages before QUIT and opening a new
// one, until the message count or the duration runs out. Closed loop by default (each
// connection sends its next message when the last one is answered); with a rate, messages are
// released on a fixed schedule shared by all connections. Every attempt takes one slot, failed
// or not, so a server that refuses everything still ends the run.
import { randomBytes } from 'node:crypto';
import type { LoadOptions } from './options.ts';
import { buildShape, messageHeaders } from './shapes.ts';
import { SmtpConnection } from './smtp-client.ts';
import { LoadStats, summarize, type LatencySummary } from './stats.ts';

export interface LoadReport {
  tool: 'smtp-gateway-loadtest';
  target: { host: string; port: number; tls: string; auth: string };
  load: {
    shape: string;
    messageBytes: number;
    recipients: number;
    concurrency: number;
    perConnection: number;
    rate: number;
    messages: number;
    durationS: number;
    warmupS: number;
  };
  elapsedS: number;
  attempted: number;
  accepted: number;
  rejected: number;
  /** `stage code` → count; stages: connect greeting ehlo starttls auth mail rcpt data dot. */
  rejectedBy: Record<string, number>;
  /** The first reply text seen for each `stage code`. */
  rejectedSample: Record<string, string>;
  msgPerS: number;
  msgPerHour: number;
  recipientsPerS: number;
  connections: number;
  latencyMs: { dot: LatencySummary; transaction: LatencySummary; session: LatencySummary };
}

export interface RunHooks {
  /** Called about once a second with a one-line status. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export async function runLoad(o: LoadOptions, hooks: RunHooks = {}): Promise<LoadReport> {
  const recipients = Array.from({ length: o.recipients }, (_, i) => o.to.replaceAll('{n}', String(i)));
  const shape = buildShape(o.shape, o.from, recipients[0] as string);
  const run = randomBytes(6).toString('hex');
  const date = new Date().toUTCString().replace('GMT', '+0000');
  const stats = new LoadStats();
  const started = performance.now();
  const deadline = started + o.durationMs;
  const warmEnd = started + o.warmupMs;
  let issued = 0;
  let connections = 0;
  let open = 0;

  /** The next message number, or -1 when the run is over; waits for its turn under a rate. */
  const take = async (): Promise<number> => {
    if (hooks.signal?.aborted) return -1;
    if (o.messages > 0 && issued >= o.messages) return -1;
    if (performance.now() >= deadline) return -1;
    const n = issued++;
    if (o.rate > 0) {
      const due = started + (n * 1000) / o.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (performance.now() >= deadline || hooks.signal?.aborted) return -1;
    }
    return n;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      let n = await take();
      if (n < 0) return;
      const t0 = performance.now();
      connections++;
      const opened = await SmtpConnection.open({ ...o });
      if (!opened.ok) {
        stats.fail(opened.stage, opened.code, opened.text);
        continue;
      }
      open++;
      stats.session(performance.now() - t0, t0 >= warmEnd);
      const conn = opened.conn;
      for (let sent = 0; ;) {
        const t1 = performance.now();
        const res = await conn.send(o.from, recipients, messageHeaders(shape, run, n, date), shape.body);
        if (res.ok) stats.accept(res.dotMs, performance.now() - t1, t1 >= warmEnd);
        else stats.fail(res.stage, res.code, res.text);
        sent++;
        if (sent >= o.perConnection || conn.closed) break;
        n = await take();
        if (n < 0) break;
      }
      await conn.quit();
      open--;
    }
  };

  let lastAccepted = 0;
  let lastAt = started;
  const progress = hooks.onProgress
    ? setInterval(() => {
        const now = performance.now();
        const rate = ((stats.accepted - lastAccepted) * 1000) / (now - lastAt);
        lastAccepted = stats.accepted;
        lastAt = now;
        hooks.onProgress?.(
          `${((now - started) / 1000).toFixed(0)}s  accepted ${stats.accepted}  rejected ${stats.failed}  ${rate.toFixed(0)} msg/s  open connections ${open}`,
        );
      }, 1000)
    : undefined;
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    if (progress) clearInterval(progress);
  }
  const elapsedS = (performance.now() - started) / 1000;
  // Over the measured part only: messages begun after the warm-up, in the time after it.
  const msgPerS = stats.acceptedMeasured / Math.max(0.001, elapsedS - o.warmupMs / 1000);
  return {
    tool: 'smtp-gateway-loadtest',
    target: { host: o.host, port: o.port, tls: o.tls, auth: o.auth },
    load: {
      shape: o.shape,
      messageBytes: Buffer.byteLength(messageHeaders(shape, run, 0, date)) + shape.body.length,
      recipients: o.recipients,
      concurrency: o.concurrency,
      perConnection: o.perConnection,
      rate: o.rate,
      messages: o.messages,
      durationS: o.durationMs / 1000,
      warmupS: o.warmupMs / 1000,
    },
    elapsedS: round(elapsedS, 3),
    attempted: stats.attempted,
    accepted: stats.accepted,
    rejected: stats.failed,
    rejectedBy: Object.fromEntries(stats.failures),
    rejectedSample: Object.fromEntries(stats.firstFailureText),
    msgPerS: round(msgPerS, 1),
    msgPerHour: Math.round(msgPerS * 3600),
    recipientsPerS: round(msgPerS * o.recipients, 1),
    connections,
    latencyMs: {
      dot: summarize(stats.dotMs),
      transaction: summarize(stats.transactionMs),
      session: summarize(stats.sessionMs),
    },
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function humanReport(r: LoadReport): string {
  const l = r.latencyMs;
  const row = (name: string, s: LatencySummary) =>
    `  ${name.padEnd(12)} p50 ${s.p50}  p95 ${s.p95}  p99 ${s.p99}  max ${s.max}  (n=${s.count})`;
  const lines = [
    `target ${r.target.host}:${r.target.port} tls=${r.target.tls} auth=${r.target.auth}`,
    `load   ${r.load.shape} (${r.load.messageBytes} bytes) × ${r.load.recipients} rcpt, ${r.load.concurrency} connections × ${r.load.perConnection} msgs/conn, ${r.load.rate > 0 ? `rate ${r.load.rate}/s` : 'closed loop'}${r.load.warmupS > 0 ? `, first ${r.load.warmupS} s left out of rate and latency` : ''}`,
    `result ${r.accepted} accepted, ${r.rejected} rejected of ${r.attempted} in ${r.elapsedS} s over ${r.connections} connections`,
    `rate   ${r.msgPerS} msg/s = ${r.msgPerHour.toLocaleString('en-US')} msg/hour (${r.recipientsPerS} recipients/s)`,
    'latency ms',
    row('final dot', l.dot),
    row('transaction', l.transaction),
    row('session', l.session),
  ];
  for (const [k, n] of Object.entries(r.rejectedBy))
    lines.push(`rejected at ${k}: ${n}  (${r.rejectedSample[k] ?? ''})`);
  return lines.join('\n');
}
