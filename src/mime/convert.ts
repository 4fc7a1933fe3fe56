// The MIME tree → our ParsedMessage. Everything the rest of the gateway reads is decoded to
// UTF-8 here, cleaned of line breaks and controls (clean.ts) and cut to the lengths in
// docs/message-mapping.md §6, so no later stage has to know about encoded words, charsets or
// the parser's shapes.
import { addressParser, type Address } from 'postal-mime';
import { collect } from './body.ts';
import { cleanBody, cleanLine } from './clean.ts';
import { decodeHeaderValue, normalizeWords } from './encoded-words.ts';
import type { TextFormat } from './text-format.ts';
import type { MimePart, TreeBudget } from './tree.ts';
import type { HeaderField, Mailbox, ParsedMessage } from './types.ts';

/** Longest display name kept (a From name becomes `sender.name`). */
export const MAX_DISPLAY_NAME = 256;
/** Longest subject kept: RFC 5322's line limit; no client shows more. */
export const MAX_SUBJECT = 998;
/** Longest other decoded header value kept. */
export const MAX_HEADER_VALUE = 4000;

export function toParsedMessage(root: MimePart, budget: TreeBudget, format: TextFormat): ParsedMessage {
  const headers: HeaderField[] = [];
  // Every top-level field is decoded here once with its repairs counted; From, Reply-To and
  // Subject are read again below from the same raw values, so they count nothing twice.
  for (const h of root.headers) {
    const name = cleanLine(h.name);
    if (name) headers.push({ name, value: capHeader(h.key, cleanLine(decodeHeaderValue(h.value, budget.repairs))) });
  }
  const all = (key: string): Mailbox[] =>
    root.headers.filter((h) => h.key === key).flatMap((h) => mailboxes(parseAddressList(h.value)));
  const replyTo = root.headers.find((h) => h.key === 'reply-to');
  const subject = root.headers.find((h) => h.key === 'subject');
  const body = collect(root, budget, format);
  const text = bodyText(body.text);
  const html = bodyText(body.html);
  return {
    // Every mailbox of every From field: the duplicate check needs to see all of them.
    from: all('from'),
    fromHeaderCount: root.headers.filter((h) => h.key === 'from').length,
    senderHeaderCount: root.headers.filter((h) => h.key === 'sender').length,
    to: all('to'),
    cc: all('cc'),
    replyTo: replyTo ? mailboxes(parseAddressList(replyTo.value)) : [],
    // First Subject field wins.
    subject: subject ? cut(cleanLine(decodeHeaderValue(subject.value)), MAX_SUBJECT) : '',
    text,
    html,
    headers,
    attachments: body.attachments.map((a) => ({
      ...a,
      filename: a.filename ? cleanLine(a.filename) || null : null,
      contentId: a.contentId ? cleanLine(a.contentId) || null : null,
    })),
    repairs: budget.repairs,
  };
}

function bodyText(value: string | null): string | null {
  if (!value) return null;
  const cleaned = cleanBody(value);
  return cleaned.length > 0 ? cleaned : null;
}

function parseAddressList(raw: string): Address[] {
  return addressParser(resolveCommentEscapes(normalizeWords(raw)));
}

// postal-mime's address parser ends a comment at the first ")" even when it is escaped
// (`Pete(A wonderful \) chap)` gives the name "Pete chap)"), and keeps comments inside an
// address. Comments inside <…> are removed; elsewhere escaped characters in a comment are
// removed, which leaves what mail programs show.
function resolveCommentEscapes(value: string): string {
  if (!value.includes('(')) return value;
  let out = '';
  let depth = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (depth > 0) {
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === '(') depth++;
      else if (c === ')') depth--;
      if (!angle) out += c;
      continue;
    }
    if (quoted) {
      out += c;
      if (c === '\\' && i + 1 < value.length) out += value[++i];
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '<') angle = true;
    else if (c === '>') angle = false;
    else if (c === '(') {
      depth = 1;
      if (!angle) out += c;
      continue;
    }
    out += c;
  }
  return depth > 0 ? value : out;
}

/** Groups are flattened: `team: a@x, b@x;` stands for its members. Empty addresses are dropped. */
function mailboxes(list: Address[]): Mailbox[] {
  const out: Mailbox[] = [];
  const walk = (items: Address[]): void => {
    for (const a of items) {
      if ('group' in a && a.group) {
        walk(a.group as Address[]);
        continue;
      }
      // An address has no spaces; removing them also removes what cleanLine turned line breaks into.
      const address = cleanLine(a.address ?? '').replace(/\s+/g, '');
      if (address) out.push({ name: cut(cleanLine(a.name ?? ''), MAX_DISPLAY_NAME), address });
    }
  };
  walk(list);
  return out;
}

// References lists a thread's ancestors oldest first; when it is too long the oldest go, whole
// (RFC 5322 §3.6.4 lets a writer trim it), so every Message-ID kept stays intact.
function capHeader(key: string, value: string): string {
  if (value.length <= MAX_HEADER_VALUE) return value;
  if (key === 'references') {
    const ids = value.split(/\s+/);
    const kept: string[] = [];
    let length = 0;
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i] as string;
      if (length + id.length + 1 > MAX_HEADER_VALUE) break;
      kept.unshift(id);
      length += id.length + 1;
    }
    return kept.join(' ');
  }
  return cut(value, MAX_HEADER_VALUE);
}

/** At most `max` UTF-16 units, never ending in half a surrogate pair. */
function cut(value: string, max: number): string {
  if (value.length <= max) return value;
  const code = value.charCodeAt(max - 1);
  return value.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max).trimEnd();
}
