import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { logText } from '../../src/observability/log-text.ts';
import { clientKey, parseCidrs } from '../../src/smtp/cidr.ts';

test('TRUSTED_CIDRS: IPv4, IPv6, bare addresses, IPv4-mapped IPv6 in either place', () => {
  const r = parseCidrs(' 10.0.0.0/8, 2001:db8::/32,192.0.2.7 , ::ffff:172.16.0.0/108');
  assert.ok(r.ok);
  const yes = ['10.1.2.3', '::ffff:10.9.9.9', '2001:db8:5::1', '192.0.2.7', '172.16.3.3', '::ffff:172.16.0.1'];
  const no = ['11.0.0.1', '2001:db9::1', '192.0.2.8', '172.32.0.1', 'not-an-ip', ''];
  for (const ip of yes) assert.equal(r.list.matches(ip), true, ip);
  for (const ip of no) assert.equal(r.list.matches(ip), false, ip);
});

test('an invalid entry is reported by name; empty or unset means no network', () => {
  const bad = parseCidrs('10.0.0.0/8,10.0.0.0/33');
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.error, /"10\.0\.0\.0\/33" is not an IP address or CIDR network/);
  for (const v of ['', undefined, ' , ']) {
    const r = parseCidrs(v);
    assert.ok(r.ok && r.list.size === 0);
  }
});

test('clientKey: IPv4 as is (also when IPv4-mapped), IPv6 by its /64', () => {
  assert.equal(clientKey('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(clientKey('203.0.113.9'), '203.0.113.9');
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2:ffff::1'), clientKey('2001:db8:1:2::9'), 'one /64, one client');
});

test('logText: bounded, control characters replaced', () => {
  assert.equal(logText('user@example.com'), 'user@example.com');
  assert.equal(logText('a\r\nb\u0000c\u001b[2J'), 'a??b?c?[2J');
  assert.equal(logText('x'.repeat(100)), `${'x'.repeat(64)}...(100 chars)`);
});

test('TRUSTED_CIDRS is validated at start, naming the bad entry', () => {
  const r = loadConfig({ TRUSTED_CIDRS: '10.0.0.0/8,300.1.2.3/8' });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.errors.join('\n'), /^TRUSTED_CIDRS="10\.0\.0\.0\/8,300\.1\.2\.3\/8": "300\.1\.2\.3\/8" is not an IP address or CIDR network$/m);
  const ok = loadConfig({ TRUSTED_CIDRS: '10.0.0.0/8, ::1' });
  assert.ok(ok.ok);
});
