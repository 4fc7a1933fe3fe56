// The two spool backends head to head, in this process, alternately in one run:
//   node --import tsx scripts/bench/spool-backends.ts [--runs 3] [--messages 1000] [--bytes 4096]
// Per message: the put a DATA reply waits for (fsync'd file + directory, or one Redis script),
// then a whole delivery's spool traffic (lease, an attempt opened and closed per recipient,
// settle). Redis: REDIS_URL (default redis://127.0.0.1:6379/0) under a random prefix, removed
// after; its persistence is whatever that server runs (printed), which decides what a put costs.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { SpoolBackend, SpoolMessage } from '../../src/spool/backend.ts';
import { openDirSpool } from '../../src/spool/dir.ts';
import { openRedisSpool } from '../../src/spool/redis.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('runs', 3);
const messages = arg('messages', 1000);
const bytes = arg('bytes', 4096);
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';

interface Sample {
  backend: 'dir' | 'redis';
  putP50: number;
  putP99: number;
  deliveryP50: number;
  cpuMsPerMessage: number;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

async function one(kind: 'dir' | 'redis'): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-spool-backend-'));
  const prefix = `bench:${randomUUID()}:`;
  const backend: SpoolBackend =
    kind === 'dir'
      ? await openDirSpool({ dir, maxBytes: 1 << 30 })
      : await openRedisSpool({ url, prefix, maxBytes: 1 << 30 });
  const raw = randomBytes(bytes);
  const puts: number[] = [];
  const deliveries: number[] = [];
  const cpu0 = process.cpuUsage();
  try {
    for (let i = 0; i < messages; i++) {
      const m: SpoolMessage = {
        id: `b${i}-${randomUUID()}`,
        receivedAt: Date.now(),
        envelopeFrom: 's@example.com',
        recipients: ['a@example.org', 'b@example.org'],
        raw,
        credential: 'sealed',
        sessionId: 's',
      };
      let t = performance.now();
      await backend.put(m);
      puts.push(performance.now() - t);
      t = performance.now();
      const [l] = await backend.lease({ owner: 'bench', max: 1, leaseMs: 60_000 });
      if (!l) throw new Error('nothing leased');
      for (const r of m.recipients) {
        await backend.journal(l.lease, { type: 'open', recipient: r, tag: `t-${r}`, at: Date.now() });
        await backend.journal(l.lease, {
          type: 'result',
          recipient: r,
          tag: `t-${r}`,
          at: Date.now(),
          result: { kind: 'queued', cakemailId: randomUUID(), apiStatus: 201 },
        });
      }
      await backend.settle(l.lease, {
        recipients: m.recipients.map((address) => ({ address, state: 'delivered', cakemailId: 'x' })),
        nextAttemptAt: Date.now(),
      });
      deliveries.push(performance.now() - t);
    }
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
    if (kind === 'redis') {
      const r = new Redis(url);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    backend: kind,
    putP50: pct(puts, 50),
    putP99: pct(puts, 99),
    deliveryP50: pct(deliveries, 50),
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / messages,
  };
}

const r = new Redis(url);
const info = String(await r.call('INFO', 'persistence'));
const config = (await r.call('CONFIG', 'GET', 'appendfsync').catch(() => ['appendfsync', '?'])) as string[];
r.disconnect();
console.log(
  `node ${process.version}; ${messages} messages of ${bytes} B, 2 recipients; Redis ${url} aof_enabled:${/aof_enabled:(\d)/.exec(info)?.[1]} appendfsync:${config[1]}; dir in ${tmpdir()}`,
);
const samples: Sample[] = [];
for (let i = 0; i < runs; i++)
  for (const kind of i % 2 ? (['redis', 'dir'] as const) : (['dir', 'redis'] as const)) samples.push(await one(kind));
const f = (n: number) => n.toFixed(3);
console.log('backend  put p50 ms  put p99 ms  delivery p50 ms  CPU ms/message (this process)');
for (const s of samples)
  console.log(
    `${s.backend.padEnd(8)} ${f(s.putP50).padStart(10)} ${f(s.putP99).padStart(11)} ${f(s.deliveryP50).padStart(16)} ${f(s.cpuMsPerMessage).padStart(10)}`,
  );
for (const kind of ['dir', 'redis'] as const) {
  const of = samples.filter((s) => s.backend === kind);
  const med = (k: keyof Omit<Sample, 'backend'>) =>
    pct(
      of.map((s) => s[k]),
      50,
    );
  console.log(
    `median of runs, ${kind}: put p50 ${f(med('putP50'))} ms, put p99 ${f(med('putP99'))} ms, delivery p50 ${f(med('deliveryP50'))} ms, CPU ${f(med('cpuMsPerMessage'))} ms/message`,
  );
}
