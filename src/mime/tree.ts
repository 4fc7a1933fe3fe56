// Raw message bytes → a tree of MIME parts, in one synchronous pass with Buffer operations
// (docs/architecture.md explains why this is ours and not postal-mime's). A part's body is a
// view into the raw bytes, never a copy and never re-joined from lines, so identity-encoded
// content keeps every byte. Structural limits are checked while the tree grows: the part count,
// the nesting depth, the header bytes and the number of top-level header fields stop the walk
// the moment they are exceeded, so a bomb costs at most the bytes read up to its limit.
import { parseStructured, type StructuredValue } from './params.ts';
import { noteRepair, type RepairKind, type Repairs } from './repairs.ts';
import { transferToken } from './transfer.ts';

export interface RawHeader {
  /** Field name as written. */
  name: string;
  /** Lower-case field name. */
  key: string;
  /** Unfolded value as a binary string (one char per byte), surrounding whitespace trimmed. */
  value: string;
}

export interface MimePart {
  headers: RawHeader[];
  /** Lower-case media type; a missing or invalid Content-Type reads as text/plain (RFC 2045 §5.2). */
  type: string;
  params: Map<string, string>;
  /** Lower-case disposition token, null when absent. */
  disposition: string | null;
  dispositionParams: Map<string, string>;
  transferEncoding: string;
  contentId: string | null;
  /** The multipart subtype when this part has children. */
  multipart: string | null;
  /** Raw body bytes: a view into the message. */
  body: Uint8Array;
  children: MimePart[];
  depth: number;
}

export interface TreeLimits {
  maxDepth: number;
  maxParts: number;
  maxHeaderBytes: number;
  maxHeaderFields: number;
}

export type LimitName = 'depth' | 'parts' | 'header_bytes' | 'header_fields';

