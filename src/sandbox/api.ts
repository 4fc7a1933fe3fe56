// The Cakemail API endpoints the gateway calls (docs/cakemail-api.md §2, §3, §7), answered the way the
// real API does: `/token` (both grants), the senders list, `POST /v2/emails`. Handlers are
// synchronous functions from a read request to an HttpResult; transport concerns (body limits,
// faults, logging) live in server.ts.
import { randomUUID } from 'node:crypto';
import type { SubmitEmailResponse } from '../cakemail/types.ts';
import {
  accountDenied,
  detailError,
  json,
  methodNotAllowed,
  notFound,
  unauthorized,
  validationError,
  type HttpResult,
  type ValidationIssue,
} from './http.ts';
import { emailLogs } from './logs.ts';
import type { Passwords } from './passwords.ts';
import { BOUNCE_DOMAIN, REJECTED_DOMAIN, SEED_LISTS, SEED_SENDERS, SENDERS_ACCOUNT_ID } from './seed.ts';
import type { EmailStore } from './store.ts';
import { newChallenge, type Grant, type TokenStore } from './tokens.ts';
import { isEmailAddress, validateSubmitEmail } from './validate.ts';

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  /** Media type without parameters, lower-cased. */
  mediaType: string;
  body: Buffer;
  /** The answer will not reach the client (an injected fault): recorded with a stored email. */
  answerLost?: string;
}

export interface ApiDeps {
  tokens: TokenStore;
  store: EmailStore;
  passwords: Passwords;
}

const SCOPES_PATTERN = /^(user|admin|internal|auth)(?:,(user|admin|internal|auth))*$/;
const SORT_PATTERN = /^[-+]?(name|email|confirmed)$/;
const SENDER_PATH = /^\/brands\/default\/senders\/([^/]+)$/;
const EMAIL_PATH = /^\/v2\/emails\/([^/]+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createApi(deps: ApiDeps): (req: ApiRequest) => HttpResult {
  return (req) => {
    if (req.path === '/token') return req.method === 'POST' ? token(deps, req) : methodNotAllowed();
    if (req.path === '/brands/default/senders')
      return req.method === 'GET' ? withAuth(deps, req, senders) : methodNotAllowed();
    const senderMatch = SENDER_PATH.exec(req.path);
    if (senderMatch) {
      return req.method === 'GET'
        ? withAuth(deps, req, (_r, accountId) => sender(accountId, senderMatch[1]!))
        : methodNotAllowed();
    }
    if (req.path === '/v2/emails')
      return req.method === 'POST'
        ? withAuth(deps, req, (r, accountId) => submit(deps, r, accountId))
        : methodNotAllowed();
    const emailMatch = EMAIL_PATH.exec(req.path);
    if (emailMatch)
      return req.method === 'GET'
        ? withAuth(deps, req, (_r, accountId) => emailStatus(deps, accountId, emailMatch[1]!))
        : methodNotAllowed();
    if (req.path === '/v2/logs/emails')
      return req.method === 'GET'
        ? withAuth(deps, req, (r, accountId) => emailLogs(r.query, deps.store.list(), accountId))
        : methodNotAllowed();
    return notFound();
  };
}

// ── /token ───────────────────────────────────────────────────────────────────────────────

function token(deps: ApiDeps, req: ApiRequest): HttpResult {
  const issues: ValidationIssue[] = [];
  const version = req.query.get('version');
  if (version !== null && version !== 'v1' && version !== 'v2') {
    issues.push(enumIssue(['query', 'version'], ['v1', 'v2']));
  }
  if (req.mediaType !== 'application/x-www-form-urlencoded') {
    issues.push({
      loc: ['body'],
      msg: 'Content-Type must be application/x-www-form-urlencoded',
      type: 'value_error.content_type',
    });
    return validationError(issues);
  }
  const form = new URLSearchParams(req.body.toString('utf8'));
  const grantType = form.get('grant_type') ?? 'password';
  if (grantType !== 'password' && grantType !== 'refresh_token')
    issues.push(enumIssue(['body', 'grant_type'], ['password', 'refresh_token']));

  const scopesRaw = form.get('scopes');
  if (scopesRaw !== null && !SCOPES_PATTERN.test(scopesRaw)) {
    issues.push({
      loc: ['body', 'scopes'],
      msg: `string does not match regex "${SCOPES_PATTERN.source}"`,
      type: 'value_error.str.regex',
      ctx: { pattern: SCOPES_PATTERN.source },
    });
  }
  const expiration = formInt(form, 'expiration_seconds', 600, issues);
  const accountId = formInt(form, 'account_id', undefined, issues);

  if (grantType === 'password') {
    const username = form.get('username');
    if (username === null) issues.push(missing(['body', 'username']));
    else if (!isEmailAddress(username))
      issues.push({ loc: ['body', 'username'], msg: 'value is not a valid email address', type: 'value_error.email' });
    if (form.get('password') === null) issues.push(missing(['body', 'password']));
  } else if (grantType === 'refresh_token' && form.get('refresh_token') === null) {
    issues.push(missing(['body', 'refresh_token']));
  }
  if (issues.length) return validationError(issues);

  const scopes = scopesRaw === null ? ['user'] : scopesRaw.split(',');
  if (grantType === 'refresh_token') {
    const rotated = deps.tokens.rotate(form.get('refresh_token')!, {
      accountId,
      scopes: scopesRaw === null ? undefined : scopes,
      ttlSeconds: expiration,
    });
    if (rotated === 'unknown') return unauthorized('Invalid refresh token');
    if (rotated === 'account_denied') return accountDenied();
    return json(200, rotated);
  }

  const username = form.get('username')!.toLowerCase();
  const user = deps.passwords.check(username, form.get('password'));
  if (!user) return unauthorized('Invalid credentials');
  if (user.mfa) return json(200, { challenge: newChallenge() });
  if (accountId !== undefined && !user.accounts.includes(accountId)) return accountDenied();
  return json(200, deps.tokens.issueFor(user, accountId ?? user.accounts[0]!, scopes, expiration));
}

/** An integer form field; pydantic parses numeric strings for form data. */
function formInt(
  form: URLSearchParams,
  name: string,
  min: number | undefined,
  issues: ValidationIssue[],
): number | undefined {
  const raw = form.get(name);
  if (raw === null) return undefined;
  const n = /^-?\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n)) {
    issues.push({ loc: ['body', name], msg: 'value is not a valid integer', type: 'type_error.integer' });
    return undefined;
  }
  if (min !== undefined && n < min) {
    issues.push(geIssue(['body', name], min));
    return undefined;
  }
  return n;
}

