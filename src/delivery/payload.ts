// A parsed, inspected message → the Cakemail `SubmitEmail` body (docs/architecture.md#message-to-api-mapping), built once per
// message and then copied per envelope recipient. Recipients come only from the envelope:
// `forRecipient` adds `email` and nothing else, so no To/Cc/Bcc address from the headers can
// reach the API (docs/architecture.md#semantics-that-never-bend).
import { randomUUID } from 'node:crypto';
import { attachEncoded, type PreEncoded } from '../cakemail/serialize.ts';
import type { EmailType, SubmitEmail } from '../cakemail/types.ts';
import { cleanBody, cleanLine } from '../mime/clean.ts';
import type { ParsedMessage } from '../mime/types.ts';
import { mapAttachments, type DroppedAttachment } from './attachments.ts';
import type { Controls } from './controls.ts';
import { metadataHeaders } from './dialects/metadata.ts';
import { selectHeaders } from './headers.ts';
import type { Refusal } from './outcome.ts';

export type { DroppedAttachment } from './attachments.ts';

export interface PayloadPolicy {
  attachmentPolicy: 'reject' | 'drop';
  maxAttachmentBytes: number;
  maxTotalAttachmentBytes: number;
  serverName: string;
  defaultEmailType: EmailType;
  defaultListId: number;
}

export interface PayloadInput {
  message: ParsedMessage;
  controls: Controls;
  sender: { id: string; name?: string };
  envelopeFrom: string;
  /** The uuid of a generated Message-ID; injected by tests. */
  newId?: () => string;
}

export interface BuiltMessage {
  base: Omit<SubmitEmail, 'email'>;
  dropped: DroppedAttachment[];
  /** The Message-ID the API receives, with its angle brackets. */
  messageId: string;
  /** True when the message had no usable Message-ID and the gateway made one up. */
  messageIdGenerated: boolean;
}

// content.subject has minLength 1. What mail clients show for a message without one.
export const EMPTY_SUBJECT = '(no subject)';
// html/text have minLength 1 and one of them must be present. A message without any body (an
// attachment-only scan, a bare notification) is sent with a single space: as close to the empty
// body the sender wrote as the API allows, without inventing content.
export const EMPTY_BODY = ' ';

export function buildMessage(
  input: PayloadInput,
  policy: PayloadPolicy,
): { ok: true; built: BuiltMessage } | { ok: false; refusal: Refusal } {
  const { message, controls } = input;
  const mapped = mapAttachments(message.attachments, policy);
  if (!mapped.ok) return mapped;

  const newId = input.newId ?? randomUUID;
  const { headers, messageId, messageIdGenerated } = selectHeaders({
    headers: message.headers,
    replyTo: message.replyTo,
    envelopeFrom: input.envelopeFrom,
    generatedMessageId: () => `<${newId()}@${policy.serverName}>`,
  });

  const content: SubmitEmail['content'] = {
    subject: cleanLine(message.subject) || EMPTY_SUBJECT,
    type: controls.emailType ?? policy.defaultEmailType,
    encoding: 'utf-8',
  };
  const html = message.html ? cleanBody(message.html) : '';
  const text = message.text ? cleanBody(message.text) : '';
  if (html) content.html = html;
  if (text) content.text = text;
  if (!html && !text) content.text = EMPTY_BODY;
  // The parse worker made these bodies' JSON already; used only if cleanBody left them as they were.
  const made = message.bodyJson;
  if (made) {
    const encoded: PreEncoded = {};
    if (made.html && html && html === message.html) encoded.html = { value: html, json: made.html };
    if (made.text && text && text === message.text) encoded.text = { value: text, json: made.text };
    attachEncoded(content, encoded);
  }

  const base: Omit<SubmitEmail, 'email'> = {
    list_id: controls.listId ?? policy.defaultListId,
    sender: senderOf(input.sender),
    content,
  };
  if (controls.tags.length > 0) base.tags = [...controls.tags];
  if (controls.tracking && Object.keys(controls.tracking).length > 0) base.tracking = { ...controls.tracking };
  // Metadata after the message's own headers: Cakemail stores them all as the message's metadata.
  base.additional_headers = controls.metadata ? [...headers, ...metadataHeaders(controls.metadata)] : headers;
  if (mapped.attachments.length > 0) base.attachment = mapped.attachments;
  return { ok: true, built: { base, dropped: mapped.dropped, messageId, messageIdGenerated } };
}

function senderOf(sender: { id: string; name?: string }): SubmitEmail['sender'] {
  const name = sender.name === undefined ? '' : cleanLine(sender.name);
  return name ? { id: sender.id, name } : { id: sender.id };
}

/** The payload for one envelope recipient: a new object, `email` set, everything else shared. */
export function forRecipient(built: BuiltMessage, recipient: string): SubmitEmail {
  return { email: recipient, ...built.base };
}
