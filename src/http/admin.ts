// Admin HTTP (docs/architecture.md#operations-surface): liveness, readiness, Prometheus metrics, and in
// spool mode the spool (spool-admin.ts). Never public.
// Readiness is "listeners up and not draining", never the API's health: an API outage must
// give clients a clean 451, not a pod the load balancer has taken out of rotation.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { handleSpool, type SpoolAdminDeps } from './spool-admin.ts';

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

export async function startAdmin(
  host: string,
  port: number,
  registry: Registry,
  isReady: () => boolean,
  spool?: SpoolAdminDeps,
): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    if (spool && handleSpool(spool, req, res, path, new URLSearchParams(query))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health/live') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/health/ready') {
      const ready = isReady();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ready ? 'ready' : 'not ready' }));
    } else if (path === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
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
