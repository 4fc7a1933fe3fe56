// The circuit breaker and the retry budget on a fake clock: every transition at its exact time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetryBudget } from '../../src/resilience/budget.ts';
import { CircuitBreaker, circuitGaugeValue, type CircuitState } from '../../src/resilience/circuit.ts';

function breaker(
  overrides: Partial<{ failureRatio: number; minRequests: number; windowMs: number; openMs: number }> = {},
) {
  let now = 1_000_000;
  const transitions: [CircuitState, CircuitState][] = [];
  const cb = new CircuitBreaker({
    failureRatio: 0.5,
    minRequests: 20,
    windowMs: 10_000,
    openMs: 30_000,
    ...overrides,
    now: () => now,
    onTransition: (from, to) => transitions.push([from, to]),
  });
  const call = (verdict: 'success' | 'transient_failure' | 'neutral') => {
    const p = cb.acquire();
    assert.ok(p.ok, 'call allowed');
    cb.record(verdict, p);
  };
  return { cb, call, transitions, advance: (ms: number) => (now += ms) };
}

test('stays closed below CIRCUIT_MIN_REQUESTS, however bad the ratio', () => {
  const { cb, call } = breaker();
  for (let i = 0; i < 19; i++) call('transient_failure');
  assert.equal(cb.state, 'closed');
  call('transient_failure');
  assert.equal(cb.state, 'open', 'the 20th failure opens it');
});

test('opens at CIRCUIT_FAILURE_RATIO, not below it', () => {
  const { cb, call } = breaker();
  for (let i = 0; i < 11; i++) call('success');
  for (let i = 0; i < 9; i++) call('transient_failure');
  assert.equal(cb.state, 'closed', '9/20 = 45% < 50%');
  call('transient_failure');
  assert.equal(cb.state, 'closed', '10/21 < 50%');
  call('transient_failure');
  assert.equal(cb.state, 'open', '11/22 = 50%');
});

test("neutral outcomes (400/422: the sender's problem) never count", () => {
  const { cb, call } = breaker();
  for (let i = 0; i < 100; i++) call('neutral');
  for (let i = 0; i < 19; i++) call('transient_failure');
  assert.equal(cb.state, 'closed', 'only 19 counted calls');
});

test('failures older than CIRCUIT_WINDOW_MS fall out of the window', () => {
  const { cb, call, advance } = breaker();
  for (let i = 0; i < 15; i++) call('transient_failure');
  advance(11_000);
  for (let i = 0; i < 10; i++) call('transient_failure');
  assert.equal(cb.state, 'closed', 'the first 15 have expired: 10 in the window');
  for (let i = 0; i < 10; i++) call('transient_failure');
  assert.equal(cb.state, 'open');
});

test('open for CIRCUIT_OPEN_MS with the seconds until the probe; then one probe at a time; success closes', () => {
  const { cb, call, advance, transitions } = breaker();
  for (let i = 0; i < 20; i++) call('transient_failure');
  assert.deepEqual(cb.peek(), { ok: false, retryInS: 30 });
  advance(12_500);
  assert.deepEqual(cb.acquire(), { ok: false, retryInS: 18 });
  advance(17_499);
  assert.deepEqual(cb.peek(), { ok: false, retryInS: 1 });
  advance(1);
  assert.equal(cb.state, 'half_open');
  assert.deepEqual(cb.peek(), { ok: true, probe: true }, 'RCPT lets the message through');
  const probe = cb.acquire();
  assert.deepEqual(probe, { ok: true, probe: true });
  assert.equal(cb.acquire().ok, false, 'a second call waits while the probe is out');
  assert.ok(probe.ok);
  cb.record('success', probe);
  assert.equal(cb.state, 'closed');
  assert.deepEqual(transitions, [
    ['closed', 'open'],
    ['open', 'half_open'],
    ['half_open', 'closed'],
  ]);
  call('transient_failure');
  assert.equal(cb.state, 'closed', 'a fresh window after closing');
});

test('a failed probe opens the circuit again for the full CIRCUIT_OPEN_MS', () => {
  const { cb, call, advance } = breaker({ openMs: 5000 });
  for (let i = 0; i < 20; i++) call('transient_failure');
  advance(5000);
  const probe = cb.acquire();
  assert.ok(probe.ok && probe.probe);
  cb.record('transient_failure', probe);
  assert.equal(cb.state, 'open');
  assert.deepEqual(cb.peek(), { ok: false, retryInS: 5 });
});

test('a neutral probe (a 422) frees the probe slot without deciding', () => {
  const { cb, call, advance } = breaker({ openMs: 1000 });
  for (let i = 0; i < 20; i++) call('transient_failure');
  advance(1000);
  const probe = cb.acquire();
  assert.ok(probe.ok);
  cb.record('neutral', probe);
  assert.equal(cb.state, 'half_open');
  assert.ok(cb.acquire().ok, 'the next call may probe');
});

test('gauge values: 0 closed, 1 half-open, 2 open', () => {
  assert.deepEqual(
    ['closed', 'half_open', 'open'].map((s) => circuitGaugeValue(s as CircuitState)),
    [0, 1, 2],
  );
});

test('retry budget: a floor per second when quiet, then 10% of calls', () => {
  let now = 0;
  const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 1, windowMs: 10_000, now: () => now });
  let granted = 0;
  for (let i = 0; i < 50; i++) if (budget.tryRetry()) granted++;
  assert.equal(granted, 10, 'floor: 1/s over a 10 s window');
  for (let i = 0; i < 500; i++) budget.recordCall();
  for (let i = 0; i < 100; i++) if (budget.tryRetry()) granted++;
  assert.equal(granted, 50, '10% of 500 calls');
  now += 11_000;
  assert.equal(budget.tryRetry(), true, 'the window slid: retries allowed again');
});
