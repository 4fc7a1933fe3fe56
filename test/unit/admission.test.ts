// Admission bookkeeping: slots, per-client counts (IPv6 per /64), per-network counts, trusted
// clients, draining, a ticket that counts once however often it is released, eviction at the
// cap and the stress timeouts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createMetrics } from '../../src/observability/metrics.ts';
import { Admission, type AdmissionOptions, type Ticket } from '../../src/smtp/admission.ts';
import { cidrMatcher } from '../../src/lib/cidr.ts';
import type { Reply } from '../../src/delivery/replies.ts';

const make = (maxConnections = 3, maxPerIp = 2, trusted: string[] = [], more: Partial<AdmissionOptions> = {}) => {
  const metrics = createMetrics();
  const admission = new Admission({
    maxConnections,
    maxPerIp,
    maxPerPrefix: 0,
    prefixV4: 24,
    prefixV6: 48,
    stressAt: maxConnections,
    stressIdleMs: 10_000,
    stressAuthMs: 30_000,
    trusted: cidrMatcher(trusted),
    logger: pino({ level: 'silent' }),
    metrics,
    ...more,
  });
  const gauge = async () => (await metrics.connections.get()).values.reduce((n, v) => n + v.value, 0);
  return { admission, metrics, gauge };
};

test('slots: MAX_CONNECTIONS across listeners, given back once per ticket', async () => {
  const { admission, gauge } = make(2, 10);
  const a = admission.enter('submission');
  const b = admission.enter('smtps');
  assert.ok(a.ok && b.ok);
  const c = admission.enter('submission');
  assert.equal(c.ok, false);
  if (!c.ok) assert.equal(c.reply.label, 'max_connections');
  assert.equal(await gauge(), 2);
  if (a.ok) {
    a.ticket.release();
    a.ticket.release();
  }
  assert.equal(await gauge(), 1);
  assert.ok(admission.enter('submission').ok);
  admission.close();
});

test('per client: IPv4 per address, IPv6 per /64, trusted clients not counted', () => {
  const { admission } = make(100, 2, ['10.0.0.0/8']);
  const bind = (ip: string) => {
    const e = admission.enter('submission');
    assert.ok(e.ok);
    return e.ok && e.ticket.bindClient(ip) === null;
  };
  assert.equal(bind('192.0.2.1'), true);
  assert.equal(bind('::ffff:192.0.2.1'), true);
  assert.equal(bind('192.0.2.1'), false);
  assert.equal(bind('2001:db8:0:1::1'), true);
  assert.equal(bind('2001:db8:0:1::2'), true);
  assert.equal(bind('2001:db8:0:1:ffff::3'), false);
  assert.equal(bind('2001:db8:0:2::1'), true);
  for (let i = 0; i < 5; i++) assert.equal(bind('10.1.2.3'), true);
  admission.close();
});

test('a refused or released ticket frees its client count; draining refuses everything new', async () => {
  const { admission, metrics } = make(10, 1);
  const first = admission.enter('submission');
  assert.ok(first.ok && first.ticket.bindClient('192.0.2.9') === null);
  const second = admission.enter('submission');
  assert.ok(second.ok);
  if (second.ok) {
    assert.equal(second.ticket.bindClient('192.0.2.9')?.label, 'per_ip');
    second.ticket.release();
  }
  if (first.ok) first.ticket.release();
  const third = admission.enter('submission');
  assert.ok(third.ok && third.ticket.bindClient('192.0.2.9') === null);
  admission.drain();
  const late = admission.enter('smtps');
  assert.equal(late.ok, false);
  if (!late.ok) assert.deepEqual([late.reply.code, late.reply.enhanced, late.reply.label], [421, '4.3.2', 'draining']);
  // Admitted = bound within the cap: the refused second one is not counted, nor its duration.
  const total = (await metrics.connectionsTotal.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(total, 2);
  const durations = (await metrics.connectionDuration.get()).values.find(
    (v) => v.metricName === 'smtp_gateway_connection_duration_seconds_count',
  );
  assert.equal(durations?.value, 1);
  admission.close();
});

test('per network: IPv4 per /24 and IPv6 per /48 (configurable), beside the per-address cap', () => {
  const { admission } = make(100, 2, ['10.0.0.0/8'], { maxPerPrefix: 3, prefixV6: 48 });
  const bind = (ip: string) => {
    const e = admission.enter('submission');
    assert.ok(e.ok);
    return e.ok ? (e.ticket.bindClient(ip)?.label ?? 'ok') : 'refused';
  };
  assert.deepEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.101.1'].map(bind), [
    'ok',
    'ok',
    'ok',
    'per_prefix',
    'ok',
  ]);
  // Four /64s of one /48: each within its per-address cap, the network is not.
  assert.deepEqual(
    ['2001:db8:7:1::1', '2001:db8:7:2::1', '2001:db8:7:3::1', '2001:db8:7:4::1', '2001:db8:8:1::1'].map(bind),
    ['ok', 'ok', 'ok', 'per_prefix', 'ok'],
  );
  for (let i = 0; i < 5; i++) assert.equal(bind(`10.9.9.${i}`), 'ok');
  admission.close();
});

