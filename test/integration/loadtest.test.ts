// The load-test tool (`smtp-gateway loadtest`) against the gateway and against the bare sink
// of the benchmark suite: counts must be exact, refusals named by stage and code, and the JSON
// line must have the shape the benchmark suite reads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isLoopbackAddress, isLoopbackTarget, parseLoadOptions, type LoadOptions } from '../../src/loadtest/options.ts';
import { runLoad, type LoadReport } from '../../src/loadtest/run.ts';
import { startSink, type Sink } from '../../scripts/bench/sink.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';

function options(argv: string[]): LoadOptions {
  const parsed = parseLoadOptions(['--insecure', '--no-progress', ...argv]);
  if (parsed.ok !== true) throw new Error(JSON.stringify(parsed));
  return parsed.options;
}

function assertReportShape(r: LoadReport): void {
  assert.equal(r.tool, 'smtp-gateway-loadtest');
  for (const k of [
    'elapsedS',
    'attempted',
    'accepted',
    'rejected',
    'msgPerS',
    'msgPerHour',
    'recipientsPerS',
    'connections',
  ] as const) {
    assert.equal(typeof r[k], 'number', k);
  }
  for (const l of [r.latencyMs.dot, r.latencyMs.transaction, r.latencyMs.session]) {
    assert.deepEqual(Object.keys(l).sort(), ['count', 'max', 'mean', 'p50', 'p95', 'p99']);
    assert.ok(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max);
  }
  // One line of JSON that parses back to the same report.
  const line = JSON.stringify(r);
  assert.ok(!line.includes('\n'));
  assert.deepEqual(JSON.parse(line), r);
}

describe('loadtest against the gateway', () => {
  const gw = useTestGateway();

  it('sends the exact count over STARTTLS + AUTH PLAIN, several messages per connection, and the API gets one call per recipient', async () => {
    const r = await runLoad(
      options([
        '--port',
        String(gw().ports.submission),
        '--messages',
        '24',
        '--concurrency',
        '3',
        '--per-connection',
        '5',
        '--recipients',
        '2',
      ]),
    );
    assertReportShape(r);
    assert.equal(r.accepted, 24);
    assert.equal(r.rejected, 0);
    assert.equal(r.latencyMs.dot.count, 24);
    // 24 messages at 5 per connection need at least 5 connections.
    assert.ok(r.connections >= 5, `connections ${r.connections}`);
    assert.equal((await sandboxRequests(gw()))['POST /v2/emails'], 48);
  });

  it('one message per connection over implicit TLS with AUTH LOGIN', async () => {
    const r = await runLoad(
      options([
        '--port',
        String(gw().ports.smtps),
        '--tls',
        'implicit',
        '--auth',
        'login',
        '--messages',
        '6',
        '--concurrency',
        '2',
        '--per-connection',
        '1',
      ]),
    );
    assert.equal(r.accepted, 6);
    assert.equal(r.connections, 6);
    assert.equal(r.latencyMs.session.count, 6);
  });

  it('counts refusals by stage and reply code', async () => {
    const r = await runLoad(
      options([
        '--port',
        String(gw().ports.submission),
        '--pass',
        'wrong-password',
        '--messages',
        '2',
        '--concurrency',
        '2',
      ]),
    );
    assert.equal(r.accepted, 0);
    assert.deepEqual(r.rejectedBy, { 'auth 535': 2 });
    assert.match(r.rejectedSample['auth 535'] ?? '', /^535 5\.7\.8 /);
    const unknownSender = await runLoad(
      options([
        '--port',
        String(gw().ports.submission),
        '--from',
        'nobody@example.com',
        '--messages',
        '3',
        '--concurrency',
        '1',
      ]),
    );
    assert.deepEqual(unknownSender.rejectedBy, { 'dot 550': 3 });
  });

  it('stops at the duration when the count is unbounded', async () => {
    const r = await runLoad(
      options([
        '--port',
        String(gw().ports.submission),
        '--messages',
        '0',
        '--duration',
        '0.5',
        '--concurrency',
        '2',
        '--rate',
        '10',
      ]),
    );
    // A rate of 10/s for 0.5 s releases about 5 messages: never more than the schedule allows.
    assert.ok(r.accepted >= 1 && r.accepted <= 6, `accepted ${r.accepted}`);
    assert.equal(r.rejected, 0);
    assert.ok(r.elapsedS < 5);
  });

  it('a warm-up is left out of latencies and msg/s but its replies are still counted', async () => {
    // 10/s for 1 s, the first 0.5 s warm-up: about half the messages are measured, all are counted.
    const r = await runLoad(
      options([
        '--port',
        String(gw().ports.submission),
        '--messages',
        '0',
        '--duration',
        '1',
        '--warmup',
        '0.5',
        '--concurrency',
        '2',
        '--rate',
        '10',
      ]),
    );
    assert.equal(r.load.warmupS, 0.5);
    assert.ok(r.accepted >= 8, `accepted ${r.accepted}`);
    assert.ok(
      r.latencyMs.dot.count > 0 && r.latencyMs.dot.count < r.accepted,
      `measured ${r.latencyMs.dot.count} of ${r.accepted}`,
    );
    const bad = await runLoad(
      options([
        '--port',
        String(gw().ports.submission),
        '--pass',
        'wrong-password',
        '--messages',
        '2',
        '--concurrency',
        '2',
        '--duration',
        '5',
        '--warmup',
        '4',
      ]),
    );
    assert.deepEqual(bad.rejectedBy, { 'auth 535': 2 }, 'a rejection in the warm-up is still reported');
    assert.deepEqual(parseLoadOptions(['--duration', '1', '--warmup', '1']), {
      ok: false,
      errors: ['--warmup: must be shorter than --duration'],
    });
  });

  it('works with the demo credentials as defaults', () => {
    const o = options([]);
    assert.equal(o.user, DEMO_USER);
    assert.equal(o.pass, DEMO_PASSWORD);
  });
});

