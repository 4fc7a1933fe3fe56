// Throughput and latency benchmark: starts the Cakemail API sandbox and the gateway as two child
// processes (so the gateway's memory and CPU figures are its own), drives the gateway with
// nodemailer over STARTTLS from this process, and reports client-side latency, throughput and
// the gateway's own metrics (final dot → reply histogram, RSS).
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

function start(command: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let banner = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (banner += d));
  return { child, banner: () => banner };
}

async function whenStarted(p: ReturnType<typeof start>, text: string): Promise<void> {
  for (let i = 0; i < 100 && !p.banner().includes(text); i++) await sleep(100);
  if (!p.banner().includes(text)) throw new Error(`did not start:\n${p.banner()}`);
}

// The sandbox keeps only a few emails: it stands in for a remote API, not a mail store.
const sandbox = start('sandbox', { SANDBOX_PORT: String(PORTS.sandbox), SANDBOX_MAX_EMAILS: '20' });
const gateway = start('serve', {
  SMTP_SUBMISSION_PORT: String(PORTS.submission),
  SMTP_SMTPS_PORT: String(PORTS.smtps),
  ADMIN_PORT: String(PORTS.admin),
  CAKEMAIL_API_URL: `http://127.0.0.1:${PORTS.sandbox}`,
});

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${PORTS.admin}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

try {
  await whenStarted(sandbox, 'Cakemail API sandbox');
  await whenStarted(gateway, 'is running');
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
    ...(await metric('smtp_gateway_messages_total')),
  ];
  console.log(lines.join('\n'));
} finally {
  for (const p of [gateway, sandbox]) {
    p.child.kill('SIGTERM');
    await once(p.child, 'exit');
  }
}
