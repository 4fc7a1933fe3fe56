// Who may use the admin port (docs/security.md#admin-port). Two checks, one place:
// - the Host header must be an address or a name the operator allows, so a web page cannot reach
//   the port through DNS rebinding (its requests carry the attacker's host name);
// - everything but health and metrics needs `Authorization: Bearer <ADMIN_TOKEN>`. A browser
//   cannot add that header to a cross-site request without a CORS preflight, which this server
//   never grants, so a forged form POST gets nowhere either.
// Endpoints that show envelopes or change mail call requireAdmin() first and stop when it is false.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { isLoopback } from '../config/loopback.ts';

export interface AdminAccess {
  /** ADMIN_TOKEN; unset turns every protected endpoint off (403), whatever the bind address. */
  readonly token: string | undefined;
  /** ADMIN_ALLOWED_HOSTS, lower-cased: names allowed in Host besides IP literals and `localhost`. */
  readonly allowedHosts: readonly string[];
}

export function adminAccess(config: {
  adminToken?: string | undefined;
  adminAllowedHosts: readonly string[];
}): AdminAccess {
  return { token: config.adminToken, allowedHosts: config.adminAllowedHosts.map((h) => h.toLowerCase()) };
}

/**
 * An IP literal is always allowed: DNS rebinding needs a name the attacker controls, and probes
 * and Prometheus address pods by IP. `localhost` resolves locally. Anything else must be listed
 * (exactly, or `.example.com` for every name under it).
 */
export function hostAllowed(access: AdminAccess, hostHeader: string | undefined): boolean {
  // HTTP/1.0 without Host cannot come from a browser.
  if (hostHeader === undefined || hostHeader === '') return true;
  const name = hostName(hostHeader).toLowerCase();
  if (isIP(name) !== 0 || name === 'localhost') return true;
  return access.allowedHosts.some((a) => (a.startsWith('.') ? name.endsWith(a) : name === a));
}

/** Answers 403 and returns false when the Host is not allowed (call before routing). */
export function checkHost(access: AdminAccess, req: IncomingMessage, res: ServerResponse): boolean {
  if (hostAllowed(access, req.headers.host)) return true;
  reply(res, 403, {
    error: `Host '${hostName(req.headers.host ?? '')}' is not allowed on the admin port: use an IP address or localhost, or add the name to ADMIN_ALLOWED_HOSTS`,
  });
  return false;
}

/**
 * The guard of every protected admin endpoint. True: go ahead. False: the request has been
 * answered (403 when ADMIN_TOKEN is unset, 401 when the token is missing or wrong).
 */
export function requireAdmin(access: AdminAccess, req: IncomingMessage, res: ServerResponse): boolean {
  if (access.token === undefined) {
    reply(res, 403, {
      error: 'admin endpoints are off: set ADMIN_TOKEN on the gateway and send Authorization: Bearer <token>',
    });
    return false;
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m?.[1] !== undefined && tokenMatches(access.token, m[1])) return true;
  reply(
    res,
    401,
    { error: 'this admin endpoint needs Authorization: Bearer <ADMIN_TOKEN>' },
    { 'www-authenticate': 'Bearer realm="smtp-gateway-admin"' },
  );
  return false;
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function tokenMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  // A bare IPv6 address (no brackets) has several colons; a name or IPv4 at most one.
  return colon !== -1 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** Said once at start: an admin port others can reach, with its protected endpoints off. */
export function adminStartupWarning(config: {
  adminHost: string;
  adminToken?: string | undefined;
}): string | undefined {
  if (config.adminToken !== undefined || isLoopback(config.adminHost)) return undefined;
  return `ADMIN_HOST=${config.adminHost} is reachable from other machines and ADMIN_TOKEN is unset: the admin port serves health and metrics only; set ADMIN_TOKEN to use the spool endpoints`;
}
