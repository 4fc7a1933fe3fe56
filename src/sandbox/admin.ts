// The sandbox's own control surface under /_sandbox (no auth: it is a local test tool): received
// emails, their attachments, request counters, fault injection and the seed users' passwords. None of it exists in the
// real API, so none of it is counted or faulted.
import type { RequestCounters } from './counters.ts';
import { parseFaults, type FaultController } from './faults.ts';
import { json, type HttpResult } from './http.ts';
import type { Passwords } from './passwords.ts';
import { SEED_USERS } from './seed.ts';
import type { EmailStore } from './store.ts';
import type { TokenStore } from './tokens.ts';
import { search } from './search.ts';
import { attachmentsOf } from './validate.ts';

export interface AdminDeps {
  store: EmailStore;
  counters: RequestCounters;
  faults: FaultController;
  passwords: Passwords;
  tokens: TokenStore;
}

export interface AdminRequest {
  method: string;
  path: string;
  body: Buffer;
  query?: URLSearchParams;
}

/** Safe media types for the nine attachment types; anything else is served as octet-stream. */
const MEDIA_TYPES: Record<string, string> = {
  csv: 'text/csv; charset=utf-8',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  calendar: 'text/calendar; charset=utf-8',
  jpeg: 'image/jpeg',
  pdf: 'application/pdf',
  png: 'image/png',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

const PASSWORD_PATH = /^\/_sandbox\/users\/([^/]{1,254})\/password$/;
const EMAIL_PATH = /^\/_sandbox\/emails\/([0-9a-f-]{36})$/;
const ATTACHMENT_PATH = /^\/_sandbox\/emails\/([0-9a-f-]{36})\/attachments\/(\d{1,6})$/;

function adminError(status: number, msg: string, errors?: string[]): HttpResult {
  return json(status, errors ? { error: msg, errors } : { error: msg });
}

const noContent: HttpResult = { status: 204 };
const notAllowed = (): HttpResult => adminError(405, 'method not allowed');

export function handleAdmin(deps: AdminDeps, req: AdminRequest): HttpResult {
  const { method, path } = req;
  switch (path) {
    case '/_sandbox/emails':
      if (method === 'GET') return json(200, search(deps.store.list(), req.query?.get('q') ?? null));
      if (method === 'DELETE') {
        deps.store.clear();
        return noContent;
      }
      return notAllowed();
    case '/_sandbox/requests':
      if (method === 'GET') return json(200, deps.counters.snapshot());
      if (method === 'DELETE') {
        deps.counters.reset();
        return noContent;
      }
      return notAllowed();
    case '/_sandbox/users':
      // Every password back to the seed's.
      if (method === 'DELETE') {
        deps.passwords.reset();
        return noContent;
      }
      return notAllowed();
    case '/_sandbox/faults':
      if (method === 'GET') return json(200, { faults: deps.faults.list() });
      if (method === 'DELETE') {
        deps.faults.clear();
        return noContent;
      }
      if (method === 'POST') return setFaults(deps, req.body);
      return notAllowed();
  }
  const pw = PASSWORD_PATH.exec(path);
  if (pw) return changePassword(deps, method, decodeURIComponent(pw[1]!).toLowerCase(), req.body);
  const one = EMAIL_PATH.exec(path);
  if (one) {
    if (method === 'DELETE') return deps.store.delete(one[1]!) ? noContent : adminError(404, 'no such email');
    if (method !== 'GET') return notAllowed();
    const email = deps.store.get(one[1]!);
    return email ? json(200, email) : adminError(404, 'no such email');
  }
  const att = ATTACHMENT_PATH.exec(path);
  if (att) {
    if (method !== 'GET') return notAllowed();
    const email = deps.store.get(att[1]!);
    const attachment = email ? attachmentsOf(email.payload)[Number(att[2])] : undefined;
    if (!attachment) return adminError(404, 'no such attachment');
    return {
      status: 200,
      headers: {
        'Content-Type': MEDIA_TYPES[attachment.type] ?? 'application/octet-stream',
        // The filename passed the API's pattern ([A-Za-z0-9_-]+.ext), so it needs no quoting rules.
        'Content-Disposition': `attachment; filename="${attachment.filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "sandbox; default-src 'none'",
      },
      body: Buffer.from(attachment.content, 'base64'),
    };
  }
  return adminError(404, 'unknown sandbox path');
}

function setFaults(deps: AdminDeps, body: Buffer): HttpResult {
  let input: unknown;
  try {
    input = JSON.parse(body.toString('utf8'));
  } catch {
    return adminError(400, 'body must be JSON: one fault object or an array of them');
  }
  const parsed = parseFaults(input);
  if (!parsed.ok) return adminError(400, 'invalid fault', parsed.errors);
  deps.faults.set(parsed.faults);
  return json(200, { faults: deps.faults.list() });
}

/**
 * PUT {"password": "...", "revokeTokens": false}: the user's password is now that one.
 * DELETE (optionally {"revokeTokens": true}): no password works any more (a disabled login).
 * Tokens already issued keep working unless `revokeTokens` is true: whether Cakemail revokes
 * them on a password change is unknown, so by default the sandbox does not.
 */
function changePassword(deps: AdminDeps, method: string, username: string, body: Buffer): HttpResult {
  if (method !== 'PUT' && method !== 'DELETE') return notAllowed();
  let input: { password?: unknown; revokeTokens?: unknown } = {};
  if (body.length > 0) {
    try {
      input = JSON.parse(body.toString('utf8')) as typeof input;
    } catch {
      return adminError(400, 'body must be JSON: {"password": "...", "revokeTokens": false}');
    }
  }
  if (method === 'PUT' && (typeof input.password !== 'string' || input.password.length === 0))
    return adminError(400, 'password must be a non-empty string');
  if (input.revokeTokens !== undefined && typeof input.revokeTokens !== 'boolean')
    return adminError(400, 'revokeTokens must be true or false');
  const password = method === 'PUT' ? (input.password as string) : null;
  if (!deps.passwords.set(username, password)) return adminError(404, 'no such user');
  const user = SEED_USERS.find((u) => u.username === username);
  if (input.revokeTokens === true && user) deps.tokens.revokeUser(user.id);
  return noContent;
}
