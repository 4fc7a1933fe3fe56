// Gateway control headers (docs/architecture.md#message-to-api-mapping): the Cakemail relay dialect, plus the tag and tracking
// headers of the relays applications migrate from (SendGrid, Mailgun, Postmark, Mandrill, SES), so
// an application changes only its SMTP host. Control headers are consumed here and never forwarded
// (headers.ts strips every name in CONTROL_HEADER_NAMES). A value the gateway cannot honour is
// refused naming the header, never silently ignored: a sender who asked for list 12 must not
// have its mail sent to the default list.
import type { EmailType } from '../cakemail/types.ts';
import type { HeaderField } from '../mime/types.ts';
import { normalizeTag } from './tags.ts';
import { uniqueIgnoringCase } from './text.ts';

export interface Tracking {
  opens?: boolean;
  clicks_html?: boolean;
  clicks_text?: boolean;
}

export interface Controls {
  senderId?: string;
  listId?: number;
  emailType?: EmailType;
  /** `X-Account-Id` / `X-Cakemail-Account-Id` (docs/architecture.md#credentials-and-accounts): the sub-account to send as. */
  accountId?: number;
  tags: string[];
  tracking?: Tracking;
}

export type ControlsResult = { ok: true; controls: Controls } | { ok: false; reason: string };

type Apply = (value: string, c: Draft) => string | null; // returns an error text, or null

interface Draft {
  tags: string[];
  tracking: Tracking;
  senderId?: string;
  listId?: number;
  emailType?: EmailType;
  accountId?: number;
}

const MAX_INT32 = 2 ** 31 - 1;

const HANDLERS: Record<string, Apply> = {
  // Cakemail relay dialect (docs/cakemail-api.md §7.3).
  'x-sender-id': (v, c) => single(c, 'senderId', /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : undefined, 'not a sender id'),
  'x-list-id': (v, c) => single(c, 'listId', positiveInt(v), 'not a positive list id'),
  'x-email-api-type': (v, c) => single(c, 'emailType', emailType(v), 'expected "transactional" or "marketing"'),
  'x-account-id': (v, c) => single(c, 'accountId', positiveInt(v), 'not a positive account id'),
  'x-cakemail-account-id': (v, c) => single(c, 'accountId', positiveInt(v), 'not a positive account id'),
  'x-tags': (v, c) => addTags(c, splitList(v)),
  'x-track-opens': (v, c) => setBool(c, v, ['opens']),
  'x-track-clicks-html': (v, c) => setBool(c, v, ['clicks_html']),
  'x-track-clicks-text': (v, c) => setBool(c, v, ['clicks_text']),
  // Consumed and ignored: the newer Cakemail SMTP requires it, the legacy relay's group id has no v2 field.
  'x-email-api-enabled': () => null,
  'x-group-id': () => null,

  // SendGrid.
  'x-smtpapi': (v, c) => sendGrid(v, c),

  // Mailgun: one tag per header, the header may repeat.
  'x-mailgun-tag': (v, c) => addTags(c, [v]),
  'x-mailgun-track': (v, c) =>
    v.trim().toLowerCase() === 'htmlonly'
      ? set(c, { opens: true, clicks_html: true, clicks_text: false })
      : setBool(c, v, ['opens', 'clicks_html', 'clicks_text']),
  'x-mailgun-track-clicks': (v, c) =>
    v.trim().toLowerCase() === 'htmlonly'
      ? set(c, { clicks_html: true, clicks_text: false })
      : setBool(c, v, ['clicks_html', 'clicks_text']),
  'x-mailgun-track-opens': (v, c) => setBool(c, v, ['opens']),

  // Postmark: one tag per message.
  'x-pm-tag': (v, c) => addTags(c, [v]),
  'x-pm-trackopens': (v, c) => setBool(c, v, ['opens']),
  'x-pm-tracklinks': (v, c) => postmarkLinks(v, c),

  // Mandrill.
  'x-mc-tags': (v, c) => addTags(c, splitList(v)),
  'x-mc-track': (v, c) => mandrillTrack(v, c),

  // Amazon SES: "name=value, name2=value2" message tags become "name-value" tags (Cakemail tags are
  // flat; keeping the name keeps "campaign=spring" and "season=spring" apart). The configuration
  // set has no Cakemail equivalent and is consumed.
  'x-ses-message-tags': (v, c) => sesTags(v, c),
  'x-ses-configuration-set': () => null,
};

/** Lower-case names of every control header; the payload never forwards these. */
export const CONTROL_HEADER_NAMES: readonly string[] = Object.freeze(Object.keys(HANDLERS));

/** Reads every control header of the message, in order (for tracking, a later header wins). */
export function readControls(headers: readonly HeaderField[]): ControlsResult {
  const draft: Draft = { tags: [], tracking: {} };
  for (const h of headers) {
    const handler = HANDLERS[h.name.toLowerCase()];
    if (!handler) continue;
    const error = handler(h.value, draft);
    if (error !== null) return { ok: false, reason: `invalid ${h.name} header: ${error}` };
  }
  // "Newsletter" and "newsletter" are one tag to the person who wrote both; the first spelling is kept.
  const controls: Controls = { tags: uniqueIgnoringCase(draft.tags) };
  if (draft.senderId !== undefined) controls.senderId = draft.senderId;
  if (draft.listId !== undefined) controls.listId = draft.listId;
  if (draft.emailType !== undefined) controls.emailType = draft.emailType;
  if (draft.accountId !== undefined) controls.accountId = draft.accountId;
  if (Object.keys(draft.tracking).length > 0) controls.tracking = draft.tracking;
  return { ok: true, controls };
}

