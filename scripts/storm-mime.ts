// A storm of MIME bombs against a real gateway while a normal message is sent again and again:
// does a normal sender still get its answer in time, and does the gateway's memory stay bounded?
// Starts the sandbox and the gateway as child processes on random loopback ports, sends
// `--bombs` hostile messages (scripts/mime-shapes.ts, round robin) over `--connections` SMTP
// connections, and on one more connection a 20 KB HTML message back to back until the bombs are
// done. Reports the normal message's latency, the bombs' replies and the gateway's peak RSS.
//
//   node --import tsx scripts/storm-mime.ts [--bombs 60] [--connections 10] [--root DIR]
// --root runs another checkout's src/main.ts (to measure a reference build the same way).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { hostileShapes } from './mime-shapes.ts';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : (process.argv[i + 1] ?? def);
};
const BOMBS = Number(arg('bombs', '60'));
const CONNECTIONS = Number(arg('connections', '10'));
const ROOT = arg('root', process.cwd());
const base = 20_000 + Math.floor(Math.random() * 20_000);
const PORTS = { submission: base, smtps: base + 1, admin: base + 2, sandbox: base + 3 };
const SENDER = 'demo@example.com';

function start(command: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let banner = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (banner = (banner + d).slice(-20_000)));
  return { child, banner: () => banner };
}

async function whenStarted(p: ReturnType<typeof start>, text: string): Promise<void> {
  for (let i = 0; i < 150 && !p.banner().includes(text); i++) await sleep(100);
  if (!p.banner().includes(text)) throw new Error(`did not start:\n${p.banner()}`);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

const sandbox = start('sandbox', { SANDBOX_PORT: String(PORTS.sandbox), SANDBOX_MAX_EMAILS: '20' });
const gateway = start('serve', {
  SMTP_SUBMISSION_PORT: String(PORTS.submission),
  SMTP_SMTPS_PORT: String(PORTS.smtps),
  ADMIN_PORT: String(PORTS.admin),
  CAKEMAIL_API_URL: `http://127.0.0.1:${PORTS.sandbox}`,
});

try {
  await whenStarted(sandbox, 'Cakemail API sandbox');
  await whenStarted(gateway, 'is running');
  const pid = gateway.child.pid as number;
  const transport = (n: number) =>
    nodemailer.createTransport({
      pool: true,
      maxConnections: n,
      maxMessages: Infinity,
      host: '127.0.0.1',
      port: PORTS.submission,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: SENDER, pass: 'demo-password' },
      socketTimeout: 120_000,
    });
  const normal = transport(1);
  const html = `<html><body>${Array.from({ length: 110 }, (_, i) => `<p>Paragraph ${i}: your order has shipped, and here is what happens next. <a href="https://example.com/t/${i}">track</a></p>`).join('\n')}</body></html>`;
  const sendNormal = async (): Promise<number> => {
    const t0 = performance.now();
    const info = await normal.sendMail({
      from: SENDER,
      to: 'bob@example.org',
      subject: 'Your order',
      html,
      text: 'Your order has shipped.\n',
    });
    if (!info.response.startsWith('250')) throw new Error(info.response);
    return performance.now() - t0;
  };
  const idle: number[] = [];
  for (let i = 0; i < 20; i++) idle.push(await sendNormal());

  const shapes = Object.entries(hostileShapes(SENDER, { huge: false }));
  const bombs = transport(CONNECTIONS);
  const replies = new Map<string, number>();
  let peakRss = rssMb(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(pid))), 50);
  let next = 0;
  let done = false;
  const t0 = performance.now();
  const storm = Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < BOMBS) {
        const [name, raw] = shapes[next++ % shapes.length] as [string, string];
        let reply: string;
        try {
          reply = (
            await bombs.sendMail({
              envelope: { from: SENDER, to: ['bob@example.org'] },
              raw: Buffer.from(raw, 'latin1'),
            })
          ).response;
        } catch (err) {
          reply = (err as { response?: string }).response ?? String(err);
        }
        const key = `${name}: ${reply.slice(0, 3)}`;
        replies.set(key, (replies.get(key) ?? 0) + 1);
      }
    }),
  ).then(() => (done = true));
  const during: number[] = [];
  while (!done) during.push(await sendNormal());
  await storm;
  const stormSeconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  normal.close();
  bombs.close();
  idle.sort((a, b) => a - b);
  during.sort((a, b) => a - b);
  console.log(`gateway ${ROOT}: ${BOMBS} bombs on ${CONNECTIONS} connections, storm ${stormSeconds.toFixed(1)} s`);
  console.log(
    `normal message, idle:       n=${idle.length} p50 ${pct(idle, 50).toFixed(0)} ms  p99 ${pct(idle, 99).toFixed(0)} ms`,
  );
  console.log(
    `normal message, under storm: n=${during.length} p50 ${pct(during, 50).toFixed(0)} ms  p99 ${pct(during, 99).toFixed(0)} ms  max ${(during.at(-1) ?? NaN).toFixed(0)} ms`,
  );
  console.log(`gateway peak RSS ${peakRss.toFixed(0)} MB`);
  for (const [k, v] of [...replies].sort()) console.log(`  ${k} × ${v}`);
} finally {
  for (const p of [gateway, sandbox]) {
    p.child.kill('SIGTERM');
    await once(p.child, 'exit');
  }
}
