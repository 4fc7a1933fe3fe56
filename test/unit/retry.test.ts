import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiResult } from '../../src/cakemail/errors.ts';
import { errorMessage, parseRetryAfter } from '../../src/cakemail/errors.ts';
import { backoffMs, isRetryable, withRetry } from '../../src/cakemail/retry.ts';

const policy = { attempts: 3, baseMs: 10, capMs: 40, random: () => 0.999 };

function sequence(results: ApiResult<string>[]) {
  let calls = 0;
  return {
    fn: async () => results[Math.min(calls++, results.length - 1)] as ApiResult<string>,
    calls: () => calls,
  };
}

test('5xx, 429 and refused connections are retried; ambiguous failures and 4xx are not', () => {
  assert.equal(isRetryable({ kind: 'http', status: 503, message: '' }), true);
  assert.equal(isRetryable({ kind: 'http', status: 429, message: '' }), true);
  assert.equal(isRetryable({ kind: 'network', code: 'ECONNREFUSED', sent: false, message: '' }), true);
  assert.equal(isRetryable({ kind: 'network', code: 'ECONNRESET', sent: true, message: '' }), false);
  assert.equal(isRetryable({ kind: 'timeout', message: '' }), false);
  assert.equal(isRetryable({ kind: 'http', status: 422, message: '' }), false);
  assert.equal(isRetryable({ kind: 'http', status: 401, message: '' }), false);
});

test('retries until success within the attempt budget', async () => {
  const s = sequence([
    { ok: false, error: { kind: 'http', status: 503, message: '' } },
    { ok: true, status: 201, value: 'ok' },
  ]);
  const r = await withRetry(s.fn, policy, Date.now() + 5000);
  assert.ok(r.ok);
  assert.equal(s.calls(), 2);
});

test('stops after the attempt budget and returns the last failure', async () => {
  const s = sequence([{ ok: false, error: { kind: 'http', status: 502, message: 'bad gateway' } }]);
  const r = await withRetry(s.fn, policy, Date.now() + 5000);
  assert.equal(r.ok, false);
  assert.equal(s.calls(), 3);
});

test('does not retry a timeout (the API may have committed)', async () => {
  const s = sequence([{ ok: false, error: { kind: 'timeout', message: 't' } }]);
  await withRetry(s.fn, policy, Date.now() + 5000);
  assert.equal(s.calls(), 1);
});

test('never waits past the deadline: a Retry-After beyond it ends the retries', async () => {
  const s = sequence([{ ok: false, error: { kind: 'http', status: 429, message: '', retryAfterMs: 3_600_000 } }]);
  const started = Date.now();
  await withRetry(s.fn, policy, Date.now() + 1000);
  assert.equal(s.calls(), 1);
  assert.ok(Date.now() - started < 500);
});

test('backoff is full jitter capped, with Retry-After as a floor', () => {
  const f = { kind: 'http' as const, status: 503, message: '' };
  assert.ok(backoffMs(1, { ...policy, random: () => 0.5 }, f) <= 10);
  assert.ok(backoffMs(10, { ...policy, random: () => 0.999 }, f) <= 40);
  assert.equal(backoffMs(1, { ...policy, random: () => 0 }, { ...f, status: 429, retryAfterMs: 2000 }), 2000);
});

test('error bodies in both documented shapes give a readable message', () => {
  assert.deepEqual(
    errorMessage(
      { detail: [{ loc: ['body', 'content', 'type'], msg: 'field required', type: 'value_error.missing' }] },
      422,
    ),
    { message: 'content.type: field required' },
  );
  assert.deepEqual(errorMessage({ detail: 'Not authenticated' }, 401), { message: 'Not authenticated' });
  assert.deepEqual(errorMessage({ detail: [{ type: 'bad_request', code: 8004, msg: 'Access denied' }] }, 400), {
    message: 'Access denied',
    code: 8004,
  });
  assert.deepEqual(errorMessage('<html>', 502), { message: 'HTTP 502' });
});

test('Retry-After accepts delta-seconds and HTTP-dates', () => {
  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});
