// Which load generator is cheaper per message: the raw-socket client of `smtp-gateway
// loadtest` or nodemailer's pooled SMTP transport, each sending the same 20 KB message over
// STARTTLS + AUTH PLAIN to the bare sink (its own process). Reports the generator's own CPU ms
// per message (process.cpuUsage), medians of alternating runs.
//   node --import tsx scripts/bench/client-cost.ts [--messages 3000] [--runs 3]
import nodemailer from 'nodemailer';
import { parseLoadOptions } from '../../src/loadtest/options.ts';
import { runLoad } from '../../src/loadtest/run.ts';
import { buildShape, messageHeaders } from '../../src/loadtest/shapes.ts';
import { startPeer } from './procs.ts';

const argv = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(argv[i + 1]);
};
const MESSAGES = opt('messages', 3000);
const RUNS = opt('runs', 3);
const CONNECTIONS = 20;

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const sink = await startPeer<{ submission: number }>('sink');
const port = sink.info.submission;

async function raw(): Promise<number> {
  const parsed = parseLoadOptions([
    '--port',
    String(port),
    '--insecure',
    '--no-progress',
    '--messages',
    String(MESSAGES),
    '--concurrency',
    String(CONNECTIONS),
    '--per-connection',
    '1000000',
  ]);
  if (parsed.ok !== true) throw new Error('options');
  const c0 = cpu();
  const r = await runLoad(parsed.options);
  return (cpu() - c0) / r.accepted;
}

async function viaNodemailer(): Promise<number> {
  const shape = buildShape('html20k', 'demo@example.com', 'rcpt0@example.org');
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: CONNECTIONS,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'demo@example.com', pass: 'demo-password' },
  });
  // The same bytes the raw client sends, handed over as a raw message (no MIME building).
  const body = shape.body.subarray(0, shape.body.length - 3);
  let next = 0;
  let ok = 0;
  const c0 = cpu();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < MESSAGES) {
        const n = next++;
        const raw = Buffer.concat([Buffer.from(messageHeaders(shape, 'nm', n, new Date().toUTCString())), body]);
        await transport.sendMail({ envelope: { from: 'demo@example.com', to: ['rcpt0@example.org'] }, raw });
        ok++;
      }
    }),
  );
  const perMessage = (cpu() - c0) / ok;
  transport.close();
  return perMessage;
}

const results: { raw: number[]; nodemailer: number[] } = { raw: [], nodemailer: [] };
try {
  for (let i = 0; i < RUNS; i++) {
    results.raw.push(await raw());
    results.nodemailer.push(await viaNodemailer());
    process.stderr.write(
      `run ${i + 1}: raw ${results.raw.at(-1)?.toFixed(3)} ms/msg, nodemailer ${results.nodemailer.at(-1)?.toFixed(3)} ms/msg\n`,
    );
  }
} finally {
  await sink.stop();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
process.stdout.write(
  `generator CPU per message (median of ${RUNS}, ${MESSAGES} messages, ${CONNECTIONS} connections): raw client ${median(results.raw).toFixed(3)} ms, nodemailer ${median(results.nodemailer).toFixed(3)} ms\n`,
);
