// postal-mime's Email → our ParsedMessage. Everything the rest of the gateway reads is decoded to
// UTF-8 here and cleaned of line breaks and controls (clean.ts), so no later stage has to know
// about encoded words, charsets or the parser's shapes.
import type { Address, Attachment, Email } from 'postal-mime';
import { decodeHeader, parseAddresses } from './charsets.ts';
import { cleanBody, cleanLine } from './clean.ts';
import { repairC1 } from './cp1252.ts';
import type { HeaderField, Mailbox, ParsedAttachment, ParsedMessage } from './types.ts';

export function toParsedMessage(email: Email): ParsedMessage {
  const headers: HeaderField[] = [];
  for (const h of email.headers) {
    const name = cleanLine(h.originalKey);
    if (name) headers.push({ name, value: cleanLine(repairC1(decodeHeader(h.value))) });
  }
  const fromFields = email.headers.filter((h) => h.key === 'from');
  const replyTo = email.headers.find((h) => h.key === 'reply-to');
  const subject = email.headers.find((h) => h.key === 'subject');
  const all = (key: string): Mailbox[] => email.headers.filter((h) => h.key === key).flatMap((h) => mailboxes(parseAddresses(h.value)));
  return {
    // Every mailbox of every From field: the duplicate check needs to see all of them, while
    // postal-mime's own `from` keeps only the first field (first-wins since 3.0).
    from: all('from'),
    fromHeaderCount: fromFields.length,
    senderHeaderCount: email.headers.filter((h) => h.key === 'sender').length,
    to: all('to'),
    cc: all('cc'),
    replyTo: replyTo ? mailboxes(parseAddresses(replyTo.value)) : [],
    // First Subject field wins, as in postal-mime.
    subject: subject ? cleanLine(repairC1(decodeHeader(subject.value))) : '',
    text: body(email.text),
    html: body(email.html),
    headers,
    attachments: email.attachments.map(attachment),
  };
}

function body(value: string | undefined): string | null {
  if (!value) return null;
  const cleaned = cleanBody(repairC1(value));
  return cleaned.length > 0 ? cleaned : null;
}

/** Groups are flattened: `team: a@x, b@x;` stands for its members. Empty addresses are dropped. */
function mailboxes(list: Address[]): Mailbox[] {
  const out: Mailbox[] = [];
  for (const a of list) {
    const members = 'group' in a && a.group ? a.group : [a];
    for (const m of members) {
      // An address has no spaces; removing them also removes what cleanLine turned line breaks into.
      const address = cleanLine(m.address ?? '').replace(/\s+/g, '');
      if (address) out.push({ name: cleanLine(repairC1(m.name ?? '')), address });
    }
  }
  return out;
}

function attachment(a: Attachment): ParsedAttachment {
  const content = a.content;
  const bytes =
    typeof content === 'string' ? new TextEncoder().encode(content) : content instanceof Uint8Array ? content : new Uint8Array(content);
  const filename = a.filename ? cleanLine(repairC1(a.filename)) : '';
  const contentId = a.contentId ? cleanLine(a.contentId).replace(/^<+|>+$/g, '') : '';
  return {
    filename: filename || null,
    contentType: (a.mimeType || 'application/octet-stream').toLowerCase(),
    // Any other disposition token (RFC 2183 allows extensions) is not "show inline": treat it as an attachment.
    disposition: a.disposition === 'inline' ? 'inline' : a.disposition ? 'attachment' : null,
    contentId: contentId || null,
    content: bytes,
  };
}