/** Thrown inside the MIME stage only; parse-message.ts turns it into a typed ParseFailure. */
export class MimeLimitError extends Error {
  constructor(
    readonly limit: LimitName,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Shared by a message and the messages parsed inside it, so nesting cannot multiply a budget. */
export interface TreeBudget {
  limits: TreeLimits;
  parts: number;
  headerBytes: number;
  /** What was repaired to read the message (repairs.ts), for the log line and the counter. */
  repairs: Repairs;
}

const MEDIA_TYPE = /^[a-z0-9!#$%&'*+.^_`|~-]+\/[a-z0-9!#$%&'*+.^_`|~-]+$/;
// A field name followed by a colon (whitespace before the colon is tolerated, RFC 822 allowed it).
// Wider than RFC 5322's printable ASCII: a name with an 8-bit byte (`Sübject:`) is still a broken
// header line, not the start of the body; headers.ts forwards only RFC 5322 names.
const FIELD = /^[^\s:\x00-\x1f\x7f]+[ \t]*:/;

export function newBudget(limits: TreeLimits): TreeBudget {
  return { limits, parts: 0, headerBytes: 0, repairs: {} };
}

export function parseTree(buf: Buffer, budget: TreeBudget, depth = 0, parentMultipart: string | null = null): MimePart {
  return parsePart(buf, 0, buf.length, budget, depth, parentMultipart);
}

function parsePart(
  buf: Buffer,
  start: number,
  end: number,
  budget: TreeBudget,
  depth: number,
  parentMultipart: string | null,
): MimePart {
  if (depth > budget.limits.maxDepth)
    throw new MimeLimitError('depth', `MIME nesting depth exceeds ${budget.limits.maxDepth}`);
  const { headers, bodyStart } = readHeaders(buf, start, end, budget, depth === 0);
  const first = (key: string): RawHeader | undefined => headers.find((h) => h.key === key);

  const ct = first('content-type');
  const parsedType: StructuredValue = ct ? parseStructured(ct.value, budget.repairs) : { value: '', params: new Map() };
  // RFC 2046 §5.1.5: the parts of a multipart/digest default to message/rfc822.
  const fallback = parentMultipart === 'digest' ? 'message/rfc822' : 'text/plain';
  let type = MEDIA_TYPE.test(parsedType.value) ? parsedType.value : fallback;
  const boundary = parsedType.params.get('boundary');
  // A multipart without a boundary cannot be split; mail programs show it as text.
  if (type.startsWith('multipart/') && !boundary) type = 'text/plain';
  const cd = first('content-disposition');
  const parsedDisposition = cd ? parseStructured(cd.value, budget.repairs) : null;
  const cid = stripAngles(first('content-id')?.value ?? '');
  const part: MimePart = {
    headers,
    type,
    params: parsedType.params,
    disposition: parsedDisposition?.value || null,
    dispositionParams: parsedDisposition?.params ?? new Map(),
    transferEncoding: transferToken(first('content-transfer-encoding')?.value ?? ''),
    contentId: cid || null,
    multipart: null,
    body: buf.subarray(bodyStart, end),
    children: [],
    depth,
  };
  if (type.startsWith('multipart/') && boundary) {
    part.multipart = type.slice('multipart/'.length);
    const delimiters = findDelimiters(buf, bodyStart, end, boundary, 2 * budget.limits.maxParts + 2);
    if (!delimiters.some((d) => !d.close)) return withoutParts(part, buf, bodyStart, end, delimiters, budget);
    // Delimiter i opens a part that runs to delimiter i + 1; the last closing delimiter ends the
    // multipart. A closing delimiter with opening ones after it is stray (an "extra ending
    // boundary"): it is read as the delimiter it nearly is, so text after it is not lost, and
    // blank content after it is no part. No closing delimiter: the last part runs to the end of
    // the parent, as mail programs read a truncated message.
    let lastOpen = delimiters.length - 1;
    while (lastOpen >= 0 && (delimiters[lastOpen] as Delimiter).close) lastOpen--;
    let i = 0;
    let closed = false;
    while (i < delimiters.length) {
      const d = delimiters[i] as Delimiter;
      if (d.close) {
        if (i > lastOpen) {
          closed = true;
          break;
        }
        noteRepair(budget.repairs, 'stray_closing_boundary');
        const after = delimiters[i + 1] as Delimiter;
        if (isBlank(buf, d.lineEnd, after.at)) {
          i++;
          continue;
        }
      }
      countPart(budget);
      const start = d.lineEnd;
      const next = delimiters[i + 1];
      const saved = { parts: budget.parts, headerBytes: budget.headerBytes };
      let child = parsePart(buf, start, next ? before(buf, start, next.at) : end, budget, depth + 1, part.multipart);
      i++;
      if (child.multipart && child.params.get('boundary') === boundary) {
        // A nested multipart that reuses this boundary (Outlook Express for Mac writes these): it
        // owns the delimiters up to the first closing one, as a parser reading line by line with
        // a stack of boundaries sees it; this multipart continues after that.
        let close = i;
        while (close < delimiters.length && !(delimiters[close] as Delimiter).close) close++;
        const closing = delimiters[close];
        budget.parts = saved.parts;
        budget.headerBytes = saved.headerBytes;
        child = parsePart(
          buf,
          start,
          closing ? before(buf, start, closing.at) : end,
          budget,
          depth + 1,
          part.multipart,
        );
        i = close + 1;
        if (!closing) closed = true; // the nested one already counted the missing close
      }
      part.children.push(child);
    }
    if (!closed) noteRepair(budget.repairs, 'multipart_unterminated');
  }
  return part;
}

function countPart(budget: TreeBudget): void {
  budget.parts++;
  if (budget.parts > budget.limits.maxParts)
    throw new MimeLimitError('parts', `MIME part count exceeds ${budget.limits.maxParts}`);
}

/**
 * A multipart in which no opening delimiter appears (the boundary in the body differs from the
 * declared one, the start delimiter is missing, or there are no parts at all). Mail programs
 * show its text rather than nothing, so its content before the first closing delimiter (all of
 * it when there is none) is read as its one part: with that part's own header when it starts
 * with one that describes content (the start delimiter alone is missing), else as plain text,
 * exactly as written. Blank content is no part at all.
 */
function withoutParts(
  part: MimePart,
  buf: Buffer,
  bodyStart: number,
  end: number,
  delimiters: Delimiter[],
  budget: TreeBudget,
): MimePart {
  const close = delimiters[0];
  const contentEnd = close ? before(buf, bodyStart, close.at) : end;
  if (isBlank(buf, bodyStart, contentEnd)) return part;
  noteRepair(budget.repairs, 'multipart_without_parts');
  const first = lineAt(buf, bodyStart, contentEnd);
  if (
    !/^content-/i.test(buf.toString('latin1', bodyStart, first.end)) ||
    !FIELD.test(buf.toString('latin1', bodyStart, first.end))
  )
    return asText(part, buf.subarray(bodyStart, contentEnd));
  countPart(budget);
  const saved = { parts: budget.parts, headerBytes: budget.headerBytes, repairs: { ...budget.repairs } };
  const child = parsePart(buf, bodyStart, contentEnd, budget, part.depth + 1, part.multipart);
  if (child.headers.some((h) => h.key.startsWith('content-'))) {
    part.children.push(child);
    return part;
  }
  // Not a part's header: the whole content is text, and what reading it as a part noted is void.
  budget.parts = saved.parts;
  budget.headerBytes = saved.headerBytes;
  for (const kind of Object.keys(budget.repairs) as RepairKind[]) budget.repairs[kind] = saved.repairs[kind];
  return asText(part, buf.subarray(bodyStart, contentEnd));
}

function asText(part: MimePart, body: Buffer): MimePart {
  return { ...part, type: 'text/plain', params: new Map(), multipart: null, body };
}

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

function readHeaders(
  buf: Buffer,
  start: number,
  end: number,
  budget: TreeBudget,
  topLevel: boolean,
): { headers: RawHeader[]; bodyStart: number } {
  const headers: RawHeader[] = [];
  const folded: string[][] = [];
  let pos = start;
  let bodyStart = end;
  const max = budget.limits.maxHeaderBytes;
  let sawFrom = false;
  // Where a From field stands further down this header block (-1: none), looked up once.
  let fromAhead: number | undefined;
  while (pos < end) {
    const line = lineAt(buf, pos, end);
    budget.headerBytes += line.next - pos;
    if (budget.headerBytes > max) throw new MimeLimitError('header_bytes', `MIME header size exceeds ${max} bytes`);
    if (line.end === pos) {
      bodyStart = line.next;
      break;
    }
    const text = buf.toString('latin1', pos, line.end);
    const c = text.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      // Folded continuation (RFC 5322 §2.2.3). A whitespace-only line is one too, as most mail
      // programs read it; one before any field is not a header at all: skipped, and reading goes on.
      const last = folded[folded.length - 1];
      if (last) last.push(text);
      else noteRepair(budget.repairs, 'malformed_header_line');
      pos = line.next;
      continue;
    }
    if (text.startsWith('From ')) {
      // An mbox "From " envelope line some programs leave in front of the message (or, after a
      // Return-Path, inside its header): not a field, skipped.
      if (pos !== start) noteRepair(budget.repairs, 'malformed_header_line');
      pos = line.next;
      continue;
    }
    if (!FIELD.test(text)) {
      const skip = malformedLineEnd(buf, line.next, end);
      if (skip !== null) {
        // A broken line (no colon) with header fields after it: mainstream parsers note a defect
        // and keep reading the header, so the From and Subject below it are not lost.
        noteRepair(budget.repairs, 'malformed_header_line');
        budget.headerBytes += skip - line.next;
        pos = skip;
        continue;
      }
      if (topLevel && !sawFrom) {
        // Several broken lines in a row, with the message's From still below them: the header
        // goes on, as above (a body is never read as fields here: From has not been seen yet and
        // a From field follows before the first blank line).
        fromAhead ??= fromFieldAt(buf, line.next, end);
        if (fromAhead > pos) {
          noteRepair(budget.repairs, 'malformed_header_line');
          pos = line.next;
          continue;
        }
      }
      // Not a header field and no blank line before it: the body starts here, as mail programs
      // (and Python's email package) read a message that lacks the separator.
      noteRepair(budget.repairs, 'missing_header_separator');
      budget.headerBytes -= line.next - pos;
      bodyStart = pos;
      break;
    }
    folded.push([text]);
    if (!sawFrom && FROM_FIELD.test(text)) sawFrom = true;
    if (topLevel && folded.length > budget.limits.maxHeaderFields) {
      throw new MimeLimitError('header_fields', `message has more than ${budget.limits.maxHeaderFields} header fields`);
    }
    pos = line.next;
  }
  for (const lines of folded) {
    const unfolded = lines.length === 1 ? (lines[0] as string) : lines.join('');
    const colon = unfolded.indexOf(':');
    const name = unfolded.slice(0, colon).trim();
    headers.push({ name, key: name.toLowerCase(), value: trimWsp(unfolded.slice(colon + 1)) });
  }
  return { headers, bodyStart };
}

/** The line at `pos`: where its content ends (before CR LF or LF) and where the next one starts. */
function lineAt(buf: Buffer, pos: number, end: number): { end: number; next: number } {
  let nl = buf.indexOf(0x0a, pos);
  if (nl < 0 || nl >= end) nl = end;
  let lineEnd = nl;
  if (lineEnd > pos && buf[lineEnd - 1] === 0x0d) lineEnd--;
  return { end: lineEnd, next: nl < end ? nl + 1 : end };
}

/**
 * After a header line that is not a field, starting at `pos`: where reading the header goes on
 * (past the broken line's own continuation lines) when a header field follows, else null (the
 * broken line starts the body).
 */
function malformedLineEnd(buf: Buffer, pos: number, end: number): number | null {
  while (pos < end) {
    const line = lineAt(buf, pos, end);
    if (line.end === pos) return null;
    const c = buf[pos];
    if (c !== 0x20 && c !== 0x09) return FIELD.test(buf.toString('latin1', pos, line.end)) ? pos : null;
    pos = line.next;
  }
  return null;
}

const FROM_FIELD = /^from[ \t]*:/i;

/** Where the first From field stands from `pos` to the end of the header block (a blank line), or -1. */
function fromFieldAt(buf: Buffer, pos: number, end: number): number {
  while (pos < end) {
    const line = lineAt(buf, pos, end);
    if (line.end === pos) return -1;
    if (FROM_FIELD.test(buf.toString('latin1', pos, Math.min(line.end, pos + 64)))) return pos;
    pos = line.next;
  }
  return -1;
}

/** `<id@host>` → `id@host`, by index (a `/>+$/` pattern backtracks over a long run of ">"). */
function stripAngles(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === '<' || s[a] === ' ' || s[a] === '\t')) a++;
  while (b > a && (s[b - 1] === '>' || s[b - 1] === ' ' || s[b - 1] === '\t')) b--;
  return s.slice(a, b);
}

