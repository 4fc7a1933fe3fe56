// The trace store: found by its id or any id its reply carried, searchable by recipient and
// Message-ID for an hour, and bounded in memory without Redis.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryStore } from '../../src/state/memory.ts';
import { TraceStore } from '../../src/trace/store.ts';
import { MessageTrace } from '../../src/trace/trace.ts';
import { maskLogin } from '../../src/trace/record.ts';

const silent = pino({ level: 'silent' });

function trace(id: string, to: string[], messageId?: string, at = new Date()): MessageTrace {
  const t = new MessageTrace(
    { id, session: 's', client: '192.0.2.1', login: 'jane@example.com', envelopeFrom: 'a@example.com', recipients: to },
    at,
  );
  if (messageId) t.messageId(messageId);
  return t;
}

test('a trace is found by its id and by its aliases; unknown and malformed ids are not', async () => {
  const store = new TraceStore(new MemoryStore(), 60, silent);
  const t = trace('t-1', ['x@example.org']);
  t.alias('cakemail-1');
  await store.save(t);
  assert.equal((await store.get('t-1'))?.id, 't-1');
  assert.equal((await store.get('cakemail-1'))?.id, 't-1');
  assert.equal(await store.get('t-2'), null);
  assert.equal(await store.get('../t-1'), null);
});

test('search by recipient (any case) and by Message-ID (with or without brackets) returns only matches, newest first', async () => {
  const store = new TraceStore(new MemoryStore(), 60, silent);
  await store.save(trace('a', ['Ann@example.org'], 'one@client.example'));
  await store.save(trace('b', ['bob@example.org'], 'two@client.example'));
  await store.save(trace('c', ['ann@example.org', 'bob@example.org']));
  assert.deepEqual(
    (await store.search({ recipient: 'ANN@example.org' })).map((r) => r.id),
    ['c', 'a'],
  );
  assert.deepEqual(
    (await store.search({ messageId: '<two@client.example>' })).map((r) => r.id),
    ['b'],
  );
  assert.deepEqual(await store.search({ recipient: 'nobody@example.org' }), []);
});

test('the search reaches back one hour only', async () => {
  const store = new TraceStore(new MemoryStore(), 7200, silent);
  await store.save(trace('old', ['x@example.org'], undefined, new Date(Date.now() - 3601_000)));
  await store.save(trace('new', ['x@example.org']));
  assert.deepEqual(
    (await store.search({ recipient: 'x@example.org' })).map((r) => r.id),
    ['new'],
  );
});

test('without Redis the trace store stays within TRACE_MAX_ENTRIES, oldest first out', async () => {
  const memory = new MemoryStore(Date.now, { maxEntries: 100 });
  const store = new TraceStore(memory, 60, silent);
  for (let i = 0; i < 500; i++) await store.save(trace(`m-${i}`, [`r${i}@example.org`]));
  assert.ok(memory.size <= 100, `${memory.size} entries`);
  assert.equal((await store.get('m-499'))?.id, 'm-499');
  assert.equal(await store.get('m-0'), null);
});

test('logins are masked; a failing store never throws into the caller', async () => {
  assert.equal(maskLogin('jane.doe@example.com'), 'j***@example.com');
  assert.equal(maskLogin('apiuser'), 'a***');
  const broken = new MemoryStore();
  broken.set = async () => {
    throw new Error('down');
  };
  await new TraceStore(broken, 60, silent).save(trace('x', ['x@example.org']));
});
