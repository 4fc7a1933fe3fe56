// The in-memory state store is bounded (DEDUPE_MAX_ENTRIES): past the cap the oldest-written
// entry goes, and each eviction is reported. Without a cap every accepted recipient stayed 24 h.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/state/memory.ts';

test('memory store without Redis grew without bound: now capped at maxEntries, oldest evicted and counted', async () => {
  let evicted = 0;
  const store = new MemoryStore(Date.now, { maxEntries: 3, onEvict: () => evicted++ });
  try {
    for (const k of ['a', 'b', 'c']) await store.set(k, k, 60);
    await store.set('a', 'a2', 60); // rewriting a key moves it to the young end, evicts nothing
    assert.equal(evicted, 0);
    await store.set('d', 'd', 60);
    assert.equal(evicted, 1);
    assert.equal(await store.get('b'), null, 'b was the oldest write');
    assert.equal(await store.get('a'), 'a2');
    assert.equal(await store.setIfAbsent('e', 'e', 60), true);
    assert.equal(evicted, 2);
    assert.equal(store.size, 3);
    await store.delete('e');
    assert.equal(await store.get('e'), null);
  } finally {
    await store.close();
  }
});
