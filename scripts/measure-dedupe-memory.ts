// Heap bytes per dedupe record in the in-memory state store: the figure behind
// DEDUPE_MAX_ENTRIES in docs/security.md. Records are written exactly as the pipeline writes
// an accepted recipient (a 16-character key, the Cakemail uuid packed to 22 characters, 24 h TTL).
// The uuid is taken from a parsed JSON body, as the API client gets it: `randomUUID()` itself
// returns a rope of ~20 string pieces (≈ 500 bytes) that would overstate the cost.
// Run: node --expose-gc --import tsx scripts/measure-dedupe-memory.ts [entries]
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { DedupeRecords } from '../src/delivery/dedupe.ts';
import { MemoryStore } from '../src/state/memory.ts';

const n = Number(process.argv[2] ?? 500_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const store = new MemoryStore(Date.now, { maxEntries: n });
const dedupe = new DedupeRecords(store, { ttlS: 86_400, partialTtlS: 3600 }, pino({ level: 'silent' }));
const identity = DedupeRecords.identity(
  'account-key',
  `<${randomUUID()}@client.example>`,
  Buffer.from('message bytes'),
);
const before = heap();
for (let i = 0; i < n; i++) {
  const keys = DedupeRecords.keys(identity, `recipient-${i}@example.org`);
  const id = (JSON.parse(`{"id":"${randomUUID()}"}`) as { id: string }).id;
  await dedupe.remember(keys, id);
}
const after = heap();
const perEntry = (after - before) / n;
process.stdout.write(
  `${n} entries: heap +${((after - before) / 1024 / 1024).toFixed(1)} MiB, ${perEntry.toFixed(0)} bytes per entry (node ${process.version})\n`,
);
await store.close();
