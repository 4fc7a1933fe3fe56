// Schema validation of a `SubmitEmail` body (docs/cakemail-api.md §3.1), the way the real API's
// pydantic models answer: every violation is reported, each with its `loc` path, pydantic v1
// `msg` and `type`. Types are strict (no "1" for an integer, no 1 for a boolean), unknown fields
// are refused at every level ("extra fields not permitted") and `null` is refused for
// non-nullable fields. Business rules (sender exists and is confirmed, list exists) are not
// schema rules: the API answers them with 400, see api.ts.
import { ATTACHMENT_FILENAME_PATTERN, ATTACHMENT_TYPES, TAG_PATTERN, type SubmitEmail } from '../cakemail/types.ts';
import type { ValidationIssue } from './http.ts';

type Loc = (string | number)[];
type Rule = (value: unknown, loc: Loc, out: ValidationIssue[]) => void;
interface Field {
  rule: Rule;
  required?: boolean;
}

/** `Encoding` enum of the spec (docs/cakemail-api.md §3.1). */
export const ENCODINGS = [
  'utf-8',
  'armscii-8',
  'ascii',
  'big-5',
  'cp51932',
  'cp866',
  'cp936',
  'euc-cn',
  'euc-jp',
  'eucjp-win',
  'euc-kr',
  'euc-tw',
  'hz',
  'iso-2022-jp',
  'iso-2022-jp-ms',
  'iso-2022-kr',
  'iso-8859-1',
  'iso-8859-10',
  'iso-8859-13',
  'iso-8859-14',
  'iso-8859-15',
  'iso-8859-16',
  'iso-8859-2',
  'iso-8859-3',
  'iso-8859-4',
  'iso-8859-5',
  'iso-8859-6',
  'iso-8859-7',
  'iso-8859-8',
  'iso-8859-9',
  'jis',
  'koi8-r',
  'sjis',
  'sjis-win',
  'uhc',
  'windows-1251',
  'windows-1252',
] as const;

export const EMAIL_TYPES = ['marketing', 'transactional'] as const;

/** Spec text of the patterns, as pydantic prints them in `msg`. */
const TAG_PATTERN_TEXT = '^[a-zA-Z0-9-_]+$';
const BASE64_PATTERN_TEXT = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

/**
 * Same language as STRICT_BASE64_PATTERN, checked without the regex: V8 overflows its
 * backtracking stack on that pattern for inputs over a few MB ("Maximum call stack size
 * exceeded" at 10 MB), and attachments are that big.
 */
export function isStrictBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  const body = s.endsWith('==') ? s.slice(0, -2) : s.endsWith('=') ? s.slice(0, -1) : s;
  return !/[^A-Za-z0-9+/]/.test(body);
}

const LOCAL_PART = /^[^\s@<>()[\],;:"\\\x00-\x1f\x7f]{1,64}$/u;
const DOMAIN_LABEL = /^(?:[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]{0,61}[A-Za-z0-9\u0080-\uffff])?)$/u;

