// Admission bookkeeping: slots, per-client counts (IPv6 per /64), trusted clients, draining,
// and a ticket that counts once however often it is released.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createMetrics } from '../../src/observability/metrics.ts';
import { Admission } from '../../src/smtp/admission.ts';
import { cidrMatcher } from '../../src/lib/cidr.ts';

const make = (maxConnections = 3, maxPerIp = 2, trusted: string[] = []) => {
  const metrics = createMetrics();
  const admission = new Admission({
    maxConnections,
    maxPerIp,
    trusted: cidrMatcher(trusted),
    logger: pino({ level: 'silent' }),
    metrics,
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
    return e.ok && e.ticket.bindClient(ip);
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
  assert.ok(first.ok && first.ticket.bindClient('192.0.2.9'));
  const second = admission.enter('submission');
  assert.ok(second.ok);
  if (second.ok) {
    assert.equal(second.ticket.bindClient('192.0.2.9'), false);
    second.ticket.release();
  }
  if (first.ok) first.ticket.release();
  const third = admission.enter('submission');
  assert.ok(third.ok && third.ticket.bindClient('192.0.2.9'));
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
