// The embedded Cakemail API sandbox (docs/architecture.md#the-sandbox): one node:http server that routes to the
// API (api.ts), its own control surface (admin.ts) and the web inbox (inbox.ts), and applies
// injected faults (faults.ts) between reading a request and answering it.
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SubmitEmail } from '../cakemail/types.ts';
import { handleAdmin } from './admin.ts';
import { createApi } from './api.ts';
import { RequestCounters } from './counters.ts';
import { FaultController, faultBody, type Fault } from './faults.ts';
import { detailError, json, mediaType, readBody, send, type HttpResult } from './http.ts';
import { renderEmail, renderInbox } from './inbox.ts';
import { EmailStore } from './store.ts';
import { Passwords } from './passwords.ts';
import { recordTestMessage, type TestMessage } from './test-mode.ts';
import { TokenStore } from './tokens.ts';

export interface SandboxOptions {
  host: string;
  port: number;
  maxEmails: number;
  /** Lifetime of access tokens from `/token`; default 432000 (5 days, as observed on the real API). */
  tokenTtlSeconds?: number;
  /** Request body limit; larger bodies get 413. Default 64 MiB. */
  maxBodyBytes?: number;
  logger?: Logger;
}

export interface ReceivedEmail {
  id: string;
  receivedAt: string;
  accountId: number;
  /** Exactly the JSON received. */
  payload: SubmitEmail;
  status: 'queued' | 'not_sent_test_mode';
  answerLost?: string;
}

export interface Sandbox {
  /** Base URL, with the real bound port when `port` was 0. */
  url: string;
  /** Newest first. */
  emails(): ReceivedEmail[];
  /** Shows a gateway test-mode message in the inbox (src/sandbox/test-mode.ts). */
  recordTestMessage(record: TestMessage): void;
  close(): Promise<void>;
}

export const DEFAULT_TOKEN_TTL_SECONDS = 432_000;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

const INBOX_EMAIL_PATH = /^\/emails\/([0-9a-f-]{36})$/;

export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const tokenTtl = opts.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(tokenTtl) || tokenTtl < 1)
    throw new RangeError(`tokenTtlSeconds must be a positive integer, got ${tokenTtl}`);
  if (!Number.isSafeInteger(maxBody) || maxBody < 1)
    throw new RangeError(`maxBodyBytes must be a positive integer, got ${maxBody}`);

  const store = new EmailStore(opts.maxEmails);
  const tokens = new TokenStore(tokenTtl);
  const counters = new RequestCounters();
  const faults = new FaultController();
  const passwords = new Passwords();
  const api = createApi({ tokens, store, passwords });
  const logger = opts.logger;
  /** Aborted by close(): ends injected latencies so nothing outlives the sandbox. */
  const lifetime = new AbortController();

  const log = (req: IncomingMessage, path: string, status: number | string): void => {
    logger?.debug({ method: req.method, path, status }, 'sandbox request');
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));

    const finish = (result: HttpResult): void => {
      send(res, result);
      log(req, path, result.status);
    };

    if (path === '/_sandbox' || path.startsWith('/_sandbox/')) {
      const body = await readBody(req, maxBody);
      if (!body.ok) return body.reason === 'too_large' ? finish(tooLarge(maxBody)) : log(req, path, 'aborted');
      return finish(
        handleAdmin({ store, counters, faults, passwords, tokens }, { method, path, body: body.body, query }),
      );
    }
    if (method === 'GET' && path === '/') return finish(renderInbox(store.list(), query.get('q')));
    const inboxMatch = method === 'GET' ? INBOX_EMAIL_PATH.exec(path) : null;
    if (inboxMatch) return finish(renderEmail(store.get(inboxMatch[1]!)));

    // Everything else is the Cakemail API: counted, then possibly faulted.
    counters.hit(method, path);
    const fault = faults.take(path);
    if (fault?.mode === 'reset_before_read') {
      req.socket.resetAndDestroy();
      return log(req, path, 'reset_before_read');
    }
    const body = await readBody(req, maxBody);
    if (!body.ok) return body.reason === 'too_large' ? finish(tooLarge(maxBody)) : log(req, path, 'aborted');

    const processRequest = (answerLost?: string): HttpResult =>
      api({
        method,
        path,
        query,
        authorization: req.headers.authorization,
        mediaType: mediaType(req),
        body: body.body,
        ...(answerLost ? { answerLost } : {}),
      });

    if (!fault) return finish(processRequest());
    if (fault.latencyMs > 0) {
      try {
        await sleep(fault.latencyMs, undefined, { signal: lifetime.signal });
      } catch {
        return; // the sandbox is closing
      }
    }
    switch (fault.mode) {
      case 'respond':
        // Latency alone slows a normal answer; the request is still processed even if the client gave up.
        if (fault.status !== undefined) return finish(injected(fault));
        return finish(processRequest(req.socket.destroyed ? 'client_gone' : undefined));
      case 'reset_after_read':
        req.socket.resetAndDestroy();
        return log(req, path, 'reset_after_read');
      case 'hang_before_commit':
        return log(req, path, 'hang_before_commit');
      case 'commit_then_hang':
        processRequest(fault.mode);
        return log(req, path, 'commit_then_hang');
      case 'commit_then_reset':
        processRequest(fault.mode);
        req.socket.resetAndDestroy();
        return log(req, path, 'commit_then_reset');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'sandbox handler failed');
      if (!res.headersSent) send(res, detailError(500, 'internal_error', 'Internal Server Error'));
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger?.info({ url }, 'cakemail sandbox listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    emails: () => store.list().map((e) => ({ ...e })),
    recordTestMessage: (record) => recordTestMessage(store, record),
    close() {
      closing ??= new Promise<void>((resolve) => {
        lifetime.abort();
        server.close(() => resolve());
        // Keep-alive and deliberately hung sockets would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function tooLarge(limit: number): HttpResult {
  return detailError(413, 'payload_too_large', `Request body exceeds ${limit} bytes`, {}, { Connection: 'close' });
}

function injected(fault: Fault): HttpResult {
  const status = fault.status!;
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) headers['Retry-After'] = fault.retryAfter;
  return json(
    status,
    fault.body !== undefined ? fault.body : faultBody(status, STATUS_CODES[status] ?? 'Error'),
    headers,
  );
}