/** A conservative `format: email` check (pydantic's EmailStr refuses these too). */
export function isEmailAddress(s: string): boolean {
  if (s.length > 254) return false;
  const at = s.lastIndexOf('@');
  if (at <= 0) return false;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (!LOCAL_PART.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  const labels = domain.split('.');
  return labels.length >= 2 && labels.every((l) => DOMAIN_LABEL.test(l)) && !/^\d+$/.test(labels.at(-1)!);
}

function issue(out: ValidationIssue[], loc: Loc, msg: string, type: string, ctx?: Record<string, unknown>): void {
  out.push(ctx ? { loc, msg, type, ctx } : { loc, msg, type });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface StrOpts {
  min?: number;
  max?: number;
  pattern?: { test: (s: string) => boolean; text: string };
  oneOf?: readonly string[];
  email?: boolean;
}

function str(opts: StrOpts = {}): Rule {
  return (v, loc, out) => {
    if (typeof v !== 'string') return issue(out, loc, 'str type expected', 'type_error.str');
    if (opts.oneOf && !opts.oneOf.includes(v)) {
      const permitted = opts.oneOf.map((e) => `'${e}'`).join(', ');
      return issue(out, loc, `value is not a valid enumeration member; permitted: ${permitted}`, 'type_error.enum', {
        enum_values: [...opts.oneOf],
      });
    }
    const length = [...v].length;
    if (opts.min !== undefined && length < opts.min) {
      return issue(
        out,
        loc,
        `ensure this value has at least ${opts.min} characters`,
        'value_error.any_str.min_length',
        { limit_value: opts.min },
      );
    }
    if (opts.max !== undefined && length > opts.max) {
      return issue(out, loc, `ensure this value has at most ${opts.max} characters`, 'value_error.any_str.max_length', {
        limit_value: opts.max,
      });
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      return issue(out, loc, `string does not match regex "${opts.pattern.text}"`, 'value_error.str.regex', {
        pattern: opts.pattern.text,
      });
    }
    if (opts.email && !isEmailAddress(v)) issue(out, loc, 'value is not a valid email address', 'value_error.email');
  };
}

function int(opts: { ge?: number } = {}): Rule {
  return (v, loc, out) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      return issue(out, loc, 'value is not a valid integer', 'type_error.integer');
    if (opts.ge !== undefined && v < opts.ge) {
      issue(out, loc, `ensure this value is greater than or equal to ${opts.ge}`, 'value_error.number.not_ge', {
        limit_value: opts.ge,
      });
    }
  };
}

const bool: Rule = (v, loc, out) => {
  if (typeof v !== 'boolean') issue(out, loc, 'value is not a valid boolean', 'type_error.bool');
};

const anyObject: Rule = (v, loc, out) => {
  if (!isPlainObject(v)) issue(out, loc, 'value is not a valid dict', 'type_error.dict');
};

function list(item: Rule): Rule {
  return (v, loc, out) => {
    if (!Array.isArray(v)) return issue(out, loc, 'value is not a valid list', 'type_error.list');
    v.forEach((x, i) => nonNull(item)(x, [...loc, i], out));
  };
}

function nonNull(rule: Rule): Rule {
  return (v, loc, out) =>
    v === null ? issue(out, loc, 'none is not an allowed value', 'type_error.none.not_allowed') : rule(v, loc, out);
}

/** A pydantic model with `extra = forbid`; `check` runs model-level rules when the fields were valid. */
function model(
  fields: Record<string, Field>,
  check?: (o: Record<string, unknown>, loc: Loc, out: ValidationIssue[]) => void,
): Rule {
  return (v, loc, out) => {
    if (!isPlainObject(v)) return issue(out, loc, 'value is not a valid dict', 'type_error.dict');
    const before = out.length;
    for (const [name, field] of Object.entries(fields)) {
      if (!Object.hasOwn(v, name)) {
        if (field.required) issue(out, [...loc, name], 'field required', 'value_error.missing');
        continue;
      }
      nonNull(field.rule)(v[name], [...loc, name], out);
    }
    for (const name of Object.keys(v)) {
      if (!Object.hasOwn(fields, name)) issue(out, [...loc, name], 'extra fields not permitted', 'value_error.extra');
    }
    if (check && out.length === before) check(v, loc, out);
  };
}

const attachment = model({
  filename: {
    rule: str({
      pattern: { test: (s) => ATTACHMENT_FILENAME_PATTERN.test(s), text: ATTACHMENT_FILENAME_PATTERN.source },
    }),
    required: true,
  },
  type: { rule: str({ oneOf: ATTACHMENT_TYPES }), required: true },
  content: { rule: str({ pattern: { test: isStrictBase64, text: BASE64_PATTERN_TEXT } }), required: true },
});

/** `attachment` is one `Attachment` object or an array of them (docs/cakemail-api.md §3.1). */
const attachmentOrList: Rule = (v, loc, out) =>
  Array.isArray(v) ? list(attachment)(v, loc, out) : attachment(v, loc, out);

const content = model(
  {
    subject: { rule: str({ min: 1 }), required: true },
    type: { rule: str({ oneOf: EMAIL_TYPES }), required: true },
    html: { rule: str({ min: 1 }) },
    text: { rule: str({ min: 1 }) },
    template: { rule: model({ id: { rule: int(), required: true } }) },
    custom_attributes: {
      rule: list(model({ name: { rule: str({ min: 1 }), required: true }, value: { rule: str(), required: true } })),
    },
    encoding: { rule: str({ oneOf: ENCODINGS }) },
    markup: { rule: anyObject },
  },
  (o, loc, out) => {
    // The schema requires none of them; the API cannot send an empty message (docs/cakemail-api.md §3.1 note).
    if (!('html' in o) && !('text' in o) && !('template' in o)) {
      issue(out, loc, 'at least one of html, text or template is required', 'value_error.missing');
    }
  },
);

const submitEmail = model({
  email: { rule: str({ email: true }), required: true },
  list_id: { rule: int({ ge: 1 }) },
  contact_id: { rule: int({ ge: 1 }) },
  sender: {
    rule: model({ id: { rule: str({ min: 1 }), required: true }, name: { rule: str({ min: 1 }) } }),
    required: true,
  },
  content: { rule: content, required: true },
  tags: {
    rule: list(str({ min: 1, max: 255, pattern: { test: (s) => TAG_PATTERN.test(s), text: TAG_PATTERN_TEXT } })),
  },
  tracking: { rule: model({ opens: { rule: bool }, clicks_html: { rule: bool }, clicks_text: { rule: bool } }) },
  additional_headers: {
    rule: list(model({ name: { rule: str(), required: true }, value: { rule: str(), required: true } })),
  },
  attachment: { rule: attachmentOrList },
});

export type SubmitValidation = { ok: true; value: SubmitEmail } | { ok: false; issues: ValidationIssue[] };

/** Validates a parsed JSON body; `loc` paths start with "body" as FastAPI reports them. */
export function validateSubmitEmail(body: unknown): SubmitValidation {
  const issues: ValidationIssue[] = [];
  submitEmail(body, ['body'], issues);
  return issues.length === 0 ? { ok: true, value: body as SubmitEmail } : { ok: false, issues };
}

/** Attachments of a stored payload as a list, whichever form was sent. */
export function attachmentsOf(payload: SubmitEmail): { filename: string; type: string; content: string }[] {
  const a = (payload as { attachment?: unknown }).attachment;
  if (a === undefined) return [];
  return (Array.isArray(a) ? a : [a]) as { filename: string; type: string; content: string }[];
}
