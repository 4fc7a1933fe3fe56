// Whether a bind address only reaches this machine: decides whether the embedded sandbox may
// start without being asked for (its demo login is published) and what the start-up says about
// the admin port.
import { isIP } from 'node:net';

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}
