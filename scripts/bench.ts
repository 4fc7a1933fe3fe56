// Throughput and latency benchmark: starts the gateway (with its sandbox) as a child process,
// drives it with nodemailer over STARTTLS from this process, and reports client-side latency,
// throughput and the gateway's own metrics (final dot → reply histogram, RSS, event-loop lag).
//
//   node --import tsx scripts/bench.ts [--messages 2000] [--connections 20] [--recipients 1] [--attachment-kib 0]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const MESSAGES = arg('messages', 2000);
const CONNECTIONS = arg('connections', 20);
const RECIPIENTS = arg('recipients', 1);
const ATTACHMENT_KIB = arg('attachment-kib', 0);
const PORTS = { submission: 12525, smtps: 12465, admin: 18080, sandbox: 18025 };

const gateway = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
  env: {
    ...process.env,
    SMTP_SUBMISSION_PORT: String(PORTS.submission),
    SMTP_SMTPS_PORT: String(PORTS.smtps),
    ADMIN_PORT: String(PORTS.admin),
    SANDBOX_PORT: String(PORTS.sandbox),
    SANDBOX_MAX_EMAILS: '1000',
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'pipe'],
});
gateway.stderr.setEncoding('utf8');
let banner = '';
gateway.stderr.on('data', (d: string) => (banner += d));

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${PORTS.admin}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

try {
  for (let i = 0; i < 100 && !banner.includes('is running'); i++) await sleep(100);
  if (!banner.includes('is running')) throw new Error(`gateway did not start:\n${banner}`);
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: CONNECTIONS,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: PORTS.submission,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'demo@example.com', pass: 'demo-password' },
  });
  const attachment = ATTACHMENT_KIB > 0 ? [{ filename: 'report.pdf', content: Buffer.alloc(ATTACHMENT_KIB * 1024, 7) }] : [];
  const to = Array.from({ length: RECIPIENTS }, (_, i) => `bench${i}@example.org`);
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < MESSAGES) {
        const n = next++;
        const t0 = performance.now();
        try {
          const info = await transport.sendMail({
            from: '"Bench" <demo@example.com>',
            to,
            subject: `bench ${n}`,
            text: `message ${n}\n`.repeat(40),
            html: `<p>message ${n}</p>`.repeat(40),
            attachments: attachment,
          });
          if (!info.response.startsWith('250')) failures++;
        } catch {
          failures++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  latencies.sort((a, b) => a - b);
  const lines = [
    `messages ${MESSAGES} × ${RECIPIENTS} recipient(s), ${CONNECTIONS} connections, attachment ${ATTACHMENT_KIB} KiB`,
    `wall ${seconds.toFixed(2)} s → ${(MESSAGES / seconds).toFixed(0)} messages/s, ${((MESSAGES * RECIPIENTS) / seconds).toFixed(0)} API calls/s; failures ${failures}`,
    `client latency ms: p50 ${pct(latencies, 50).toFixed(1)}  p95 ${pct(latencies, 95).toFixed(1)}  p99 ${pct(latencies, 99).toFixed(1)}  max ${latencies.at(-1)?.toFixed(1)}`,
    ...(await metric('smtp_gateway_message_duration_seconds_bucket')).filter((l) => /le="(0\.05|0\.1|0\.25|0\.5|1|2)"/.test(l)),
    ...(await metric('smtp_gateway_process_resident_memory_bytes')),
    ...(await metric('smtp_gateway_nodejs_eventloop_lag_p99_seconds')),
    ...(await metric('smtp_gateway_messages_total')),
  ];
  console.log(lines.join('\n'));
} finally {
  gateway.kill('SIGTERM');
  await once(gateway, 'exit');
}
