// Admin HTTP (docs/architecture.md#operations-surface): liveness, readiness, Prometheus metrics, and in
// spool mode the spool (spool-admin.ts), message traces (messages-admin.ts). Never public. Every request must name an allowed Host;
// everything but health and metrics needs the admin token (admin-auth.ts).
// Readiness is "listeners up and not draining", never the API's health: an API outage must
// give clients a clean 451, not a pod the load balancer has taken out of rotation.
// The same server runs in a single gateway and in the primary of a multi-process one (cluster.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkHost, type AdminAccess } from './admin-auth.ts';
import { handleMessages, type MessagesAdminDeps } from './messages-admin.ts';
import { handleSpool, type SpoolAdminDeps } from './spool-admin.ts';

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

export interface AdminOptions {
  host: string;
  port: number;
  access: AdminAccess;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Ready, and anything worth showing with it (e.g. worker counts). */
  readiness(): { ready: boolean; detail?: Record<string, unknown> };
  spool?: SpoolAdminDeps | undefined;
  /** Message traces (`/messages`); absent where no trace store is reachable. */
  messages?: MessagesAdminDeps | undefined;
}

export async function startAdmin(o: AdminOptions): Promise<AdminServer> {
  const server: Server = createServer((req, res) => route(o, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function route(o: AdminOptions, req: IncomingMessage, res: ServerResponse): void {
  if (!checkHost(o.access, req, res)) return;
  const [path = '/', query = ''] = (req.url ?? '/').split('?');
  if (o.spool && handleSpool(o.spool, o.access, req, res, path, new URLSearchParams(query))) return;
  if (o.messages && handleMessages(o.messages, o.access, req, res, path, new URLSearchParams(query))) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/health/live') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else if (path === '/health/ready') {
    const { ready, detail } = o.readiness();
    res
      .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: ready ? 'ready' : 'not ready', ...detail }));
  } else if (path === '/metrics') {
    o.metrics().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  } else {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  }
}
