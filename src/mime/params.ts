// Content-Type and Content-Disposition values: `type/subtype; name=value; …` (RFC 2045 §5.1,
// RFC 2183) with RFC 2231 extended and continued parameters (`filename*=utf-8''R%C3%A9sum%C3%A9.pdf`,
// `boundary*0="ab"; boundary*1="cd"`) and comments. Input is the raw header value as a binary
// string; parameter values come back decoded to text. Lenient where mail programs are:
// a missing `;` before the first parameter (`application/pdf name=invoice.pdf`) is accepted, an
// unquoted value runs to the next `;`, a backslash is literal outside quotes (`C:\a.txt`).
import { decodeBytes } from './charsets.ts';
import { decodeHeaderValue } from './encoded-words.ts';
import type { Repairs } from './repairs.ts';

export interface StructuredValue {
  /** Lower-case value before the first parameter (`text/plain`, `attachment`); '' when absent. */
  value: string;
  /** Lower-case parameter names → decoded values. First occurrence wins. */
  params: Map<string, string>;
}

// `(` opens a comment where whitespace could stand: at the start, after whitespace, `;` or the
// main value. Inside an unquoted parameter value it is content (`filename=Invoice(1).pdf`).
function stripComments(s: string): string {
  if (!s.includes('(')) return s;
  let out = '';
  let depth = 0;
  let quoted = false;
  let inValue = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
      continue;
    }
    if (quoted) {
      out += c;
      if (c === '\\' && i + 1 < s.length) out += s[++i];
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '=') inValue = true;
    else if (c === ';') inValue = false;
    else if (c === '(' && (!inValue || ' \t=;'.includes(out[out.length - 1] ?? ' '))) {
      depth = 1;
      continue;
    }
    out += c;
  }
  // An unbalanced "(" is not a comment: keep the text rather than lose a boundary after it.
  return depth > 0 ? s : out;
}

const PARAM_START = /^\s*([^\s=;"]+)\s*=/;

export function parseStructured(raw: string, repairs?: Repairs): StructuredValue {
  const s = stripComments(raw);
  const params = new Map<string, string>();
  // The main value ends at ";" or, for a missing ";", where a `name=` follows whitespace.
  let i = 0;
  let value = '';
  while (i < s.length && s[i] !== ';') {
    if ((s[i] === ' ' || s[i] === '\t') && PARAM_START.test(s.slice(i, i + 200)) && value.trim()) break;
    value += s[i++];
  }
  const raws: Array<[string, string, boolean]> = [];
  while (i < s.length) {
    while (i < s.length && (s[i] === ';' || s[i] === ' ' || s[i] === '\t')) i++;
    let name = '';
    while (i < s.length && s[i] !== '=' && s[i] !== ';') name += s[i++];
    name = name.trim().toLowerCase();
    if (s[i] !== '=') {
      if (name) raws.push([name, '', false]);
      continue;
    }
    i++;
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    let v = '';
    let quoted = false;
    if (s[i] === '"') {
      quoted = true;
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i++];
      }
      i++;
      // Anything between the closing quote and the next ";" is junk (RFC 2045: token or quoted-string).
      while (i < s.length && s[i] !== ';') i++;
    } else {
      while (i < s.length && s[i] !== ';') v += s[i++];
      v = v.trim();
    }
    if (name) raws.push([name, v, quoted]);
  }
  assemble(raws, params, repairs);
  return { value: value.trim().toLowerCase(), params };
}

// RFC 2231: `name*` is charset'language'percent-encoded; `name*N` / `name*N*` are sections of one
// value, joined in numeric order; an extended value wins over a plain one of the same name.
function assemble(raws: Array<[string, string, boolean]>, params: Map<string, string>, repairs?: Repairs): void {
  const sections = new Map<string, Array<{ n: number; value: string; extended: boolean }>>();
  const plain = new Map<string, string>();
  for (const [name, value] of raws) {
    // Real names are short; the cut keeps the lazy pattern from backtracking over a crafted one.
    const m = name.length <= 100 ? /^(.+?)\*(?:(\d{1,3})\*?|)$/.exec(name) : null;
    if (m) {
      const base = m[1] as string;
      const n = m[2] === undefined ? 0 : Number(m[2]);
      const extended = name.endsWith('*');
      const list = sections.get(base) ?? [];
      if (!list.some((s) => s.n === n)) list.push({ n, value, extended });
      sections.set(base, list);
    } else if (!plain.has(name)) plain.set(name, value);
  }
  for (const [name, list] of sections) {
    list.sort((a, b) => a.n - b.n);
    let charset = '';
    const bytes: Buffer[] = [];
    list.forEach((s, idx) => {
      let v = s.value;
      if (s.extended && idx === 0) {
        const q = /^([^']*)'[^']*'(.*)$/s.exec(v);
        if (q) {
          charset = q[1] as string;
          v = q[2] as string;
        }
      }
      bytes.push(s.extended ? percentDecode(v) : Buffer.from(v, 'latin1'));
    });
    const joined = Buffer.concat(bytes);
    params.set(
      name,
      name === 'boundary'
        ? joined.toString('latin1')
        : charset
          ? decodeBytes(joined, charset, repairs)
          : decodeHeaderValue(joined.toString('latin1'), repairs),
    );
  }
  for (const [name, value] of plain) {
    // A plain value may hold encoded words (`name="=?utf-8?B?…?="`, against RFC 2047 §5 but
    // common) or raw 8-bit text.
    // A boundary is compared byte for byte and never decoded.
    if (!params.has(name)) params.set(name, name === 'boundary' ? value : decodeHeaderValue(value, repairs));
  }
}

function percentDecode(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out[n++] = parseInt(s.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}
