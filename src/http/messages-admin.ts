// `/messages` on the admin port (docs/operations.md, "What happened to a message"): a message's
// trace by any id its reply carried, and a search over the last hour by recipient or
// Message-ID. Traces are personal data: every request needs ADMIN_TOKEN.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveLookup } from '../delivery/live.ts';
import type { TraceStore } from '../trace/store.ts';
import { requireAdmin, type AdminAccess } from './admin-auth.ts';

export interface MessagesAdminDeps {
  traces: TraceStore;
  /** Absent in a multi-process gateway's primary, which holds no logins. */
  live?: LiveLookup | undefined;
  /** How long a `live` lookup may take (ms). */
  liveTimeoutMs: number;
}

/** True when the request was for /messages (and has been answered). */
export function handleMessages(
  d: MessagesAdminDeps,
  access: AdminAccess,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
): boolean {
  if (path !== '/messages' && !path.startsWith('/messages/')) return false;
  if (req.method !== 'GET') {
    send(res, 405, { error: 'method not allowed: GET only' }, { allow: 'GET' });
    return true;
  }
  if (!requireAdmin(access, req, res)) return true;
  void answer(d, path, query).then(
    ([status, body]) => send(res, status, body),
    (err: Error) => send(res, 500, { error: err.message }),
  );
  return true;
}

async function answer(d: MessagesAdminDeps, path: string, query: URLSearchParams): Promise<[number, unknown]> {
  if (path === '/messages') {
    const recipient = query.get('recipient') ?? undefined;
    const messageId = query.get('message_id') ?? undefined;
    if (!recipient === !messageId)
      return [400, { error: 'give exactly one of ?recipient=<address> or ?message_id=<Message-ID>' }];
    const found = await d.traces.search(recipient ? { recipient } : { messageId: messageId! });
    return [200, { window: 'last hour', messages: found }];
  }
  let id: string;
  try {
    id = decodeURIComponent(path.slice('/messages/'.length));
  } catch {
    return [400, { error: 'malformed id' }];
  }
  const record = await d.traces.get(id);
  if (!record) return [404, { error: `no trace for ${id} (unknown, or older than TRACE_TTL_S)` }];
  if (query.get('live') !== '1' && query.get('live') !== 'true') return [200, record];
  const live = d.live
    ? await d.live.lookup(record, AbortSignal.timeout(d.liveTimeoutMs))
    : { ok: false, reason: 'this process handles no messages itself (WORKERS > 1): live status is not available here' };
  return [200, { ...record, live }];
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
    .end(JSON.stringify(body));
}
