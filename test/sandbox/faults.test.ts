// Fault injection: statuses with Retry-After, count expiry, resets, commit-then-hang/reset,
// latency, validation of the fault JSON.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { details, passwordToken, setFaults, submit, useSandbox, validEmail } from './helpers.ts';

const ctx = useSandbox();

beforeEach(async () => {
  await fetch(`${ctx.sb.url}/_sandbox/faults`, { method: 'DELETE' });
  await fetch(`${ctx.sb.url}/_sandbox/emails`, { method: 'DELETE' });
});

describe('fault injection', () => {
  it('503 with Retry-After for count=1, then normal success', async () => {
    const set = await setFaults(ctx.sb.url, { status: 503, count: 1, retryAfter: '2' });
    assert.equal(set.status, 200);
    const first = await submit(ctx.sb.url, validEmail());
    assert.equal(first.status, 503);
    assert.equal(first.headers.get('retry-after'), '2');
    assert.equal((await details(first))[0]!.type, 'service_unavailable');
    assert.equal(ctx.sb.emails().length, 0, 'a faulted request is not processed');
    const second = await submit(ctx.sb.url, validEmail());
    assert.equal(second.status, 201);
    assert.equal(ctx.sb.emails().length, 1);
    assert.deepEqual(
      await (await fetch(`${ctx.sb.url}/_sandbox/faults`)).json(),
      { faults: [] },
      'expired after count',
    );
  });

  it('only matching paths are faulted; a custom body is sent as is', async () => {
    await setFaults(ctx.sb.url, { status: 429, paths: ['/token'], body: { detail: 'slow down' } });
    const token = await passwordToken(ctx.sb.url);
    assert.equal(token.status, 429);
    assert.deepEqual(await token.json(), { detail: 'slow down' });
    assert.equal((await submit(ctx.sb.url, validEmail())).status, 201);
  });

  it('reset_before_read makes fetch fail and stores nothing', async () => {
    await setFaults(ctx.sb.url, { mode: 'reset_before_read', count: 1 });
    await assert.rejects(submit(ctx.sb.url, validEmail()), TypeError);
    assert.equal(ctx.sb.emails().length, 0);
    assert.equal((await submit(ctx.sb.url, validEmail())).status, 201, 'fault expired');
  });

  it('reset_after_read: fetch fails, nothing stored', async () => {
    await setFaults(ctx.sb.url, { mode: 'reset_after_read', count: 1 });
    await assert.rejects(submit(ctx.sb.url, validEmail()), TypeError);
    assert.equal(ctx.sb.emails().length, 0);
  });

  it('commit_then_hang stores the email while the client times out', async () => {
    await setFaults(ctx.sb.url, { mode: 'commit_then_hang', count: 1 });
    const started = Date.now();
    await assert.rejects(
      submit(ctx.sb.url, validEmail({ email: 'hang@example.org' }), { signal: AbortSignal.timeout(300) }),
      (err: Error) => err.name === 'TimeoutError',
    );
    assert.ok(Date.now() - started >= 290);
    const stored = ctx.sb.emails();
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.payload.email, 'hang@example.org');
  });

  it('commit_then_reset stores the email and the client sees a network error', async () => {
    await setFaults(ctx.sb.url, { mode: 'commit_then_reset', count: 1 });
    await assert.rejects(submit(ctx.sb.url, validEmail()), TypeError);
    assert.equal(ctx.sb.emails().length, 1);
  });

  it('hang_before_commit: client times out, nothing stored', async () => {
    await setFaults(ctx.sb.url, { mode: 'hang_before_commit', count: 1 });
    await assert.rejects(submit(ctx.sb.url, validEmail(), { signal: AbortSignal.timeout(200) }));
    assert.equal(ctx.sb.emails().length, 0);
  });

  it('latencyMs alone slows a successful answer', async () => {
    await setFaults(ctx.sb.url, { latencyMs: 250, count: 1 });
    const started = Date.now();
    const res = await submit(ctx.sb.url, validEmail());
    assert.equal(res.status, 201);
    assert.ok(Date.now() - started >= 240, `took ${Date.now() - started} ms`);
    const fast = Date.now();
    await submit(ctx.sb.url, validEmail());
    assert.ok(Date.now() - fast < 200);
  });

  it('rate 0.5 faults some requests, not all; several faults may be active', async () => {
    await setFaults(ctx.sb.url, [
      { status: 500, rate: 0.5, paths: ['/v2/emails'] },
      { status: 502, paths: ['/brands/default/senders'] },
    ]);
    const statuses = new Set<number>();
    for (let i = 0; i < 40; i++) statuses.add((await submit(ctx.sb.url, validEmail())).status);
    assert.deepEqual([...statuses].sort(), [201, 500]);
    assert.equal((await fetch(`${ctx.sb.url}/brands/default/senders`)).status, 502);
  });

  it('DELETE clears the faults', async () => {
    await setFaults(ctx.sb.url, { status: 500 });
    assert.equal((await submit(ctx.sb.url, validEmail())).status, 500);
    assert.equal((await fetch(`${ctx.sb.url}/_sandbox/faults`, { method: 'DELETE' })).status, 204);
    assert.equal((await submit(ctx.sb.url, validEmail())).status, 201);
  });

  it('nonsense fault JSON → 400 listing every problem, and nothing changes', async () => {
    const res = await setFaults(ctx.sb.url, {
      status: 999,
      rate: 2,
      count: 0,
      mode: 'explode',
      paths: 'v2',
      colour: 'red',
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { errors: string[] };
    for (const key of ['status', 'rate', 'count', 'mode', 'paths', 'colour']) {
      assert.ok(
        body.errors.some((e) => e.startsWith(key)),
        `error for ${key}: ${body.errors.join('; ')}`,
      );
    }
    assert.equal((await setFaults(ctx.sb.url, { mode: 'respond' })).status, 400, 'respond needs status or latency');
    assert.equal((await setFaults(ctx.sb.url, { mode: 'commit_then_hang', status: 500 })).status, 400);
    assert.equal((await fetch(`${ctx.sb.url}/_sandbox/faults`, { method: 'POST', body: 'nope' })).status, 400);
    assert.deepEqual(await (await fetch(`${ctx.sb.url}/_sandbox/faults`)).json(), { faults: [] });
  });
});
