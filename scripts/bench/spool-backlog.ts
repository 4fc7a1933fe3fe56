// What a backlog costs the directory spool: a put and a lease, in CPU, with N messages already
// spooled and due (a lease follows every put and every finished delivery). The spool lives in
// /dev/shm (or --dir) so that the fsyncs, which do not grow with N, stay out of the figure.
// Builds given as checkouts are measured in turn on the same backlog sizes:
//   node --import tsx scripts/bench/spool-backlog.ts [--sizes 2000,20000,50000] [--ops 200] [ROOT ...]
import { mkdtempSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DirSpool } from '../../src/spool/dir.ts';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : (argv.splice(i, 2)[1] as string);
};
const sizes = opt('sizes', '2000,20000,50000').split(',').map(Number);
const ops = Number(opt('ops', '200'));
const base = opt('dir', '/dev/shm');
const roots = argv.length > 0 ? argv.map((r) => resolve(r)) : [resolve('.')];
const raw = Buffer.from('From: a@example.com\r\nTo: b@example.org\r\nSubject: backlog\r\n\r\nhello\r\n');
const message = (id: string) => ({
  id,
  receivedAt: Date.now(),
  envelopeFrom: 'a@example.com',
  recipients: ['b@example.org'],
  raw,
  credential: 'sealed',
  sessionId: 'bench',
});

async function cpuMsPerOp(fn: (i: number) => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < ops; i++) await fn(i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / ops;
}

for (const n of sizes) {
  for (const root of roots) {
    const { openDirSpool } = (await import(`${root}/src/spool/dir.ts`)) as {
      openDirSpool: (o: { dir: string; maxBytes: number; recover: boolean }) => Promise<DirSpool>;
    };
    const dir = mkdtempSync(`${base}/spool-backlog-`);
    try {
      const spool = await openDirSpool({ dir, maxBytes: 1e12, recover: true });
      for (let i = 0; i < n; i++) await spool.put(message(`m${i}`));
      const put = await cpuMsPerOp((i) => spool.put(message(`p${i}`)));
      // One message a lease, its lease lapsing at once: the backlog stays due throughout.
      const lease = await cpuMsPerOp(() => spool.lease({ owner: 'bench', max: 1, leaseMs: 1 }));
      console.log(JSON.stringify({ root, backlog: n, putCpuMs: +put.toFixed(3), leaseCpuMs: +lease.toFixed(3) }));
      await spool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