// An index scan: `/[ \t]+$/` retries at every position of a long blank run in the middle of a
// value, which makes one crafted header cost seconds.
function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return s.slice(a, b);
}

interface Delimiter {
  /** Offset of the "--". */
  at: number;
  /** Offset after the delimiter line. */
  lineEnd: number;
  close: boolean;
}

/**
 * The delimiter lines of `boundary` in [bodyStart, end) (RFC 2046 §5.1.1), closing ones included,
 * at most `max` of them (the part limit stops the walk before more could matter).
 */
function findDelimiters(buf: Buffer, bodyStart: number, end: number, boundary: string, max: number): Delimiter[] {
  const out: Delimiter[] = [];
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  // A view ending at this part's end: indexOf must not scan the rest of the message.
  const scope = buf.subarray(0, end);
  let search = bodyStart;
  while (search < end && out.length < max) {
    const at = scope.indexOf(delimiter, search);
    if (at < 0) break;
    search = at + 1;
    if (at !== bodyStart && buf[at - 1] !== 0x0a) continue;
    let p = at + delimiter.length;
    const close = buf[p] === 0x2d && buf[p + 1] === 0x2d && p + 1 < end;
    if (close) p += 2;
    while (p < end && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
    if (p < end && buf[p] === 0x0d) p++;
    if (p < end && buf[p] !== 0x0a) continue;
    const lineEnd = p < end ? p + 1 : end;
    out.push({ at, lineEnd, close });
    search = lineEnd;
  }
  return out;
}

/** The end of a part's content before a delimiter: the line break before it belongs to the delimiter. */
function before(buf: Buffer, partStart: number, at: number): number {
  let e = at;
  if (e > partStart && buf[e - 1] === 0x0a) e--;
  if (e > partStart && buf[e - 1] === 0x0d) e--;
  return e;
}
