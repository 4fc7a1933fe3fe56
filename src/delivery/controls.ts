// Gateway control headers (docs/message-mapping.md §3): the Cakemail relay dialect, plus the
// headers of the relays applications migrate from (SendGrid, Mailgun, Postmark, Mandrill, SES,
// Brevo), so an application changes only its SMTP host. Which header does what is the dialect
// table (dialects/table.ts); this reads a message's headers through it. Control headers are
// consumed here and never forwarded as they are (headers.ts). A header the gateway cannot honour
// is refused naming it, never silently ignored: a sender who asked for list 12 must not have its
// mail sent to the default list, and a CI job that asked for test mode must not email customers.
import type { EmailType } from '../cakemail/types.ts';
import type { HeaderField } from '../mime/types.ts';
import { newDraft, type Tracking } from './dialects/draft.ts';
import type { MetadataEntry } from './dialects/metadata.ts';
import { DIALECTS, lookupHeader } from './dialects/table.ts';
import { uniqueIgnoringCase } from './text.ts';

export type { Tracking } from './dialects/draft.ts';

export interface Controls {
  senderId?: string;
  listId?: number;
  emailType?: EmailType;
  /** `X-Account-Id` / `X-Cakemail-Account-Id` (docs/architecture.md#credentials-and-accounts): the sub-account to send as. */
  accountId?: number;
  tags: string[];
  tracking?: Tracking;
  /** Forwarded as `X-Metadata-<key>` (dialects/metadata.ts). */
  metadata?: MetadataEntry[];
  /** Test mode: the header that asked for it. Everything runs but the API call. */
  testMode?: string;
  /** Replaces Message-ID and bytes as the message's identity (dedupe.ts). */
  idempotencyKey?: { header: string; value: string };
  /** Scheduled sending (spool mode only): Unix ms, and the header that asked. */
  sendAt?: { header: string; at: number };
}

export type ControlsResult = { ok: true; controls: Controls } | { ok: false; reason: string };

/** Lower-case names of every control header with a fixed name (families such as `X-PM-Metadata-*` aside). */
export const CONTROL_HEADER_NAMES: readonly string[] = Object.freeze(
  DIALECTS.flatMap((d) => d.rules.map((r) => r.header.toLowerCase()).filter((n) => !n.endsWith('*'))),
);

/** Reads every control header of the message, in order (for tracking, a later header wins). */
export function readControls(headers: readonly HeaderField[]): ControlsResult {
  const draft = newDraft();
  for (const h of headers) {
    const found = lookupHeader(h.name.toLowerCase());
    if (found.kind === 'none') continue;
    if (found.kind === 'unknown')
      return {
        ok: false,
        reason: `${h.name} header refused: unknown ${found.dialect.name} header, so what it asks for cannot be done`,
      };
    const problem = found.rule.apply(h.value, draft, h.name);
    if (problem === null) continue;
    return {
      ok: false,
      reason:
        problem.kind === 'invalid'
          ? `invalid ${h.name} header: ${problem.text}`
          : `${h.name} header refused: ${problem.text}`,
    };
  }
  // "Newsletter" and "newsletter" are one tag to the person who wrote both; the first spelling is kept.
  const controls: Controls = { tags: uniqueIgnoringCase(draft.tags) };
  if (draft.senderId !== undefined) controls.senderId = draft.senderId;
  if (draft.listId !== undefined) controls.listId = draft.listId;
  if (draft.emailType !== undefined) controls.emailType = draft.emailType;
  if (draft.accountId !== undefined) controls.accountId = draft.accountId;
  if (Object.keys(draft.tracking).length > 0) controls.tracking = draft.tracking;
  if (draft.metadata.length > 0) controls.metadata = draft.metadata;
  if (draft.testMode !== undefined) controls.testMode = draft.testMode;
  if (draft.idempotencyKey !== undefined) controls.idempotencyKey = draft.idempotencyKey;
  if (draft.sendAt !== undefined) controls.sendAt = draft.sendAt;
  return { ok: true, controls };
}
