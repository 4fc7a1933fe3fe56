// The MIME tree → the message's text and HTML bodies and its attachments, as mail programs show
// them (docs/message-mapping.md §1, §5):
// - text/plain and text/html parts that are not attachments form the bodies; inside a
//   multipart/alternative one representation is taken, and a part of one kind only is converted
//   for the other body, as postal-mime renders it;
// - other inline, unnamed text parts (text/x-diff, text/enriched outside an alternative) and the
//   machine-readable parts of bounces and read receipts (message/delivery-status,
//   message/disposition-notification, text/rfc822-headers) are shown as text;
// - an inline message/rfc822 is shown with a header block, one level deep;
// - the detached signature of multipart/signed is marked `signature` (the API cannot carry a
//   signature that would still verify), alternative formats beside a text or HTML body are marked
//   `alternative`; both are left out by the payload stage and logged;
// - encrypted or opaque-signed mail is refused: its content cannot be read without the
//   recipient's key or S/MIME software.
import { addressParser } from 'postal-mime';
import { decodeBytes } from './charsets.ts';
import { decodeHeaderValue, normalizeWords } from './encoded-words.ts';
import type { Repairs } from './repairs.ts';
import { parseTree, type MimePart, type TreeBudget } from './tree.ts';
import { decodeTransfer } from './transfer.ts';
import type { TextFormat } from './text-format.ts';
import type { ParsedAttachment } from './types.ts';

/** A part the MIME stage will not pass on, with the reason the sender reads. */
export class UnsupportedContentError extends Error {}

type TextKind = 'plain' | 'html';
type Entry = { kind: 'text'; value: string } | { kind: 'header'; plain: string; html: string };

export interface Collected {
  text: string | null;
  html: string | null;
  attachments: ParsedAttachment[];
}

// Inline message/rfc822 parts are shown one level deep; deeper ones stay attachments (each
// level is a parse of the rest of the message).
const RFC822_INLINE_DEPTH = 1;
const REPORT_TEXT_TYPES = new Set([
  'message/delivery-status',
  'message/global-delivery-status',
  'message/disposition-notification',
  'message/global-disposition-notification',
  'message/feedback-report',
  'text/rfc822-headers',
  'message/global-headers',
]);
// Text types that are files with an API attachment type, not text to show.
const TEXT_FILES = new Set(['text/calendar', 'text/csv', 'text/x-csv', 'text/comma-separated-values']);
const SIGNATURE_TYPES = new Set([
  'application/pkcs7-signature',
  'application/x-pkcs7-signature',
  'application/pgp-signature',
]);
const ENCRYPTED = new Set([
  'multipart/encrypted',
  'application/pkcs7-mime',
  'application/x-pkcs7-mime',
  'application/pgp-encrypted',
]);

interface Walk {
  format: TextFormat;
  budget: TreeBudget;
  entries: Map<object, Partial<Record<TextKind, Entry[]>>>;
  kinds: Set<TextKind>;
  attachments: ParsedAttachment[];
  rfc822Depth: number;
}

export function collect(root: MimePart, budget: TreeBudget, format: TextFormat): Collected {
  const walk: Walk = { format, budget, entries: new Map(), kinds: new Set(), attachments: [], rfc822Depth: 0 };
  visit(walk, root, null, null, 0);
  return render(walk);
}

function addEntry(walk: Walk, key: object, kind: TextKind, entry: Entry): void {
  const slot = walk.entries.get(key) ?? {};
  walk.entries.set(key, slot);
  (slot[kind] ??= []).push(entry);
  walk.kinds.add(kind);
}

function bytesOf(part: MimePart): { bytes: Uint8Array; uuFilename?: string } {
  const decoded = decodeTransfer(part.transferEncoding, part.body);
  if (!decoded.ok) {
    throw new UnsupportedContentError(
      `Content-Transfer-Encoding "${decoded.encoding.slice(0, 40)}" of a ${part.type} part is not one the gateway can decode`,
    );
  }
  return decoded;
}

function textOf(walk: Walk, part: MimePart, bytes: Uint8Array): string {
  let text = decodeBytes(bytes, part.params.get('charset'), walk.budget.repairs);
  if (/^flowed$/i.test(part.params.get('format') ?? ''))
    text = unflow(text, /^yes$/i.test(part.params.get('delsp') ?? ''));
  return text;
}

