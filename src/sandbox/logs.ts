// `GET /v2/logs/emails`: the Email API activity log, as far as the gateway uses it (docs/sandbox.md).
// Each stored email yields a `submitted` and a `queued` entry at the time it was received.
// Query parameters are validated the FastAPI way (422 with pydantic-shaped issues; unknown
// parameters ignored). The `tags` parameter is a JSON-encoded filter whose full grammar
// Cakemail does not publish: the sandbox accepts the two forms the gateway could rely on
// (one tag as a JSON string, or a JSON array of tags matching any of them) and refuses the rest.
import { EMAIL_LOG_TYPES, type EmailLogEntry } from '../cakemail/types.ts';
import { json, validationError, type HttpResult, type ValidationIssue } from './http.ts';
import type { StoredEmail } from './store.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SORT = /^[-+]?(time|type|email_id)$/;
const BOOL_TRUE = new Set(['true', '1', 'yes', 'on']);
const BOOL_FALSE = new Set(['false', '0', 'no', 'off']);
const MAX_PER_PAGE = 100;

export function emailLogs(query: URLSearchParams, emails: readonly StoredEmail[], accountId: number): HttpResult {
  const issues: ValidationIssue[] = [];
  const int = (name: string, min: number, max?: number): number | undefined => {
    const raw = query.get(name);
    if (raw === null) return undefined;
    const n = /^[-+]?\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n))
      issues.push({ loc: ['query', name], msg: 'value is not a valid integer', type: 'type_error.integer' });
    else if (n < min)
      issues.push({
        loc: ['query', name],
        msg: `ensure this value is greater than or equal to ${min}`,
        type: 'value_error.number.not_ge',
        ctx: { limit_value: min },
      });
    else if (max !== undefined && n > max)
      issues.push({
        loc: ['query', name],
        msg: `ensure this value is less than or equal to ${max}`,
        type: 'value_error.number.not_le',
        ctx: { limit_value: max },
      });
    else return n;
    return undefined;
  };
  const bool = (name: string): boolean => {
    const raw = query.get(name);
    if (raw === null) return false;
    if (BOOL_TRUE.has(raw.toLowerCase())) return true;
    if (!BOOL_FALSE.has(raw.toLowerCase()))
      issues.push({ loc: ['query', name], msg: 'value could not be parsed to a boolean', type: 'type_error.bool' });
    return false;
  };

  const page = int('page', 1) ?? 1;
  const perPage = int('per_page', 1, MAX_PER_PAGE) ?? 50;
  const startTime = int('start_time', 0);
  const endTime = int('end_time', 0);
  const withCount = bool('with_count');
  const isoTime = bool('iso_time');
  const logType = query.get('log_type') ?? 'all';
  if (!(EMAIL_LOG_TYPES as readonly string[]).includes(logType)) {
    issues.push({
      loc: ['query', 'log_type'],
      msg: `value is not a valid enumeration member; permitted: ${EMAIL_LOG_TYPES.map((v) => `'${v}'`).join(', ')}`,
      type: 'type_error.enum',
      ctx: { enum_values: [...EMAIL_LOG_TYPES] },
    });
  }
  const emailId = query.get('email_id');
  if (emailId !== null && !UUID.test(emailId))
    issues.push({ loc: ['query', 'email_id'], msg: 'value is not a valid uuid', type: 'type_error.uuid' });
  const sort = query.get('sort');
  if (sort !== null && !SORT.test(sort)) {
    issues.push({
      loc: ['query', 'sort'],
      msg: `string does not match regex "${SORT.source}"`,
      type: 'value_error.str.regex',
      ctx: { pattern: SORT.source },
    });
  }
  const tags = parseTagsFilter(query.get('tags'), issues);
  if (issues.length) return validationError(issues);

  let entries: EmailLogEntry[] = [];
  for (const e of emails) {
    // A test-mode message never reached the API: it has no activity to log.
    if (e.status !== 'queued') continue;
    if (e.accountId !== accountId) continue;
    if (emailId !== null && e.id.toLowerCase() !== emailId.toLowerCase()) continue;
    const emailTags = e.payload.tags ?? [];
    if (tags && !tags.some((t) => emailTags.includes(t))) continue;
    const time = Math.floor(Date.parse(e.receivedAt) / 1000);
    if (startTime !== undefined && time < startTime) continue;
    if (endTime !== undefined && time > endTime) continue;
    for (const type of ['submitted', 'queued'] as const) {
      if (logType !== 'all' && logType !== type) continue;
      entries.push({ email_id: e.id, email: e.payload.email, type, time, tags: [...emailTags] });
    }
  }
  const key = (sort ?? 'time').replace(/^[-+]/, '') as 'time' | 'type' | 'email_id';
  const desc = sort?.startsWith('-') ?? false;
  entries = entries.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0) * (desc ? -1 : 1));

  const pagination: { page: number; per_page: number; count?: number } = { page, per_page: perPage };
  if (withCount) pagination.count = entries.length;
  const data = entries
    .slice((page - 1) * perPage, page * perPage)
    .map((e) => (isoTime ? { ...e, time: new Date(e.time * 1000).toISOString() } : e));
  return json(200, { pagination, data });
}

/** `tags`: a JSON string (one tag) or a JSON array of tags (any of them). Null when absent. */
function parseTagsFilter(raw: string | null, issues: ValidationIssue[]): string[] | null {
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    issues.push({ loc: ['query', 'tags'], msg: `Invalid JSON: ${(err as Error).message}`, type: 'value_error.json' });
    return null;
  }
  const list = typeof parsed === 'string' ? [parsed] : parsed;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((t): t is string => typeof t === 'string' && t.length > 0)
  ) {
    issues.push({
      loc: ['query', 'tags'],
      msg: 'tags filter must be a JSON string or a non-empty JSON array of strings',
      type: 'value_error.tags_filter',
    });
    return null;
  }
  return list;
}
