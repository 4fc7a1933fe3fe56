// Regression: when the spool's journal write (hooks.opened) threw, the circuit permit taken for
// that send was never returned. If it was the half-open probe, the circuit refused every later
// send as circuit_open until restart. The pipeline is wired as src/app.ts wires it, against the
// embedded sandbox.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { CakemailClient } from '../../src/cakemail/client.ts';
import { SenderDirectory } from '../../src/cakemail/senders.ts';
import { TokenCache } from '../../src/cakemail/tokens.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { DedupeRecords } from '../../src/delivery/dedupe.ts';
import { DeliveryPipeline } from '../../src/delivery/pipeline.ts';
import { createMessageParser } from '../../src/mime/parser.ts';
import type { MessageParser } from '../../src/mime/types.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { RetryBudget } from '../../src/resilience/budget.ts';
import { CircuitBreaker } from '../../src/resilience/circuit.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { MemoryStore } from '../../src/state/memory.ts';
import { DEMO_PASSWORD, DEMO_USER } from '../helpers/gateway.ts';

const OPEN_MS = 50;

let sandbox: Sandbox;
let parser: MessageParser;
let config: Config;

before(async () => {
  const loaded = loadConfig({
    SANDBOX_PORT: '0',
    LOG_LEVEL: 'silent',
    API_RETRY_BASE_MS: '20',
    API_RETRY_CAP_MS: '100',
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  config = loaded.config;
  sandbox = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 100 });
  parser = createMessageParser({
    workers: 1,
    timeoutMs: config.parseTimeoutMs,
    heapMb: config.parseHeapMb,
    maxDepth: config.mimeMaxDepth,
    maxParts: config.mimeMaxParts,
    maxHeaderBytes: config.mimeMaxHeaderBytes,
  });
});

after(async () => {
  await parser.close();
  await sandbox.close();
});

function message(n: number): Uint8Array {
  return Buffer.from(
    [
      `From: Demo <${DEMO_USER}>`,
      'To: rcpt@example.org',
      `Subject: journal failure ${n}`,
      `Message-ID: <journal-failure-${n}-${Date.now()}@example.com>`,
      '',
      'Hello.',
      '',
    ].join('\r\n'),
  );
}

test('a journal write that throws gives the circuit permit back: the circuit can still close', async () => {
  const logger = pino({ level: 'silent' });
  const metrics = createMetrics();
  const client = new CakemailClient({
    baseUrl: sandbox.url,
    timeoutMs: config.apiTimeoutMs,
    maxConnections: 4,
    metrics,
  });
  const tokens = new TokenCache({
    client,
    refreshMarginMs: config.tokenRefreshMarginMs,
    recheckMs: config.authRecheckS * 1000,
  });
  const senders = new SenderDirectory({ client, ttlMs: config.senderCacheTtlMs });
  const dedupe = new DedupeRecords(
    new MemoryStore(),
    { ttlS: config.dedupeTtlS, partialTtlS: config.dedupePartialTtlS },
    logger,
  );
  const circuit = new CircuitBreaker({ failureRatio: 0.5, minRequests: 2, windowMs: 60_000, openMs: OPEN_MS });
  const pipeline = new DeliveryPipeline({
    config,
    parser,
    senders,
    client,
    dedupe,
    circuit,
    retryBudget: new RetryBudget(),
    logger,
    metrics,
  });

  const auth = await tokens.authenticate(DEMO_USER, DEMO_PASSWORD);
  assert.ok(auth.ok, 'the sandbox demo login authenticates');
  const signal = AbortSignal.timeout(10_000);
  const deadline = Date.now() + 10_000;
  const prepare = async (n: number) => {
    const p = await pipeline.prepare(
      { sessionId: `s${n}`, credential: auth.credential, envelopeFrom: DEMO_USER, raw: message(n) },
      signal,
    );
    assert.equal(p.kind, 'ready');
    return p.message;
  };
  const first = await prepare(1);

  // An API outage as the breaker sees it: enough transient failures to open, then the wait to half-open.
  for (let i = 0; i < 2; i++) {
    const permit = circuit.acquire();
    assert.ok(permit.ok);
    circuit.record('transient_failure', permit);
  }
  assert.equal(circuit.state, 'open');
  await new Promise((r) => setTimeout(r, OPEN_MS + 20));
  assert.equal(circuit.state, 'half_open');

  // The probe's journal write fails (a Redis blip, a full disk): the send must not go out.
  const failingHooks = {
    opened: async () => {
      throw new Error('disk error');
    },
  };
  await assert.rejects(
    pipeline.sendTo(first, ['rcpt@example.org'], { deadline, signal, hooks: failingHooks }),
    /disk error/,
  );
  assert.equal(sandbox.emails().length, 0, 'nothing was sent without its journal entry');

  // The probe slot is free again: the next send probes, succeeds and closes the circuit.
  const second = await prepare(2);
  const results = await pipeline.sendTo(second, ['rcpt@example.org'], {
    deadline,
    signal,
    hooks: { opened: async () => true },
  });
  assert.equal(results[0]?.status, 'queued', `the next send goes out as the probe, got ${JSON.stringify(results[0])}`);
  assert.equal(circuit.state, 'closed');
  assert.equal(sandbox.emails().length, 1);
});
