// Client addresses and CIDR lists (TRUSTED_CIDRS, PROXY_PROTOCOL_CIDRS). Parsing and matching
// are ipaddr.js's; this file only fixes our conventions: an IPv4 client of a dual-stack
// listener (`::ffff:a.b.c.d`) is the IPv4 address, IPv6 is written in RFC 5952 form, and an
// IPv6 client is counted per /64 (one host usually holds a whole /64, so a per-address cap
// would cost an attacker nothing).
import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The canonical text of an IP address: IPv4-mapped IPv6 as IPv4, IPv6 in RFC 5952 form. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  try {
    return ipaddr.process(address).toString();
  } catch {
    return address.toLowerCase();
  }
}

/** The key a per-client limit counts under: the address for IPv4, its /64 for IPv6. */
export function clientKey(address: string): string {
  try {
    const ip = ipaddr.process(address);
    if (ip.kind() === 'ipv4') return ip.toString();
    const parts = (ip as ipaddr.IPv6).parts.slice(0, 4);
    return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
  } catch {
    return address;
  }
}

/**
 * The network a per-prefix limit counts under: the address's first `v4Bits` (IPv4) or
 * `v6Bits` (IPv6) bits, written as a CIDR. Many addresses of one network are usually one party
 * (a hosting provider's /24, a site's /48), which a per-address cap does not see.
 */
export function prefixKey(address: string, v4Bits: number, v6Bits: number): string {
  try {
    const ip = ipaddr.process(address);
    const bits = ip.kind() === 'ipv4' ? v4Bits : v6Bits;
    const bytes = ip.toByteArray();
    for (let i = 0; i < bytes.length; i++) {
      const keep = Math.max(0, Math.min(8, bits - i * 8));
      bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
    }
    return `${ipaddr.fromByteArray(bytes).toString()}/${bits}`;
  } catch {
    return address;
  }
}

/**
 * Parses a comma-separated list of CIDRs (`10.0.0.0/8, 2001:db8::/32`); a bare address is a
 * single host. Returns the canonical entries, or the entries that are not valid.
 */
export function parseCidrList(
  text: string | undefined,
): { ok: true; cidrs: string[] } | { ok: false; invalid: string[] } {
  const entries = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const cidrs: string[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    const range = parseRange(entry);
    if (range) cidrs.push(`${range[0].toString()}/${range[1]}`);
    else invalid.push(entry);
  }
  return invalid.length ? { ok: false, invalid } : { ok: true, cidrs };
}

function parseRange(entry: string): Range | undefined {
  const withPrefix = entry.includes('/') ? entry : `${entry}/${entry.includes(':') ? 128 : 32}`;
  // ipaddr.js also reads the legacy IPv4 forms (hex, octal, fewer than four parts); an
  // operator's list should mean what it plainly says, so only dotted-quad decimal is taken.
  if (ipaddr.IPv4.isValidCIDRFourPartDecimal(withPrefix)) return ipaddr.IPv4.parseCIDR(withPrefix);
  if (ipaddr.IPv6.isValidCIDR(withPrefix)) {
    const [ip, bits] = ipaddr.IPv6.parseCIDR(withPrefix);
    // `::ffff:10.0.0.0/104` is an IPv4 range in IPv6 dress; peers are matched as IPv4.
    if (ip.isIPv4MappedAddress() && bits >= 96) return [ip.toIPv4Address(), bits - 96];
    return [ip, bits];
  }
  return undefined;
}

/** A matcher for a list of canonical CIDRs (as parseCidrList returns them). */
export type CidrMatcher = (address: string) => boolean;

export function cidrMatcher(cidrs: readonly string[]): CidrMatcher {
  const ranges = cidrs.map((c) => parseRange(c)).filter((r): r is Range => r !== undefined);
  if (ranges.length === 0) return () => false;
  return (address) => {
    let ip: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      ip = ipaddr.process(address);
    } catch {
      return false;
    }
    return ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
  };
}
