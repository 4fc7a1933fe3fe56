// The spool on the admin port (docs/operations.md#spool-mode), the same operations as the
// `smtp-gateway spool` commands: list, show, retry, drop. These endpoints show envelope addresses
// and can remove mail, so every one of them needs the admin token (admin-auth.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requireAdmin, type AdminAccess } from './admin-auth.ts';
import { isSpoolId, type SpoolBackend } from '../spool/backend.ts';
import { dropDeadLetters } from '../spool/dead-letters.ts';

export interface SpoolAdminDeps {
  backend: SpoolBackend;
  /** After a retry or a drop: wake the workers, refresh the gauges. */
  changed(): void;
}

/** Handles `/spool…`; false when the path is not one of these. */
export function handleSpool(
  d: SpoolAdminDeps,
  access: AdminAccess,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
): boolean {
  if (path !== '/spool' && !path.startsWith('/spool/')) return false;
  if (!requireAdmin(access, req, res)) return true;
  void route(d, req.method ?? 'GET', path, query).then(
    ({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
    (err: Error) =>
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message })),
  );
  return true;
}

async function route(
  d: SpoolAdminDeps,
  method: string,
  path: string,
  query: URLSearchParams,
): Promise<{ status: number; body: unknown }> {
  const b = d.backend;
  if (path === '/spool') {
    if (method !== 'GET') return notAllowed('GET');
    const dead = query.get('dead');
    return { status: 200, body: await b.list(dead === '1' || dead === 'true' ? { dead: true } : {}) };
  }
  if (path === '/spool/quarantined') {
    if (method !== 'GET') return notAllowed('GET');
    return { status: 200, body: await b.quarantined() };
  }
  if (path === '/spool/drop-dead') {
    if (method !== 'POST') return notAllowed('POST');
    const ids = await dropDeadLetters(b);
    if (ids.length > 0) d.changed();
    return { status: 200, body: { dropped: ids } };
  }
  if (path === '/spool/retry-dead') {
    if (method !== 'POST') return notAllowed('POST');
    const ids = await b.retry({ allDead: true });
    if (ids.length > 0) d.changed();
    return { status: 200, body: { retried: ids } };
  }
  const m = /^\/spool\/([^/]+)(\/retry)?$/.exec(path);
  const id = m?.[1] ?? '';
  if (!m || !isSpoolId(id)) return { status: 404, body: { error: 'not found' } };
  if (m[2]) {
    if (method !== 'POST') return notAllowed('POST');
    const ids = await b.retry({ id });
    if (ids.length === 0) return { status: 404, body: { error: `no spooled message ${id} to retry` } };
    d.changed();
    return { status: 200, body: { retried: ids } };
  }
  if (method === 'GET') {
    const entry = await b.get(id);
    return entry ? { status: 200, body: entry } : { status: 404, body: { error: `no spooled message ${id}` } };
  }
  if (method === 'DELETE') {
    if (!(await b.drop(id))) return { status: 404, body: { error: `no spooled message ${id}` } };
    d.changed();
    return { status: 200, body: { dropped: id } };
  }
  return notAllowed('GET, DELETE');
}

function notAllowed(allow: string): { status: number; body: unknown } {
  return { status: 405, body: { error: `method not allowed (allowed: ${allow})` } };
}
