// Compares two V8 heap snapshots by constructor name: count and self size of every node type
// "object"/"closure"/"string"…, grouped by name. Enough to name what grows in a soak.
//   node --import tsx scripts/bench/heap-diff.ts start.heapsnapshot end.heapsnapshot
import { readFileSync } from 'node:fs';

export interface HeapDiffRow {
  name: string;
  countA: number;
  countB: number;
  sizeA: number;
  sizeB: number;
}

function summarize(path: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    const name =
      type === 'object' || type === 'closure' ? (snap.strings[snap.nodes[i + nameAt] as number] ?? '?') : `(${type})`;
    const e = out.get(name) ?? { count: 0, size: 0 };
    e.count++;
    e.size += snap.nodes[i + sizeAt] as number;
    out.set(name, e);
  }
  return out;
}

export function heapDiff(a: string, b: string): HeapDiffRow[] {
  const sa = summarize(a);
  const sb = summarize(b);
  const names = new Set([...sa.keys(), ...sb.keys()]);
  return [...names]
    .map((name) => ({
      name,
      countA: sa.get(name)?.count ?? 0,
      countB: sb.get(name)?.count ?? 0,
      sizeA: sa.get(name)?.size ?? 0,
      sizeB: sb.get(name)?.size ?? 0,
    }))
    .sort((x, y) => Math.abs(y.sizeB - y.sizeA) - Math.abs(x.sizeB - x.sizeA));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [a, b] = process.argv.slice(2);
  if (!a || !b) throw new Error('usage: heap-diff.ts start.heapsnapshot end.heapsnapshot');
  for (const r of heapDiff(a, b).slice(0, 25)) {
    process.stdout.write(
      `${r.name.slice(0, 50).padEnd(50)} ${String(r.countA).padStart(9)} → ${String(r.countB).padEnd(9)} ${(r.sizeA / 1048576).toFixed(1).padStart(8)} → ${(r.sizeB / 1048576).toFixed(1)} MB\n`,
    );
  }
}
