// Which header fields travel to Cakemail as `additional_headers` (docs/architecture.md#message-to-api-mapping, docs/cakemail-api.md
// §3.6). An allowlist: threading and list headers the recipient's client needs, and the sender's
// own X-* headers. Everything else is either represented by a payload field (From, Subject, the
// body's Content-*), composed by Cakemail when it sends (Date, MIME-Version, Received, DKIM), or
// must never be given to the API (To/Cc/Bcc: recipients come only from the envelope).
import { cleanLine } from '../mime/clean.ts';
import type { HeaderField, Mailbox } from '../mime/types.ts';
import { isDialectHeader } from './dialects/table.ts';

export interface ApiHeader {
  name: string;
  value: string;
}

/** Standard fields forwarded once (first occurrence wins, as in the parser), with canonical names. */
const FORWARDED = new Map<string, string>([
  ['reply-to', 'Reply-To'],
  ['message-id', 'Message-ID'],
  ['in-reply-to', 'In-Reply-To'],
  ['references', 'References'],
  ['list-unsubscribe', 'List-Unsubscribe'],
  ['list-unsubscribe-post', 'List-Unsubscribe-Post'],
]);

// X-* fields that are not the sender's to set: trace and verdict headers of other systems (a
// client-written "X-Spam-Status: No" or Exchange organization header must not ride along as if a
// filter had written it). The relays' own headers (X-SMTPAPI, X-Mailgun-*, …) and the gateway's
// (X-Cakemail-*, X-Metadata-*) are the dialect table's: read there, never forwarded as they are
// (those relays strip them before delivery; forwarding would show recipients X-Mailgun-Variables).
const X_DROPPED_PREFIXES = [
  'x-ms-',
  'x-spam',
  'x-virus',
  'x-google-',
  'x-gm-',
  'x-received',
  'x-forwarded-',
  'x-original-',
];
const X_DROPPED = new Set(['x-sender-envelope-from', 'x-originating-ip', 'x-authenticated-sender', 'x-sender']);

// RFC 5322 §2.2 field name: printable ASCII except ":".
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;

export function isForwardedCustom(lowerName: string): boolean {
  return (
    lowerName.startsWith('x-') &&
    !isDialectHeader(lowerName) &&
    !X_DROPPED.has(lowerName) &&
    !X_DROPPED_PREFIXES.some((p) => lowerName.startsWith(p))
  );
}

export interface HeaderInput {
  headers: readonly HeaderField[];
  replyTo?: readonly Mailbox[] | undefined;
  envelopeFrom: string;
  /** Used when the message has no usable Message-ID. */
  generatedMessageId: () => string;
}

export function selectHeaders(input: HeaderInput): {
  headers: ApiHeader[];
  messageId: string;
  messageIdGenerated: boolean;
} {
  const out: ApiHeader[] = [];
  const seen = new Set<string>();
  let messageId: string | null = null;
  for (const h of input.headers) {
    const lower = h.name.toLowerCase();
    // Values are already single-line (clean.ts); cleaning again keeps this function safe on its own.
    const value = cleanLine(h.value);
    if (!value || !FIELD_NAME.test(h.name)) continue;
    const canonical = FORWARDED.get(lower);
    if (canonical) {
      if (seen.has(lower)) continue;
      seen.add(lower);
      if (lower === 'message-id') {
        // A Message-ID that is not "<left@right>" is replaced: threading needs a valid one.
        if (!/^<[^<>\s@]+@[^<>\s@]+>$/.test(value)) continue;
        messageId = value;
      }
      out.push({ name: canonical, value: lower === 'reply-to' ? replyToValue(input.replyTo, value) : value });
    } else if (isForwardedCustom(lower)) {
      out.push({ name: h.name, value });
    }
  }
  const messageIdGenerated = messageId === null;
  if (messageId === null) {
    messageId = input.generatedMessageId();
    out.push({ name: 'Message-ID', value: messageId });
  }
  // Cakemail's own relay convention (docs/cakemail-api.md §3.6): the envelope sender travels as a header.
  const envelopeFrom = cleanLine(input.envelopeFrom).replace(/\s+/g, '');
  if (envelopeFrom) out.push({ name: 'X-Sender-Envelope-From', value: envelopeFrom });
  return { headers: out, messageId, messageIdGenerated };
}

// The decoded header value of `=?utf-8?Q?Doe=2C_John?= <j@x>` reads "Doe, John <j@x>": two
// addresses to anyone parsing it again. Rebuilt from the parsed mailboxes, names quoted.
function replyToValue(mailboxes: readonly Mailbox[] | undefined, fallback: string): string {
  if (!mailboxes || mailboxes.length === 0) return fallback;
  return mailboxes.map((m) => (m.name ? `"${m.name.replace(/["\\]/g, '\\$&')}" <${m.address}>` : m.address)).join(', ');
}
