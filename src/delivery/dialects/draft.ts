// What the control headers of one message ask for, filled in header by header by the dialect
// rules (table.ts), and the small readers those rules share (booleans, tag lists, metadata
// objects, times). A rule that cannot honour a value says why (rule.ts `Problem`).
import type { EmailType } from '../../cakemail/types.ts';
import { normalizeTag } from '../tags.ts';
import { addMetadata, type MetadataEntry } from './metadata.ts';
import { invalid, type Problem } from './problem.ts';

export interface Tracking {
  opens?: boolean;
  clicks_html?: boolean;
  clicks_text?: boolean;
}

export interface Draft {
  tags: string[];
  tracking: Tracking;
  senderId?: string;
  listId?: number;
  emailType?: EmailType;
  accountId?: number;
  metadata: MetadataEntry[];
  /** The header that asked for test mode (the message is not sent). */
  testMode?: string;
  idempotencyKey?: { header: string; value: string };
  /** A scheduled send: Unix ms, and the header (or MAIL parameter) that asked for it. */
  sendAt?: { header: string; at: number };
}

export function newDraft(): Draft {
  return { tags: [], tracking: {}, metadata: [] };
}

const MAX_INT32 = 2 ** 31 - 1;

// A repeated single-valued control must agree with itself: two different X-List-Id values are ambiguous.
export function single<K extends 'senderId' | 'listId' | 'emailType' | 'accountId'>(
  c: Draft,
  key: K,
  value: Draft[K] | undefined,
  error: string,
): Problem | null {
  if (value === undefined) return invalid(error);
  if (c[key] !== undefined && c[key] !== value) return invalid(`conflicting values "${c[key]}" and "${value}"`);
  c[key] = value;
  return null;
}

export function positiveInt(v: string): number | undefined {
  const s = v.trim();
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= MAX_INT32 ? n : undefined;
}

export function emailType(v: string): EmailType | undefined {
  const s = v.trim().toLowerCase();
  return s === 'transactional' || s === 'marketing' ? s : undefined;
}

export function splitList(v: string): string[] {
  return v.split(',').filter((t) => t.trim() !== '');
}

export function addTags(c: Draft, raw: readonly string[]): Problem | null {
  for (const r of raw) {
    const tag = normalizeTag(r);
    if (tag === null) return invalid(`tag "${r.trim().slice(0, 80)}" has no letters, digits, "-" or "_" to keep`);
    c.tags.push(tag);
  }
  return null;
}

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);

export function bool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  return TRUE.has(s) ? true : FALSE.has(s) ? false : undefined;
}

export const BOOL_TEXT = 'yes/no, true/false, 1/0, on/off';

export function notBool(v: string): Problem {
  return invalid(`expected yes/no or true/false, got "${v.slice(0, 40)}"`);
}

export function setBool(c: Draft, v: string, keys: readonly (keyof Tracking)[]): Problem | null {
  const b = bool(v);
  if (b === undefined) return notBool(v);
  for (const k of keys) c.tracking[k] = b;
  return null;
}

export function set(c: Draft, t: Tracking): null {
  Object.assign(c.tracking, t);
  return null;
}

/**
 * A header whose one value asks for something the gateway cannot do, while the other value asks
 * for what it does anyway (`X-Mailgun-Dkim: yes` is honoured, `no` cannot be).
 */
export function boolOnly(honoured: boolean, why: string): (v: string) => Problem | null {
  return (v) => {
    const b = bool(v);
    if (b === undefined) return notBool(v);
    return b === honoured ? null : { kind: 'unsupported', text: why };
  };
}

/** Test mode: the first header that asked for it is the one the reply and the log name. */
export function testMode(c: Draft, name: string): null {
  c.testMode ??= name;
  return null;
}

export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A JSON object header (`X-Mailgun-Variables`, `X-MC-Metadata`): every key becomes metadata. */
export function jsonMetadata(c: Draft, v: string, header: string): Problem | null {
  let json: unknown;
  try {
    json = JSON.parse(v);
  } catch {
    return invalid('not valid JSON');
  }
  if (!isObject(json)) return invalid('expected a JSON object');
  return objectMetadata(c, json, header);
}

export function objectMetadata(c: Draft, obj: Record<string, unknown>, header: string): Problem | null {
  for (const [key, value] of Object.entries(obj)) {
    const error = addMetadata(c.metadata, { key, value: metadataText(value), header });
    if (error) return invalid(error);
  }
  return null;
}

/** A string stays as it is; any other JSON value travels as its JSON text (`991`, `true`, `{"a":1}`). */
function metadataText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A schedule of one message: the same time from every header that names one. */
export function schedule(c: Draft, header: string, at: number): Problem | null {
  if (!Number.isFinite(at)) return invalid('not a time');
  if (c.sendAt && c.sendAt.at !== at)
    return invalid(`conflicts with ${c.sendAt.header} (${new Date(c.sendAt.at).toISOString()})`);
  c.sendAt ??= { header, at };
  return null;
}

// RFC 5322 §3.3 date-time, as Mailgun documents `X-Mailgun-Deliver-By` ("Fri, 14 Oct 2011 23:10:10 -0000").
const RFC5322_DATE =
  /^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|UT|UTC|GMT|[ECMP][SD]T)$/;

export function rfc5322Time(v: string): number | undefined {
  const s = v.trim();
  if (!RFC5322_DATE.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}

// RFC 3339 with an explicit offset: a time without one would be read in the gateway's own zone.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

export function rfc3339Time(v: string): number | undefined {
  const s = v.trim();
  if (!RFC3339.test(s)) return undefined;
  const t = Date.parse(s.replace(' ', 'T'));
  return Number.isFinite(t) ? t : undefined;
}
