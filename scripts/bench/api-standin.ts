// A minimal stand-in for the Cakemail API for throughput runs: /token, the senders list and
// POST /v2/emails answered `201 queued` after a fixed latency (20 ms by default), with a count of
// every call so a run can check the exact number of API calls. The strict sandbox
// (src/sandbox/) validates every field against the contract, which is right for tests and costs
// CPU that the benchmark would otherwise charge to the machine the gateway shares; this stand-in
// only parses the JSON and checks the fields the gateway must always send.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApiStandin {
  url: string;
  counts(): { emails: number; tokens: number; senders: number; invalid: number };
  reset(): void;
  close(): Promise<void>;
}

const SENDERS = JSON.stringify({
  pagination: { page: 1, per_page: 50, count: 1 },
  data: [{ id: '1', name: 'Demo', email: 'demo@example.com', confirmed: true }],
});

export async function startApiStandin(
  opts: { host?: string; port?: number; latencyMs?: number } = {},
): Promise<ApiStandin> {
  const latencyMs = opts.latencyMs ?? 20;
  const counts = { emails: 0, tokens: 0, senders: 0, invalid: 0 };
  let nextId = 0;
  const json = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    void (async () => {
      if (req.method === 'POST' && path === '/v2/emails') {
        const body = await readBody(req);
        let ok: boolean;
        try {
          const e = JSON.parse(body) as { email?: unknown; sender?: { id?: unknown }; content?: { subject?: unknown } };
          ok =
            typeof e.email === 'string' && typeof e.sender?.id === 'string' && typeof e.content?.subject === 'string';
        } catch {
          ok = false;
        }
        if (!ok || !String(req.headers.authorization ?? '').startsWith('Bearer ')) {
          counts.invalid++;
          return json(
            res,
            422,
            JSON.stringify({ detail: [{ type: 'invalid', msg: 'email, sender.id and content.subject are required' }] }),
          );
        }
        counts.emails++;
        const id = `standin-${++nextId}`;
        setTimeout(
          () =>
            json(res, 201, `{"email":"x","object":"email","submitted":true,"data":{"id":"${id}","status":"queued"}}`),
          latencyMs,
        );
      } else if (req.method === 'POST' && path === '/token') {
        await readBody(req);
        counts.tokens++;
        json(
          res,
          200,
          JSON.stringify({
            access_token: 'standin-token',
            token_type: 'bearer',
            expires_in: 3600,
            refresh_token: 'standin-refresh',
            accounts: [1],
          }),
        );
      } else if (req.method === 'GET' && path === '/brands/default/senders') {
        counts.senders++;
        json(res, 200, SENDERS);
      } else if (path === '/_standin/counts') {
        if (req.method === 'DELETE') Object.assign(counts, { emails: 0, tokens: 0, senders: 0, invalid: 0 });
        json(res, 200, JSON.stringify(counts));
      } else {
        json(res, 404, '{"detail":[{"msg":"not found"}]}');
      }
    })().catch(() => res.destroy());
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts }),
    reset: () => Object.assign(counts, { emails: 0, tokens: 0, senders: 0, invalid: 0 }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
