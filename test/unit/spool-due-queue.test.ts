// The directory spool's due queue against a plain model: the same ids come out, in time order,
// each once per scheduling, whatever mix of schedules, reschedules and forgets came before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DueQueue } from '../../src/spool/due-queue.ts';

/** A deterministic generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('popDue gives what a scan of the live times would: earliest first, only the due, each once', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const r = rng(seed);
    const q = new DueQueue();
    const model = new Map<string, number>(); // id → the earliest time scheduled since last taken
    let now = 0;
    for (let step = 0; step < 2000; step++) {
      const id = `m${Math.floor(r() * 40)}`;
      const op = r();
      if (op < 0.5) {
        const at = now + Math.floor(r() * 100) - 20;
        q.schedule(id, at);
        model.set(id, Math.min(model.get(id) ?? Infinity, at));
      } else if (op < 0.6) {
        q.forget(id);
        model.delete(id);
      } else if (op < 0.9) {
        const got = q.popDue(now);
        const due = [...model].filter(([, at]) => at <= now);
        if (due.length === 0) {
          assert.equal(got, undefined, `seed ${seed} step ${step}: nothing is due at ${now}`);
          continue;
        }
        const earliest = Math.min(...due.map(([, at]) => at));
        assert.ok(got !== undefined, `seed ${seed} step ${step}: ${due.length} due at ${now}, none given`);
        assert.equal(model.get(got), earliest, `seed ${seed} step ${step}: ${got} is not among the earliest due`);
        model.delete(got);
      } else {
        now += Math.floor(r() * 30);
      }
      assert.equal(q.size, model.size);
    }
  }
});

test('a reschedule to a later time keeps the earlier one; to an earlier time replaces it', () => {
  const q = new DueQueue();
  q.schedule('a', 10);
  q.schedule('a', 50);
  assert.equal(q.popDue(9), undefined);
  assert.equal(q.popDue(10), 'a');
  assert.equal(q.popDue(100), undefined, 'taken once: the later schedule was not kept beside it');
  q.schedule('b', 50);
  q.schedule('b', 5);
  assert.equal(q.popDue(5), 'b');
  assert.equal(q.popDue(100), undefined, 'the stale node at 50 is skipped');
  assert.equal(q.nodes, 0);
});