/** A ticket whose occupant is scripted by the test; `cuts` collects the replies it got. */
function occupied(admission: Admission, idleSince: () => number | null, authenticated = () => false) {
  const e = admission.enter('submission');
  assert.ok(e.ok);
  const ticket = (e as { ticket: Ticket }).ticket;
  const cuts: Reply[] = [];
  ticket.occupy({ idleSince, authenticated, cut: (r) => cuts.push(r) });
  return { ticket, cuts };
}

test('at the cap, a new connection takes the slot of an idle unauthenticated one: most-connected client first, then idle longest', () => {
  const { admission } = make(4, 10, [], { stressAt: 1000 });
  const bound = (ip: string, idleSince: () => number | null, authenticated = () => false) => {
    const o = occupied(admission, idleSince, authenticated);
    assert.equal(o.ticket.bindClient(ip), null);
    return o;
  };
  const loner = bound('192.0.2.1', () => 1_000);
  const floodOld = bound('198.51.100.7', () => 5_000);
  const floodNew = bound('198.51.100.7', () => 9_000);
  const authed = bound(
    '192.0.2.2',
    () => 1,
    () => true,
  );
  // The flooding address holds two: its longest-idle one goes, though the loner is idler still.
  assert.ok(admission.enter('submission').ok);
  assert.deepEqual(
    floodOld.cuts.map((r) => [r.code, r.enhanced, r.label]),
    [[421, '4.3.2', 'evicted_idle']],
  );
  // Now one each: the one idle longest goes.
  const e = admission.enter('submission');
  assert.ok(e.ok);
  assert.deepEqual([loner.cuts.length, floodNew.cuts.length, authed.cuts.length], [1, 0, 0]);
  // Authenticated and busy connections are never evicted: with no idle unauthenticated one left,
  // the next connection is refused.
  floodNew.ticket.occupy({ idleSince: () => null, authenticated: () => false, cut: (r) => floodNew.cuts.push(r) });
  (e as { ticket: Ticket }).ticket.occupy({ idleSince: () => null, authenticated: () => false, cut: () => {} });
  const after = admission.enter('submission');
  assert.ok(!after.ok && after.reply.label === 'max_connections');
  assert.deepEqual([floodNew.cuts.length, authed.cuts.length], [0, 0]);
  admission.close();
});

test('under stress: no command for the short idle time, or no AUTH within its bound, closes with 421', () => {
  let now = 1_000_000;
  const { admission } = make(10, 10, [], { now: () => now, stressAt: 4, stressIdleMs: 10_000, stressAuthMs: 30_000 });
  let lastCommand = now;
  const chatty = occupied(admission, () => lastCommand);
  const silent = occupied(admission, () => 1_000_000);
  const authed = occupied(
    admission,
    () => lastCommand,
    () => true,
  );
  now += 11_000;
  lastCommand = now - 1000;
  // Three of ten open: below the threshold, nothing happens however idle.
  admission.sweep();
  assert.equal(silent.cuts.length, 0);
  const waiting = occupied(admission, () => null);
  admission.sweep();
  assert.deepEqual(
    silent.cuts.map((r) => [r.code, r.enhanced, r.label]),
    [[421, '4.4.2', 'stress_idle']],
  );
  assert.deepEqual([chatty.cuts.length, authed.cuts.length, waiting.cuts.length], [0, 0, 0]);
  // The cut one gave its slot back: one more keeps the count at the threshold.
  occupied(admission, () => null);
  now += 20_000;
  lastCommand = now - 1000;
  admission.sweep();
  assert.deepEqual(
    chatty.cuts.map((r) => [r.code, r.enhanced, r.label]),
    [[421, '4.7.0', 'stress_auth']],
  );
  assert.equal(authed.cuts.length, 0, 'an authenticated client that keeps talking stays');
  assert.equal(waiting.cuts.length, 0, 'a client waiting on the gateway is not idle');
  admission.close();
});
