// Small HTTP helpers shared by the sandbox's API, admin and inbox handlers. Handlers return an
// HttpResult value instead of writing to the response, so the server can decide to send it,
// hold it (commit_then_hang) or drop the socket (commit_then_reset).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorDetail } from '../cakemail/types.ts';

export interface HttpResult {
  status: number;
  headers?: Record<string, string>;
  /** Serialised as JSON unless `body` is set. */
  json?: unknown;
  body?: string | Buffer;
}

/** A pydantic validation item (docs/cakemail-api.md §5, `ValidationError`); `ctx` as pydantic adds it. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
  ctx?: Record<string, unknown>;
}

export function json(status: number, value: unknown, headers?: Record<string, string>): HttpResult {
  return headers ? { status, json: value, headers } : { status, json: value };
}

/** `{"detail": [ {type, msg, ...} ]}`: the error family of every documented status. */
export function detailError(
  status: number,
  type: string,
  msg: string,
  extra: Partial<ErrorDetail> = {},
  headers?: Record<string, string>,
): HttpResult {
  return json(status, { detail: [{ type, msg, ...extra }] }, headers);
}

export function unauthorized(msg: string): HttpResult {
  return detailError(401, 'unauthorized', msg, {}, { 'WWW-Authenticate': 'Bearer' });
}

export function badRequest(msg: string, extra: Partial<ErrorDetail> = {}): HttpResult {
  return detailError(400, 'bad_request', msg, extra);
}

/** Cakemail answers a forbidden `account_id` with 400 and code 8004 (docs/cakemail-api.md §2.5). */
export function accountDenied(): HttpResult {
  return badRequest('Access denied to the requested account', { code: 8004 });
}

export function validationError(issues: ValidationIssue[]): HttpResult {
  return json(422, { detail: issues });
}

/** FastAPI's own answers for unknown routes use a plain-string `detail` (§5: parsers must accept both). */
export function notFound(): HttpResult {
  return json(404, { detail: 'Not Found' });
}

export function methodNotAllowed(): HttpResult {
  return json(405, { detail: 'Method Not Allowed' });
}

export type BodyRead = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'aborted' };

/**
 * Reads the whole body, refusing more than `limit` bytes. Past the limit the rest is drained
 * (bounded) and discarded, so the 413 reaches a client that is still uploading instead of a reset.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    const drainCap = limit + 64 * 1024 * 1024;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (size > drainCap) req.socket.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(tooLarge ? { ok: false, reason: 'too_large' } : { ok: true, body: Buffer.concat(chunks) }),
    );
    req.on('error', () => resolve({ ok: false, reason: 'aborted' }));
    req.on('close', () => {
      if (!req.complete) resolve({ ok: false, reason: 'aborted' });
    });
  });
}

export function send(res: ServerResponse, result: HttpResult): void {
  if (res.destroyed || res.headersSent) return;
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', ...result.headers };
  let payload: string | Buffer;
  if (result.body !== undefined) {
    payload = result.body;
  } else if (result.json !== undefined) {
    payload = JSON.stringify(result.json);
    headers['Content-Type'] ??= 'application/json';
  } else {
    payload = '';
  }
  headers['Content-Length'] = String(Buffer.byteLength(payload));
  res.writeHead(result.status, headers);
  res.end(payload);
}

/** Media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}
