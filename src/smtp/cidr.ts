// Client networks and client identity for limits. Parsing and matching are ipaddr.js's (IPv4,
// IPv6, IPv4-mapped IPv6); the rules on top are ours:
//  - an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports) is the
//    IPv4 address, so a client cannot dodge a block or a trust list by changing notation;
//  - per-IP limits count an IPv6 client by its /64: one subscriber usually holds a whole /64,
//    and counting single addresses would give an attacker 2^64 fresh "IPs".
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

export type CidrParse = { ok: true; list: CidrList } | { ok: false; error: string };

export class CidrList {
  readonly #ranges: readonly Range[];

  constructor(ranges: readonly Range[]) {
    this.#ranges = ranges;
  }

  get size(): number {
    return this.#ranges.length;
  }

  /** Whether `ip` (as the socket reports it) lies in one of the networks. */
  matches(ip: string): boolean {
    const addr = parseAddress(ip);
    if (!addr) return false;
    return this.#ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
  }
}

/** Parses `10.0.0.0/8, 2001:db8::/32, 192.0.2.7` (a bare address is a /32 or /128). */
export function parseCidrs(list: string | undefined): CidrParse {
  const ranges: Range[] = [];
  for (const item of (list ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    try {
      const range = item.includes('/') ? ipaddr.parseCIDR(item) : bare(item);
      // "::ffff:10.0.0.0/104" means an IPv4 network: store it as one.
      const [net, bits] = range;
      if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) ranges.push([(net as ipaddr.IPv6).toIPv4Address(), bits - 96]);
      else ranges.push(range);
    } catch {
      return { ok: false, error: `"${item.slice(0, 60)}" is not an IP address or CIDR network` };
    }
  }
  return { ok: true, list: new CidrList(ranges) };
}

/**
 * The key a client is counted under in per-IP limits and blocks: the IPv4 address, or the
 * /64 of an IPv6 address (`2001:db8:1:2::/64`). Anything unparsable is kept as it is.
 */
export function clientKey(ip: string): string {
  const addr = parseAddress(ip);
  if (!addr) return ip;
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}

function parseAddress(ip: string): Address | null {
  try {
    // process(): IPv4-mapped IPv6 becomes IPv4. A zone index (fe80::1%eth0) is dropped.
    return ipaddr.process(ip.replace(/%.*$/, ''));
  } catch {
    return null;
  }
}

function bare(item: string): Range {
  const addr = ipaddr.process(item);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}