describe('loadtest against the bare sink', () => {
  let sink: Sink;
  before(async () => {
    sink = await startSink();
  });
  after(() => sink.close());

  it('counts match what the sink received, for every shape', async () => {
    for (const shape of ['text1k', 'html20k', 'pdf300k']) {
      const before = sink.messages();
      const r = await runLoad(
        options([
          '--port',
          String(sink.ports.submission),
          '--shape',
          shape,
          '--messages',
          '10',
          '--concurrency',
          '2',
          '--per-connection',
          '10',
        ]),
      );
      assertReportShape(r);
      assert.equal(r.accepted, 10, shape);
      assert.equal(sink.messages() - before, 10, shape);
    }
  });

  it('reports message sizes that match the shape names', async () => {
    const sizes: Record<string, number> = {};
    for (const shape of ['text1k', 'html20k', 'pdf300k']) {
      const r = await runLoad(
        options([
          '--port',
          String(sink.ports.smtps),
          '--tls',
          'implicit',
          '--shape',
          shape,
          '--messages',
          '1',
          '--concurrency',
          '1',
        ]),
      );
      sizes[shape] = r.load.messageBytes;
    }
    assert.ok((sizes.text1k ?? 0) > 800 && (sizes.text1k ?? 0) < 1600, JSON.stringify(sizes));
    assert.ok((sizes.html20k ?? 0) > 18_000 && (sizes.html20k ?? 0) < 24_000, JSON.stringify(sizes));
    assert.ok((sizes.pdf300k ?? 0) > 280_000 && (sizes.pdf300k ?? 0) < 330_000, JSON.stringify(sizes));
  });
});

describe('loadtest options', () => {
  it('refuses targets that are not loopback unless told', async () => {
    assert.equal(isLoopbackAddress('127.0.0.1'), true);
    assert.equal(isLoopbackAddress('127.8.9.10'), true);
    assert.equal(isLoopbackAddress('::1'), true);
    assert.equal(isLoopbackAddress('10.0.0.1'), false);
    assert.equal(isLoopbackAddress('192.168.1.1'), false);
    assert.equal(await isLoopbackTarget('localhost'), true);
    assert.equal(await isLoopbackTarget('203.0.113.7'), false);
  });

  it('reports every bad option at once', () => {
    const parsed = parseLoadOptions(['--tls', 'ssl', '--concurrency', '0', '--shape', 'huge', '--bogus']);
    assert.equal(parsed.ok, false);
    if (parsed.ok === false) assert.equal(parsed.errors.length, 4, parsed.errors.join('\n'));
  });
});
