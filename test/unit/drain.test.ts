// Shutdown: a DATA command already read from a socket can reach the handler after draining
// began (and after the wait for in-flight messages found none). It used to be delivered while
// the process exited under it: its API call committed, its claim and dedupe record were never
// written, and the client's retry sent a second copy. Now it is refused with 421 4.3.2, unsent.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import type { DeliveryPipeline } from '../../src/delivery/pipeline.ts';
import type { RateLimits } from '../../src/resilience/rate-limit.ts';
import type { Authenticator } from '../../src/smtp/auth.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { SessionHandlers } from '../../src/smtp/handlers.ts';
import { MemoryStore } from '../../src/state/memory.ts';
import { TraceStore } from '../../src/trace/store.ts';

test('a DATA reaching the handler after shutdown began was sent while the process exited: now 421 4.3.2 and no delivery', async () => {
  let delivered = 0;
  const pipeline = {
    deliver: async () => {
      delivered++;
      return { kind: 'accepted', id: 'x', recipients: 1, duplicate: false, skipped: 0 };
    },
  } as unknown as DeliveryPipeline;
  const handlers = new SessionHandlers({
    auth: {} as Authenticator,
    rateLimits: {} as RateLimits,
    pipeline,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    maxMessageBytes: 1000,
    traces: new TraceStore(new MemoryStore(), 60, pino({ level: 'silent' })),
  });
  handlers.drain();
  const stream = new PassThrough();
  const session = {
    id: 's1',
    user: {},
    envelope: { mailFrom: { address: 'a@example.com' }, rcptTo: [{ address: 'b@example.org' }] },
  };
  const err = await new Promise<Error & { responseCode?: number }>((resolve) => {
    handlers.onData(stream as never, session as never, (e) => resolve(e as Error & { responseCode?: number }));
    stream.end('Subject: x\r\n\r\nbody\r\n');
  });
  assert.equal(err.responseCode, 421);
  assert.match(err.message, /^4\.3\.2 /);
  assert.equal(delivered, 0);
  assert.equal(handlers.isBusy('s1'), false);
  await handlers.settled();
});
