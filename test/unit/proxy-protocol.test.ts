// The PROXY protocol parser against the HAProxy specification's v1 and v2 formats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  V2_MAX_PAYLOAD,
  V2_SIGNATURE,
  encodeV1,
  encodeV2,
  parseProxyHeader,
  startsWithProxySignature,
} from '../../src/smtp/proxy-protocol.ts';

const header = (buf: Buffer) => {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, 'header', JSON.stringify(r));
  return (r as Extract<typeof r, { kind: 'header' }>).header;
};
const invalid = (buf: Buffer) => {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, 'invalid', `expected invalid for ${JSON.stringify(buf.toString('latin1'))}`);
  return (r as Extract<typeof r, { kind: 'invalid' }>).reason;
};

test('v1 TCP4 and TCP6: client address and port, header length, what follows is left alone', () => {
  const v4 = Buffer.concat([encodeV1('203.0.113.7', 51234, '10.0.0.5', 587), Buffer.from('EHLO x\r\n')]);
  assert.deepEqual(header(v4), {
    version: 1,
    source: { address: '203.0.113.7', port: 51234 },
    length: 'PROXY TCP4 203.0.113.7 10.0.0.5 51234 587\r\n'.length,
  });
  const v6 = header(Buffer.from('PROXY TCP6 2001:DB8:0:0::7 2001:db8::1 65535 465\r\n'));
  assert.deepEqual(v6.source, { address: '2001:db8::7', port: 65535 });
});

test('v1 UNKNOWN: a header without a client (the peer address applies)', () => {
  assert.deepEqual(header(Buffer.from('PROXY UNKNOWN\r\n')), { version: 1, length: 15 });
  assert.equal(header(Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n')).source, undefined);
});

test('v1 malformed headers are invalid, with a reason', () => {
  for (const line of [
    'PROXY TCP4 203.0.113.7 10.0.0.5 51234\r\n', // a port missing
    'PROXY TCP4 203.0.113.7  10.0.0.5 51234 587\r\n', // double space
    'PROXY TCP5 203.0.113.7 10.0.0.5 51234 587\r\n',
    'PROXY TCP4 2001:db8::7 10.0.0.5 51234 587\r\n', // family mismatch
    'PROXY TCP6 203.0.113.7 2001:db8::1 51234 587\r\n',
    'PROXY TCP4 203.0.113.999 10.0.0.5 51234 587\r\n',
    'PROXY TCP4 203.0.113.7 10.0.0.5 65536 587\r\n',
    'PROXY TCP4 203.0.113.7 10.0.0.5 0587 587\r\n', // leading zero
    'PROXY TCP4 203.0.113.7 10.0.0.5 51234 587\n', // LF without CR
    'PROXY TCP4 1.2.3.4\r\n1.2.3.4 1 2\r\n',
  ]) {
    assert.ok(invalid(Buffer.from(line, 'latin1')).length > 0);
  }
  assert.match(invalid(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), /107/);
});

test('v1 is incremental: a partial line waits, every split point gives the same result', () => {
  const full = encodeV1('198.51.100.1', 40000, '192.0.2.1', 25);
  for (let i = 0; i < full.length; i++)
    assert.equal(parseProxyHeader(full.subarray(0, i)).kind, 'incomplete', `prefix ${i}`);
  assert.equal(header(full).source?.address, '198.51.100.1');
});

test('v2 PROXY over IPv4 and IPv6, with TLVs, and what follows is not consumed', () => {
  const v4 = encodeV2({ src: '203.0.113.7', srcPort: 51234, dst: '10.0.0.5', dstPort: 465 });
  assert.equal(v4.length, 28);
  assert.deepEqual(header(Buffer.concat([v4, Buffer.from([0x16, 0x03, 0x01])])), {
    version: 2,
    source: { address: '203.0.113.7', port: 51234 },
    length: 28,
  });
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP "abc"
  const v6 = encodeV2({ src: '2001:db8::7', srcPort: 1, dst: '2001:db8::1', dstPort: 587 }, tlv);
  assert.deepEqual(header(v6), { version: 2, source: { address: '2001:db8::7', port: 1 }, length: 16 + 36 + 6 });
});

test('v2 LOCAL (a health check) and AF_UNSPEC carry no client', () => {
  assert.deepEqual(header(encodeV2()), { version: 2, length: 16 });
  const unspec = Buffer.from([...V2_SIGNATURE, 0x21, 0x00, 0, 0]);
  assert.equal(header(unspec).source, undefined);
});

test('v2 is incremental and refuses bad versions, commands, families, datagrams, short blocks and oversize', () => {
  const full = encodeV2({ src: '2001:db8::7', srcPort: 1, dst: '2001:db8::1', dstPort: 587 });
  for (let i = 0; i < full.length; i++)
    assert.equal(parseProxyHeader(full.subarray(0, i)).kind, 'incomplete', `prefix ${i}`);
  const withByte = (at: number, value: number) => {
    const b = Buffer.from(full);
    b[at] = value;
    return b;
  };
  assert.match(invalid(withByte(12, 0x11)), /version/);
  assert.match(invalid(withByte(12, 0x22)), /command/);
  assert.match(invalid(withByte(13, 0x41)), /family/);
  assert.match(invalid(withByte(13, 0x22)), /datagram/);
  const short = Buffer.from([...V2_SIGNATURE, 0x21, 0x11, 0, 4, 1, 2, 3, 4]);
  assert.match(invalid(short), /too short/);
  const huge = Buffer.from([...V2_SIGNATURE, 0x21, 0x11, 0, 0]);
  huge.writeUInt16BE(V2_MAX_PAYLOAD + 1, 14);
  assert.match(invalid(huge), /limit/);
});

test('anything else is not a PROXY header; the signature check decides as soon as it can', () => {
  assert.equal(parseProxyHeader(Buffer.from('EHLO client.example\r\n')).kind, 'not_proxy');
  assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01, 0x00])).kind, 'not_proxy');
  assert.equal(parseProxyHeader(Buffer.from('PROXYX')).kind, 'not_proxy');
  assert.equal(startsWithProxySignature(Buffer.from('PRO')), undefined);
  assert.equal(startsWithProxySignature(Buffer.from('\r\n\r\n')), undefined);
  assert.equal(startsWithProxySignature(Buffer.from('PROXY ')), true);
  assert.equal(startsWithProxySignature(V2_SIGNATURE), true);
  assert.equal(startsWithProxySignature(Buffer.from('EHLO')), false);
  assert.equal(startsWithProxySignature(Buffer.from('\r\n\r\nX')), false);
});
