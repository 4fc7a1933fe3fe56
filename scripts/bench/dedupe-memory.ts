// Heap cost of one accepted-recipient record in the in-memory state store (no REDIS_URL): the
// one store that grows with traffic by design, up to DEDUPE_MAX_ENTRIES. Fills a MemoryStore
// with records shaped as the pipeline writes them and reports the heap per record.
//   node --expose-gc --import tsx scripts/bench/dedupe-memory.ts [--records 200000]
import { randomUUID } from 'node:crypto';
import { DedupeRecords } from '../../src/delivery/dedupe.ts';
import { MemoryStore } from '../../src/state/memory.ts';

const i = process.argv.indexOf('--records');
const n = i === -1 ? 200_000 : Number(process.argv[i + 1]);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const store = new MemoryStore();
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };
const counter = { inc() {} };
const records = new DedupeRecords(store, { ttlS: 86_400, partialTtlS: 3600 }, silent as never, new Proxy({}, { get: () => counter }) as never);
const raw = Buffer.alloc(20_000, 97);
gc();
const before = process.memoryUsage().heapUsed;
for (let k = 0; k < n; k++) {
  const identity = DedupeRecords.identity('account-1', `<${k}.${randomUUID()}@loadtest.localhost>`, raw.subarray(0, 64));
  const keys = DedupeRecords.keys(identity, `rcpt${k}@example.com`);
  await records.claim(keys, 'owner', 31);
  await records.remember(keys, randomUUID());
  await records.release(keys);
}
gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(JSON.stringify({ records: store.size, bytesPerRecord: Math.round((after - before) / n), mbPerMillion: Math.round(((after - before) / n) * 1e6 / 2 ** 20) }) + '\n');
await store.close();
