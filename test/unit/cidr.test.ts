// CIDR lists (TRUSTED_CIDRS, PROXY_PROTOCOL_CIDRS) and the key per-client limits count under.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrMatcher, clientKey, normalizeIp, parseCidrList } from '../../src/lib/cidr.ts';
import { loadConfig } from '../../src/config/load.ts';

test('CIDR lists: IPv4 and IPv6, bare addresses are one host, entries canonical', () => {
  assert.deepEqual(parseCidrList(' 10.0.0.0/8, 2001:DB8::/32 ,192.0.2.7,::1'), {
    ok: true,
    cidrs: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/32', '::1/128'],
  });
  assert.deepEqual(parseCidrList(undefined), { ok: true, cidrs: [] });
  assert.deepEqual(parseCidrList('10.0.0.0/33, 0x0a.0.0.0/8, example.com, 10.0.0.0/8'), {
    ok: false,
    invalid: ['10.0.0.0/33', '0x0a.0.0.0/8', 'example.com'],
  });
});

test('matching: IPv4 peers of a dual-stack listener match IPv4 entries; families never cross', () => {
  const m = cidrMatcher(['10.0.0.0/8', '2001:db8::/32', '::ffff:192.0.2.0/120']);
  assert.equal(m('10.1.2.3'), true);
  assert.equal(m('::ffff:10.1.2.3'), true);
  assert.equal(m('11.0.0.1'), false);
  assert.equal(m('2001:db8:1::5'), true);
  assert.equal(m('2001:db9::5'), false);
  assert.equal(m('192.0.2.9'), true, 'an IPv4-mapped range is an IPv4 range');
  assert.equal(m('not an ip'), false);
  assert.equal(cidrMatcher([])('10.0.0.1'), false);
});

test('client keys: IPv4 per address, IPv6 per /64', () => {
  assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(normalizeIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2:bbbb::9'), clientKey('2001:db8:1:2:aaaa::1'));
});

test('configuration: TRUSTED_CIDRS and PROXY_PROTOCOL_CIDRS are validated lists, empty by default', () => {
  const d = loadConfig({});
  assert.ok(d.ok);
  assert.deepEqual(d.config.trustedCidrs, []);
  assert.deepEqual(d.config.proxyProtocolCidrs, []);
  const ok = loadConfig({ TRUSTED_CIDRS: '10.0.0.0/8,fd00::/8', PROXY_PROTOCOL_CIDRS: '192.0.2.10' });
  assert.ok(ok.ok);
  assert.deepEqual(ok.config.trustedCidrs, ['10.0.0.0/8', 'fd00::/8']);
  assert.deepEqual(ok.config.proxyProtocolCidrs, ['192.0.2.10/32']);
  const bad = loadConfig({ TRUSTED_CIDRS: '10.0.0.0/8,nope' });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.errors.join('\n'), /TRUSTED_CIDRS="10.0.0.0\/8,nope": not a CIDR: nope/);
});