// ── authentication and account selection ────────────────────────────────────────────────

type Handler = (req: ApiRequest, accountId: number, grant: Grant) => HttpResult;

/** Bearer check, then the optional `account_id` query parameter (docs/cakemail-api.md §1, §2.5). */
function withAuth(deps: ApiDeps, req: ApiRequest, handler: Handler): HttpResult {
  const match = /^bearer\s+(\S+)\s*$/i.exec(req.authorization ?? '');
  if (!match) return unauthorized('Not authenticated');
  const grant = deps.tokens.authenticate(match[1]!);
  if (!grant) return unauthorized('Invalid or expired token');

  const raw = req.query.get('account_id');
  let accountId = grant.accountId;
  if (raw !== null) {
    const parsed = queryInt(raw, ['query', 'account_id'], 1);
    if (typeof parsed !== 'number') return validationError([parsed]);
    if (!grant.accounts.includes(parsed)) return accountDenied();
    accountId = parsed;
  }
  return handler(req, accountId, grant);
}

function queryInt(raw: string, loc: (string | number)[], min: number, max?: number): number | ValidationIssue {
  const n = /^[-+]?\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) return { loc, msg: 'value is not a valid integer', type: 'type_error.integer' };
  if (n < min) return geIssue(loc, min);
  if (max !== undefined && n > max)
    return {
      loc,
      msg: `ensure this value is less than or equal to ${max}`,
      type: 'value_error.number.not_le',
      ctx: { limit_value: max },
    };
  return n;
}

// ── senders ──────────────────────────────────────────────────────────────────────────────

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

function senders(req: ApiRequest, accountId: number): HttpResult {
  const issues: ValidationIssue[] = [];
  const num = (name: string, dflt: number, max?: number): number => {
    const raw = req.query.get(name);
    if (raw === null) return dflt;
    const parsed = queryInt(raw, ['query', name], 1, max);
    if (typeof parsed === 'number') return parsed;
    issues.push(parsed);
    return dflt;
  };
  const page = num('page', 1);
  const perPage = num('per_page', 50, 100);
  let withCount = false;
  const wc = req.query.get('with_count');
  if (wc !== null) {
    if (TRUE_WORDS.has(wc.toLowerCase())) withCount = true;
    else if (!FALSE_WORDS.has(wc.toLowerCase()))
      issues.push({
        loc: ['query', 'with_count'],
        msg: 'value could not be parsed to a boolean',
        type: 'type_error.bool',
      });
  }
  const sort = req.query.get('sort');
  if (sort !== null && !SORT_PATTERN.test(sort)) {
    issues.push({
      loc: ['query', 'sort'],
      msg: `string does not match regex "${SORT_PATTERN.source}"`,
      type: 'value_error.str.regex',
      ctx: { pattern: SORT_PATTERN.source },
    });
  }
  if (issues.length) return validationError(issues);

  let all = accountId === SENDERS_ACCOUNT_ID ? [...SEED_SENDERS] : [];
  if (sort !== null) {
    const desc = sort.startsWith('-');
    const key = sort.replace(/^[-+]/, '') as 'name' | 'email' | 'confirmed';
    all = all.sort((a, b) => {
      const x = String(a[key]);
      const y = String(b[key]);
      return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
    });
  }
  const start = (page - 1) * perPage;
  const pagination: { page: number; per_page: number; count?: number } = { page, per_page: perPage };
  if (withCount) pagination.count = all.length;
  return json(200, { pagination, data: all.slice(start, start + perPage) });
}