// A repeated single-valued control must agree with itself: two different X-List-Id values are ambiguous.
function single<K extends 'senderId' | 'listId' | 'emailType' | 'accountId'>(
  c: Draft,
  key: K,
  value: Draft[K] | undefined,
  error: string,
): string | null {
  if (value === undefined) return error;
  if (c[key] !== undefined && c[key] !== value) return `conflicting values "${c[key]}" and "${value}"`;
  c[key] = value;
  return null;
}

function positiveInt(v: string): number | undefined {
  const s = v.trim();
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= MAX_INT32 ? n : undefined;
}

function emailType(v: string): EmailType | undefined {
  const s = v.trim().toLowerCase();
  return s === 'transactional' || s === 'marketing' ? s : undefined;
}

function splitList(v: string): string[] {
  return v.split(',').filter((t) => t.trim() !== '');
}

function addTags(c: Draft, raw: readonly string[]): string | null {
  for (const r of raw) {
    const tag = normalizeTag(r);
    if (tag === null) return `tag "${r.trim().slice(0, 80)}" has no letters, digits, "-" or "_" to keep`;
    c.tags.push(tag);
  }
  return null;
}

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);

function bool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  return TRUE.has(s) ? true : FALSE.has(s) ? false : undefined;
}

function setBool(c: Draft, v: string, keys: readonly (keyof Tracking)[]): string | null {
  const b = bool(v);
  if (b === undefined) return `expected yes/no or true/false, got "${v.slice(0, 40)}"`;
  for (const k of keys) c.tracking[k] = b;
  return null;
}

function set(c: Draft, t: Tracking): null {
  Object.assign(c.tracking, t);
  return null;
}

function postmarkLinks(v: string, c: Draft): string | null {
  switch (v.trim().toLowerCase()) {
    case 'none':
      return set(c, { clicks_html: false, clicks_text: false });
    case 'htmlandtext':
      return set(c, { clicks_html: true, clicks_text: true });
    case 'htmlonly':
      return set(c, { clicks_html: true, clicks_text: false });
    case 'textonly':
      return set(c, { clicks_html: false, clicks_text: true });
    default:
      return 'expected None, HtmlAndText, HtmlOnly or TextOnly';
  }
}

// Mandrill's header lists what to track; what it does not list is not tracked.
function mandrillTrack(v: string, c: Draft): string | null {
  const t: Tracking = { opens: false, clicks_html: false, clicks_text: false };
  for (const token of splitList(v).map((s) => s.trim().toLowerCase())) {
    if (token === 'opens') t.opens = true;
    else if (token === 'clicks' || token === 'clicks_all') Object.assign(t, { clicks_html: true, clicks_text: true });
    else if (token === 'clicks_htmlonly') t.clicks_html = true;
    else if (token === 'clicks_textonly') t.clicks_text = true;
    else return `unknown value "${token.slice(0, 40)}" (expected opens, clicks_all, clicks_htmlonly, clicks_textonly)`;
  }
  return set(c, t);
}

function sesTags(v: string, c: Draft): string | null {
  const tags: string[] = [];
  for (const pair of splitList(v)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (eq < 0 || !name || !value) return `expected "name=value" pairs, got "${pair.trim().slice(0, 80)}"`;
    tags.push(`${name}-${value}`);
  }
  return addTags(c, tags);
}

// SendGrid's X-SMTPAPI JSON. `category` → tags; `filters.opentrack/clicktrack` → tracking. Keys that
// change who receives the message or what it says (`to` fan-out, substitutions, scheduling) cannot
// be honoured by a one-recipient-per-call API, so they are refused rather than silently dropped.
const SENDGRID_REFUSED = ['to', 'sub', 'section', 'send_at', 'send_each_at'] as const;

function sendGrid(v: string, c: Draft): string | null {
  let json: unknown;
  try {
    json = JSON.parse(v);
  } catch {
    return 'not valid JSON';
  }
  if (!isObject(json)) return 'expected a JSON object';
  for (const key of SENDGRID_REFUSED) {
    if (key in json)
      return `"${key}" is not supported (recipients come from the SMTP envelope; no substitutions or scheduling)`;
  }
  const category = json['category'];
  if (category !== undefined) {
    const list = Array.isArray(category) ? category : [category];
    if (!list.every((x): x is string => typeof x === 'string'))
      return '"category" must be a string or an array of strings';
    const error = addTags(c, list);
    if (error) return error;
  }
  const filters = json['filters'];
  if (filters !== undefined) {
    if (!isObject(filters)) return '"filters" must be an object';
    const open = filterSetting(filters, 'opentrack', 'enable');
    if (open === null) return '"filters.opentrack.settings.enable" must be 0/1 or a boolean';
    if (open !== undefined) c.tracking.opens = open;
    const click = filterSetting(filters, 'clicktrack', 'enable');
    const clickText = filterSetting(filters, 'clicktrack', 'enable_text');
    if (click === null || clickText === null) return '"filters.clicktrack.settings" values must be 0/1 or booleans';
    if (click !== undefined) c.tracking.clicks_html = click;
    // SendGrid tracks text links only with enable_text, and never when click tracking is off.
    if (click === false) c.tracking.clicks_text = false;
    else if (clickText !== undefined) c.tracking.clicks_text = clickText;
  }
  return null;
}

/** undefined: not set; null: set but not a boolean. */
function filterSetting(filters: Record<string, unknown>, filter: string, key: string): boolean | undefined | null {
  const f = filters[filter];
  if (f === undefined) return undefined;
  if (!isObject(f) || !isObject(f['settings'])) return null;
  const value = f['settings'][key];
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') return bool(value) ?? null;
  return null;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
