// The PROXY protocol header (HAProxy's specification, versions 1 and 2) that a load balancer
// puts in front of the client's bytes to say who the client is. Only the framing and the
// source address matter here; see docs/security.md for when a header is required or refused.
//
// Version 1 is one text line: `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n`, at
// most 107 bytes with the CRLF. Version 2 is binary: a 12-byte signature, a version/command
// byte, a family/transport byte, a 16-bit length, then the addresses and optional TLVs.
// The parser is pure and incremental: feed it what has arrived, it says whether that is a
// whole header (and how many bytes it took), not yet one, or not one at all.
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

export const V1_PREFIX = Buffer.from('PROXY ', 'ascii');
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 1 line limit from the specification, CRLF included. */
const V1_MAX = 107;
/**
 * Version 2 address block plus TLVs we are willing to buffer. The addresses take at most 216
 * bytes (AF_UNIX); load balancers add a few small TLVs (AWS: the VPC endpoint id).
 */
export const V2_MAX_PAYLOAD = 2048;

export interface ProxyHeader {
  version: 1 | 2;
  /** The client; absent for v1 UNKNOWN, v2 LOCAL (a health check) and non-IP families. */
  source?: { address: string; port: number };
  /** Bytes the header took; what follows belongs to the client. */
  length: number;
}

export type ProxyParse =
  | { kind: 'header'; header: ProxyHeader }
  | { kind: 'incomplete' }
  | { kind: 'not_proxy' }
  | { kind: 'invalid'; reason: string };

/** Whether `buf` begins with a PROXY header of either version (undefined: too short to say). */
export function startsWithProxySignature(buf: Buffer): boolean | undefined {
  const v1 = prefixState(buf, V1_PREFIX);
  const v2 = prefixState(buf, V2_SIGNATURE);
  if (v1 === 'match' || v2 === 'match') return true;
  if (v1 === 'partial' || v2 === 'partial') return undefined;
  return false;
}

export function parseProxyHeader(buf: Buffer): ProxyParse {
  const v1 = prefixState(buf, V1_PREFIX);
  if (v1 === 'match') return parseV1(buf);
  const v2 = prefixState(buf, V2_SIGNATURE);
  if (v2 === 'match') return parseV2(buf);
  if (v1 === 'partial' || v2 === 'partial') return { kind: 'incomplete' };
  return { kind: 'not_proxy' };
}

function prefixState(buf: Buffer, prefix: Buffer): 'match' | 'partial' | 'no' {
  const n = Math.min(buf.length, prefix.length);
  if (buf.compare(prefix, 0, n, 0, n) !== 0) return 'no';
  return n === prefix.length ? 'match' : 'partial';
}

function parseV1(buf: Buffer): ProxyParse {
  const lf = buf.indexOf(0x0a);
  if (lf === -1)
    return buf.length >= V1_MAX
      ? { kind: 'invalid', reason: 'v1 header longer than 107 bytes' }
      : { kind: 'incomplete' };
  if (lf + 1 > V1_MAX) return { kind: 'invalid', reason: 'v1 header longer than 107 bytes' };
  if (buf[lf - 1] !== 0x0d) return { kind: 'invalid', reason: 'v1 header does not end with CRLF' };
  const line = buf.toString('latin1', 0, lf - 1);
  const length = lf + 1;
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { kind: 'header', header: { version: 1, length } };
  if (parts.length !== 6) return { kind: 'invalid', reason: 'v1 header needs protocol, two addresses and two ports' };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const isFamily = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (!isFamily) return { kind: 'invalid', reason: `v1 protocol must be TCP4, TCP6 or UNKNOWN` };
  if (!isFamily(src) || !isFamily(dst)) return { kind: 'invalid', reason: `v1 addresses are not ${proto} addresses` };
  const port = parsePort(sport);
  if (port === undefined || parsePort(dport) === undefined)
    return { kind: 'invalid', reason: 'v1 ports must be 0-65535 without leading zeros' };
  return { kind: 'header', header: { version: 1, source: { address: ipaddr.parse(src).toString(), port }, length } };
}

function parsePort(text: string): number | undefined {
  if (!/^(?:0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12] as number;
  const famProto = buf[13] as number;
  const payload = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `v2 version nibble is ${verCmd >> 4}, not 2` };
  const command = verCmd & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `v2 command ${command} is neither LOCAL nor PROXY` };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family > 3 || transport > 2)
    return { kind: 'invalid', reason: `v2 family/transport byte 0x${famProto.toString(16)} is not defined` };
  if (payload > V2_MAX_PAYLOAD)
    return { kind: 'invalid', reason: `v2 header of ${payload} bytes is over the ${V2_MAX_PAYLOAD}-byte limit` };
  const length = 16 + payload;
  if (buf.length < length) return { kind: 'incomplete' };
  // LOCAL: the balancer's own connection (a health check); the real endpoints apply.
  if (command === 0) return { kind: 'header', header: { version: 2, length } };
  if (transport === 2)
    return { kind: 'invalid', reason: 'v2 header announces a datagram transport on a stream connection' };
  // AF_UNSPEC and AF_UNIX carry no IP client: the connection's own peer address applies.
  if (family !== 1 && family !== 2) return { kind: 'header', header: { version: 2, length } };
  const addrLen = family === 1 ? 4 : 16;
  if (payload < 2 * addrLen + 4)
    return {
      kind: 'invalid',
      reason: `v2 ${family === 1 ? 'IPv4' : 'IPv6'} address block is ${payload} bytes, too short`,
    };
  const address = ipaddr.fromByteArray([...buf.subarray(16, 16 + addrLen)]).toString();
  const port = buf.readUInt16BE(16 + 2 * addrLen);
  return { kind: 'header', header: { version: 2, source: { address, port }, length } };
}

/** Test and tool helper: a v1 header line for a TCP client. */
export function encodeV1(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  return Buffer.from(`PROXY ${isIPv6(src) ? 'TCP6' : 'TCP4'} ${src} ${dst} ${srcPort} ${dstPort}\r\n`, 'latin1');
}

/** Test and tool helper: a v2 PROXY (or LOCAL, without addresses) header, optional TLV bytes. */
export function encodeV2(
  addr?: { src: string; srcPort: number; dst: string; dstPort: number },
  tlvs: Buffer = Buffer.alloc(0),
): Buffer {
  if (!addr) {
    const head = Buffer.from([...V2_SIGNATURE, 0x20, 0x00, 0, 0]);
    head.writeUInt16BE(tlvs.length, 14);
    return Buffer.concat([head, tlvs]);
  }
  const v6 = isIPv6(addr.src);
  const bytes = (ip: string) => Buffer.from(ipaddr.parse(ip).toByteArray());
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(addr.srcPort, 0);
  ports.writeUInt16BE(addr.dstPort, 2);
  const body = Buffer.concat([bytes(addr.src), bytes(addr.dst), ports, tlvs]);
  const head = Buffer.from([...V2_SIGNATURE, 0x21, v6 ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