function visit(walk: Walk, part: MimePart, alternative: MimePart | null, parent: MimePart | null, index: number): void {
  // The whole message encrypted or S/MIME-wrapped; a .p7m file attached to a readable message is
  // an attachment like any other and follows the policy.
  if (ENCRYPTED.has(part.type) && (part.depth === 0 || part.type === 'multipart/encrypted')) {
    throw new UnsupportedContentError(
      `${part.type} content is encrypted or S/MIME-wrapped and cannot be read to relay it; send it unencrypted or clear-signed (multipart/signed)`,
    );
  }
  if (part.multipart) {
    const alt = part.multipart === 'alternative' ? part : alternative;
    part.children.forEach((child, i) => visit(walk, child, alt, part, i));
    return;
  }
  const attached = part.disposition === 'attachment';
  const named = Boolean(part.dispositionParams.get('filename') || part.params.get('name'));
  if (
    !attached &&
    (part.type === 'message/rfc822' || part.type === 'message/global') &&
    walk.rfc822Depth < RFC822_INLINE_DEPTH
  ) {
    inlineMessage(walk, part);
    return;
  }
  if (!attached && (part.type === 'text/plain' || part.type === 'text/html')) {
    const { bytes } = bytesOf(part);
    addEntry(walk, alternative ?? part, part.type === 'text/html' ? 'html' : 'plain', {
      kind: 'text',
      value: textOf(walk, part, bytes),
    });
    return;
  }
  const signature = parent?.multipart === 'signed' && index > 0 && SIGNATURE_TYPES.has(part.type);
  // Report parts are shown even when named (Thunderbird names them MDNPart2.txt).
  const showable =
    !attached &&
    (REPORT_TEXT_TYPES.has(part.type) || (!named && part.type.startsWith('text/') && !TEXT_FILES.has(part.type)));
  if (showable && !(alternative && part.type.startsWith('text/'))) {
    const { bytes } = bytesOf(part);
    addEntry(walk, alternative ?? part, 'plain', { kind: 'text', value: textOf(walk, part, bytes) });
    return;
  }
  const { bytes, uuFilename } = bytesOf(part);
  const filename = part.dispositionParams.get('filename') || part.params.get('name') || uuFilename || '';
  const attachment: ParsedAttachment = {
    filename: filename || null,
    contentType: part.type,
    disposition: part.disposition === 'inline' ? 'inline' : part.disposition ? 'attachment' : null,
    contentId: part.contentId,
    content: TEXT_FILES.has(part.type) ? utf8Text(walk, part, bytes) : bytes,
  };
  if (signature) attachment.role = 'signature';
  else if (showable) attachment.role = 'alternative';
  walk.attachments.push(attachment);
}

// A calendar or CSV in a legacy charset is sent as UTF-8, the encoding the API's consumers read;
// UTF-8 and ASCII content keeps its exact bytes (an .ics keeps its CRLF lines, RFC 5545 §3.1).
function utf8Text(walk: Walk, part: MimePart, bytes: Uint8Array): Uint8Array {
  const charset = (part.params.get('charset') ?? '').toLowerCase();
  if (!charset || charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii') return bytes;
  return Buffer.from(decodeBytes(bytes, charset, walk.budget.repairs), 'utf8');
}

function inlineMessage(walk: Walk, part: MimePart): void {
  const { bytes } = bytesOf(part);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const root = parseTree(buf, walk.budget, part.depth + 1);
  const inner: Walk = {
    ...walk,
    entries: new Map(),
    kinds: new Set(),
    attachments: [],
    rfc822Depth: walk.rfc822Depth + 1,
  };
  visit(inner, root, null, null, 0);
  const fields = headerFields(root, walk.budget.repairs);
  const header: Entry = {
    kind: 'header',
    plain: walk.format.formatTextHeader(fields),
    html: walk.format.formatHtmlHeader(fields),
  };
  // As postal-mime renders it: the header block joins the text body unless the message has HTML only.
  if (inner.kinds.has('plain') || !inner.kinds.has('html')) addEntry(walk, part, 'plain', header);
  if (inner.kinds.has('html')) addEntry(walk, part, 'html', header);
  for (const [key, slot] of inner.entries) walk.entries.set(key, slot);
  for (const k of inner.kinds) walk.kinds.add(k);
  walk.attachments.push(...inner.attachments);
}

function headerFields(root: MimePart, repairs: Repairs): Parameters<TextFormat['formatTextHeader']>[0] {
  const value = (key: string): string | undefined => root.headers.find((h) => h.key === key)?.value;
  const addresses = (key: string) =>
    root.headers.filter((h) => h.key === key).flatMap((h) => addressParser(normalizeWords(h.value, repairs)));
  const fields: Parameters<TextFormat['formatTextHeader']>[0] = {};
  const from = addresses('from')[0];
  if (from) fields.from = from;
  const subject = value('subject');
  if (subject) fields.subject = decodeHeaderValue(subject, repairs);
  const date = value('date');
  if (date) {
    const d = new Date(date);
    fields.date = Number.isNaN(d.getTime()) ? date : d.toISOString();
  }
  const to = addresses('to');
  if (to.length) fields.to = to;
  const cc = addresses('cc');
  if (cc.length) fields.cc = cc;
  return fields;
}

function render(walk: Walk): Collected {
  const out: Record<TextKind, string[]> = { plain: [], html: [] };
  for (const slot of walk.entries.values()) {
    for (const kind of walk.kinds) {
      const own = slot[kind];
      const entries = own ?? slot[kind === 'html' ? 'plain' : 'html'] ?? [];
      for (const e of entries) {
        if (e.kind === 'header') out[kind].push(kind === 'html' ? e.html : e.plain);
        else if (own) out[kind].push(e.value);
        else out[kind].push(kind === 'html' ? walk.format.textToHtml(e.value) : walk.format.htmlToText(e.value));
      }
    }
  }
  return {
    text: out.plain.join('\n') || null,
    html: out.html.join('\n') || null,
    attachments: walk.attachments,
  };
}

// RFC 3676 format=flowed: a line ending in a space continues on the next one (delsp=yes: that
// space was added and goes); a leading space is stuffing; "-- " (the signature separator) stays.
function unflow(text: string, delSp: boolean): string {
  const lines = text.split(/\r?\n/);
  let out = '';
  let prevSoft = false;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string;
    if (line.startsWith(' ')) line = line.slice(1);
    if (i > 0 && !prevSoft) out += '\n';
    const soft = line.endsWith(' ') && line !== '-- ';
    out += soft && delSp ? line.slice(0, -1) : line;
    prevSoft = soft;
  }
  return out;
}
