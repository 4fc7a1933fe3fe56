// The mapping decisions of one message, in words, for its trace (docs/security.md, "Message
// traces"): which header fields travel to Cakemail as they are, which under another name, which
// are represented by payload fields, which control headers were honoured, which were left out;
// which parts were dropped and why. Names only, never header values: a trace holds no content.
import type { ParsedMessage } from '../mime/types.ts';
import { CONTROL_HEADER_NAMES } from './controls.ts';
import type { BuiltMessage } from './payload.ts';

/** Header fields whose content becomes a payload field (sender, subject, body, recipients from the envelope). */
const AS_FIELDS = new Set(['from', 'subject', 'to', 'cc', 'sender', 'content-type', 'content-transfer-encoding']);
const CONTROL = new Set(CONTROL_HEADER_NAMES);

export function mappingNotes(message: ParsedMessage, built: BuiltMessage): string[] {
  const sent = new Map((built.base.additional_headers ?? []).map((h) => [h.name.toLowerCase(), h.name]));
  const kept: string[] = [];
  const renamed: string[] = [];
  const fields: string[] = [];
  const controls: string[] = [];
  const dropped: string[] = [];
  const seen = new Set<string>();
  for (const h of message.headers) {
    const lower = h.name.toLowerCase();
    if (seen.has(lower)) continue;
    seen.add(lower);
    const as = sent.get(lower);
    if (as === h.name) kept.push(h.name);
    else if (as !== undefined) renamed.push(`${h.name} → ${as}`);
    else if (CONTROL.has(lower)) controls.push(h.name);
    else if (AS_FIELDS.has(lower)) fields.push(h.name);
    else dropped.push(h.name);
  }
  const notes: string[] = [];
  if (kept.length) notes.push(`headers forwarded: ${kept.join(', ')}`);
  if (renamed.length) notes.push(`headers forwarded under their canonical name: ${renamed.join(', ')}`);
  if (fields.length)
    notes.push(`headers carried as payload fields (recipients come from the envelope): ${fields.join(', ')}`);
  if (controls.length) notes.push(`control headers honoured and consumed: ${controls.join(', ')}`);
  if (dropped.length)
    notes.push(`headers not forwarded (composed by Cakemail or not the sender's to set): ${dropped.join(', ')}`);
  if (built.messageIdGenerated) notes.push(`no usable Message-ID: generated ${built.messageId}`);
  for (const d of built.dropped)
    notes.push(`attachment dropped (${d.kind}): ${d.filename || '(unnamed)'} ${d.contentType}: ${d.reason}`);
  const attachments = built.base.attachment?.length ?? 0;
  if (attachments) notes.push(`${attachments} attachment${attachments === 1 ? '' : 's'} sent`);
  return notes;
}