function sender(accountId: number, rawId: string): HttpResult {
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    return detailError(404, 'not_found', 'Sender not found');
  }
  const found = accountId === SENDERS_ACCOUNT_ID ? SEED_SENDERS.find((s) => s.id === id) : undefined;
  return found ? json(200, { data: found }) : detailError(404, 'not_found', 'Sender not found');
}

// ── POST /v2/emails ──────────────────────────────────────────────────────────────────────

function submit(deps: ApiDeps, req: ApiRequest, accountId: number): HttpResult {
  if (req.mediaType !== 'application/json' && !req.mediaType.endsWith('+json')) {
    return validationError([
      { loc: ['body'], msg: 'Content-Type must be application/json', type: 'value_error.content_type' },
    ]);
  }
  if (req.body.length === 0) return validationError([missing(['body'])]);
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch (err) {
    return validationError([
      { loc: ['body'], msg: `Invalid JSON: ${(err as Error).message}`, type: 'value_error.jsondecode' },
    ]);
  }
  const checked = validateSubmitEmail(body);
  if (!checked.ok) return validationError(checked.issues);
  const payload = checked.value;

  // Business rules: the schema passed, the account's data decides (400, docs/cakemail-api.md §5, §7.1).
  const problems: { msg: string; loc: (string | number)[] }[] = [];
  const from = accountId === SENDERS_ACCOUNT_ID ? SEED_SENDERS.find((s) => s.id === payload.sender.id) : undefined;
  if (!from) problems.push({ msg: 'Sender not found', loc: ['body', 'sender', 'id'] });
  else if (!from.confirmed) problems.push({ msg: 'Sender is not confirmed', loc: ['body', 'sender', 'id'] });
  if (payload.list_id !== undefined && !SEED_LISTS.some((l) => l.id === payload.list_id && l.accountId === accountId)) {
    problems.push({ msg: 'List not found', loc: ['body', 'list_id'] });
  }
  if (payload.content.template !== undefined)
    problems.push({ msg: 'Template not found', loc: ['body', 'content', 'template', 'id'] });
  if (problems.length) return json(400, { detail: problems.map((p) => ({ type: 'bad_request', ...p })) });

  const id = randomUUID();
  const domain = payload.email.slice(payload.email.lastIndexOf('@') + 1).toLowerCase();
  const status = domain === REJECTED_DOMAIN ? 'rejected' : 'queued';
  if (status === 'queued')
    deps.store.add({
      id,
      receivedAt: new Date().toISOString(),
      accountId,
      payload,
      status,
      ...(req.answerLost ? { answerLost: req.answerLost } : {}),
    });
  const response: SubmitEmailResponse = {
    email: payload.email,
    object: 'email',
    submitted: true,
    data: { id, status },
  };
  return json(201, response);
}

// ── GET /v2/emails/{email_id} ────────────────────────────────────────────────────────────

/**
 * The email's current status (docs/cakemail-api.md §3.3, `GetEmailResponse`). The path parameter
 * is a uuid (422 otherwise); an email of another account is not found. The sandbox delivers
 * every email it queued, except to the bounce domain, which hard-bounces.
 */
function emailStatus(deps: ApiDeps, accountId: number, rawId: string): HttpResult {
  if (!UUID.test(rawId))
    return validationError([{ loc: ['path', 'email_id'], msg: 'value is not a valid uuid', type: 'type_error.uuid' }]);
  const e = deps.store.get(rawId.toLowerCase());
  if (!e || e.accountId !== accountId) return detailError(404, 'not_found', 'Email not found');
  const bounced = e.payload.email.toLowerCase().endsWith(`@${BOUNCE_DOMAIN}`);
  return json(200, {
    email_id: e.id,
    status: bounced ? 'bounce' : 'delivered',
    email: e.payload.email,
    provider: 'sandbox',
    submitted_time: Math.floor(Date.parse(e.receivedAt) / 1000),
    unsubscribed: false,
    global_unsubscribed: false,
    soft_bounced: false,
    hard_bounced: bounced,
    reported_as_spam: false,
    open: 0,
    click: 0,
    list_id: e.payload.list_id,
    tags: e.payload.tags ?? [],
    sender: { id: e.payload.sender.id, name: e.payload.sender.name ?? '', email: '' },
    content: { subject: e.payload.content.subject, type: e.payload.content.type ?? 'transactional' },
    tracking: e.payload.tracking ?? {},
    additional_headers: e.payload.additional_headers ?? [],
  });
}

// ── pydantic-shaped issue helpers ────────────────────────────────────────────────────────

function missing(loc: (string | number)[]): ValidationIssue {
  return { loc, msg: 'field required', type: 'value_error.missing' };
}

function geIssue(loc: (string | number)[], min: number): ValidationIssue {
  return {
    loc,
    msg: `ensure this value is greater than or equal to ${min}`,
    type: 'value_error.number.not_ge',
    ctx: { limit_value: min },
  };
}

function enumIssue(loc: (string | number)[], values: string[]): ValidationIssue {
  return {
    loc,
    msg: `value is not a valid enumeration member; permitted: ${values.map((v) => `'${v}'`).join(', ')}`,
    type: 'type_error.enum',
    ctx: { enum_values: values },
  };
}
