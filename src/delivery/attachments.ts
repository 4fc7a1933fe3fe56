// MIME attachments → the API's `attachment[]` (docs/cakemail-api.md §3.1): only nine types, a strict
// file-name pattern, strict base64. Deciding the type, naming the file, and applying the policy
// and size limits all happen here; payload.ts only assembles the result.
import { ATTACHMENT_FILENAME_PATTERN, type AttachmentType } from '../cakemail/types.ts';
import type { ParsedAttachment } from '../mime/types.ts';
import type { Refusal } from './outcome.ts';
import { toApiToken } from './text.ts';

export interface ApiAttachment {
  filename: string;
  type: AttachmentType;
  content: string;
}

export interface DroppedAttachment {
  filename: string;
  contentType: string;
  reason: string;
  /** Why it was left out, the label of smtp_gateway_attachments_dropped_total: by
   *  ATTACHMENT_POLICY=drop, an alternative body format, or a detached signature. */
  kind: 'policy' | 'alternative' | 'signature';
}

export interface AttachmentPolicy {
  attachmentPolicy: 'reject' | 'drop';
  maxAttachmentBytes: number;
  maxTotalAttachmentBytes: number;
}

const BY_CONTENT_TYPE = new Map<string, AttachmentType>([
  ['application/pdf', 'pdf'],
  ['application/x-pdf', 'pdf'],
  ['image/jpeg', 'jpeg'],
  ['image/jpg', 'jpeg'],
  ['image/pjpeg', 'jpeg'],
  ['image/png', 'png'],
  ['image/x-png', 'png'],
  ['text/csv', 'csv'],
  ['text/x-csv', 'csv'],
  ['text/comma-separated-values', 'csv'],
  ['application/csv', 'csv'],
  ['application/x-csv', 'csv'],
  ['application/msword', 'doc'],
  ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx'],
  ['application/vnd.ms-excel', 'xls'],
  ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'xlsx'],
  ['text/calendar', 'calendar'],
  ['application/ics', 'calendar'],
]);

const BY_EXTENSION = new Map<string, AttachmentType>([
  ['pdf', 'pdf'],
  ['jpeg', 'jpeg'],
  ['jpg', 'jpeg'],
  ['jpe', 'jpeg'],
  ['png', 'png'],
  ['csv', 'csv'],
  ['doc', 'doc'],
  ['docx', 'docx'],
  ['xls', 'xls'],
  ['xlsx', 'xlsx'],
  ['ics', 'calendar'],
]);

const EXTENSION_OF: Record<AttachmentType, string> = {
  csv: 'csv',
  doc: 'doc',
  docx: 'docx',
  calendar: 'ics',
  jpeg: 'jpeg',
  pdf: 'pdf',
  png: 'png',
  xls: 'xls',
  xlsx: 'xlsx',
};

/** What `reject` refusals list as allowed: the extensions a sender knows. */
export const ALLOWED_EXTENSIONS = 'csv, doc, docx, ics, jpeg, pdf, png, xls, xlsx';

// Labels that say "some bytes" rather than what they are: the file name decides.
const GENERIC_TYPES = new Set([
  '',
  'application/octet-stream',
  'binary/octet-stream',
  'application/binary',
  'application/unknown',
  'application/x-download',
  'application/download',
  'application/force-download',
  'application/x-msdownload-unknown',
]);

/**
 * The API type of an attachment, from its content type and file extension:
 * - both name the same type, or only one of them names an allowed type and the other is silent
 *   or generic (application/octet-stream + ".pdf" → pdf; "report" + application/pdf → pdf);
 * - text/plain defers to a text-based extension (".csv", ".ics"), as many clients label those so;
 * - both name different allowed types → the extension wins: it is what the recipient's system
 *   opens the file by, and the usual disagreements are Windows labelling ".csv" as
 *   application/vnd.ms-excel and old clients labelling ".docx" as application/msword;
 * - a specific content type outside the nine (application/x-msdownload named "x.pdf") → null:
 *   the declared type is not allowed, whatever the name says.
 */
export function attachmentType(contentType: string, filename: string | null): AttachmentType | null {
  const ct = contentType.toLowerCase().trim();
  const byType = BY_CONTENT_TYPE.get(ct) ?? null;
  const ext = extensionOf(filename);
  const byExt = ext ? (BY_EXTENSION.get(ext) ?? null) : null;
  if (byExt && byType) return byExt;
  if (byType) return byType;
  if (byExt && (GENERIC_TYPES.has(ct) || (ct === 'text/plain' && (byExt === 'csv' || byExt === 'calendar'))))
    return byExt;
  return null;
}

function extensionOf(filename: string | null): string | null {
  if (!filename) return null;
  const base = filename.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0
    ? base
        .slice(dot + 1)
        .toLowerCase()
        .trim()
    : null;
}

const MAX_BASE_LENGTH = 100;

/**
 * A file name matching the API pattern `^[a-zA-Z0-9-_]+\.(ext)$`: directories dropped, accents
 * transliterated (NFKD, combining marks removed), every other run of characters (spaces, dots,
 * non-Latin script) → "-", a known extension replaced by the type's own (".jpg" → ".jpeg"), an
 * unknown one kept in the base name ("report.final" → "report-final.pdf"). Nothing left →
 * `fallback`.
 */
export function sanitizeFilename(filename: string | null, type: AttachmentType, fallback: string): string {
  let base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  const ext = extensionOf(base);
  if (ext && BY_EXTENSION.has(ext)) base = base.slice(0, base.length - ext.length - 1);
  base = toApiToken(base, MAX_BASE_LENGTH);
  const name = `${base || fallback}.${EXTENSION_OF[type]}`;
  return ATTACHMENT_FILENAME_PATTERN.test(name) ? name : `${fallback}.${EXTENSION_OF[type]}`;
}

/** "report.pdf" taken → "report-2.pdf", "report-3.pdf" (case-insensitive, as file systems compare). */
function unique(name: string, taken: Set<string>): string {
  const dot = name.lastIndexOf('.');
  let candidate = name;
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${name.slice(0, dot)}-${n}${name.slice(dot)}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}

export type AttachmentsResult =
  { ok: true; attachments: ApiAttachment[]; dropped: DroppedAttachment[] } | { ok: false; refusal: Refusal };

export function mapAttachments(parts: readonly ParsedAttachment[], policy: AttachmentPolicy): AttachmentsResult {
  const attachments: ApiAttachment[] = [];
  const dropped: DroppedAttachment[] = [];
  const taken = new Set<string>();
  let total = 0;
  for (const part of withoutDuplicateInvites(parts)) {
    const label = describe(part);
    const type = attachmentType(part.contentType, part.filename);
    if (part.role === 'alternative') {
      // Not an attachment in the sender's eyes (text/enriched, text/watch-html, text/x-amp-html
      // beside the text and HTML bodies): the API has no field for it, so it is left out whatever
      // the policy, and listed so the omission is logged.
      dropped.push({
        filename: '',
        contentType: part.contentType,
        reason: `${label} is an alternative body format Cakemail has no field for`,
        kind: 'alternative',
      });
      continue;
    }
    if (part.role === 'signature') {
      // Cakemail composes the message it sends, so a detached signature could never verify on
      // the recipient's side (docs/message-mapping.md §5): the signed content is delivered, the
      // signature is left out whatever the policy, and listed so the omission is logged.
      dropped.push({
        filename: part.filename ?? '',
        contentType: part.contentType,
        reason: `${label} is a detached signature that cannot verify once Cakemail re-composes the message`,
        kind: 'signature',
      });
      continue;
    }
    if (!type && !part.filename && part.content.byteLength === 0) continue; // an empty unnamed part carries nothing
    if (!type) {
      const reason = `${label} is not a type Cakemail accepts; allowed: ${ALLOWED_EXTENSIONS}`;
      if (policy.attachmentPolicy === 'reject') return { ok: false, refusal: { kind: 'attachment_refused', reason } };
      dropped.push({ filename: part.filename ?? '', contentType: part.contentType, reason, kind: 'policy' });
      continue;
    }
    const size = part.content.byteLength;
    if (size > policy.maxAttachmentBytes) {
      return {
        ok: false,
        refusal: {
          kind: 'too_large',
          reason: `attachment ${quoted(part)} is ${sizeOver(size, policy.maxAttachmentBytes)}`,
        },
      };
    }
    total += size;
    if (total > policy.maxTotalAttachmentBytes) {
      const sum = parts
        .filter((p) => attachmentType(p.contentType, p.filename) !== null)
        .reduce((n, p) => n + p.content.byteLength, 0);
      return {
        ok: false,
        refusal: { kind: 'too_large', reason: `attachments total ${sizeOver(sum, policy.maxTotalAttachmentBytes)}` },
      };
    }
    const fallback = type === 'calendar' ? 'invite' : `attachment-${attachments.length + 1}`;
    attachments.push({
      filename: unique(sanitizeFilename(part.filename, type, fallback), taken),
      type,
      // Strict base64, no line breaks (the API's pattern rejects MIME-wrapped base64).
      content: Buffer.from(part.content.buffer, part.content.byteOffset, part.content.byteLength).toString('base64'),
    });
  }
  return { ok: true, attachments, dropped };
}

// Outlook and nodemailer's icalEvent send an invitation twice: as the text/calendar alternative of
// the body and as an attached .ics with the same content. Cakemail has one attachment list, so
// identical calendar content is sent once (the copy with a file name is kept).
function withoutDuplicateInvites(parts: readonly ParsedAttachment[]): ParsedAttachment[] {
  const keep = new Map<string, ParsedAttachment>();
  const out: ParsedAttachment[] = [];
  for (const part of parts) {
    if (attachmentType(part.contentType, part.filename) !== 'calendar') {
      out.push(part);
      continue;
    }
    const key = Buffer.from(part.content.buffer, part.content.byteOffset, part.content.byteLength).toString('base64');
    const kept = keep.get(key);
    if (!kept) {
      keep.set(key, part);
      out.push(part);
    } else if (!kept.filename && part.filename) {
      out[out.indexOf(kept)] = part;
      keep.set(key, part);
    }
  }
  return out;
}

function quoted(part: ParsedAttachment): string {
  return part.filename ? `"${part.filename.slice(0, 100)}"` : `unnamed ${part.contentType} part`;
}

function describe(part: ParsedAttachment): string {
  return part.filename ? `"${part.filename.slice(0, 100)}" (${part.contentType})` : `unnamed ${part.contentType} part`;
}

const KiB = 1024;
const MiB = 1024 * 1024;

/** "12.0 MiB, limit 10 MiB"; more decimals when one would read as the limit itself. */
export function sizeOver(size: number, limit: number): string {
  const lim = formatSize(limit, 1).replace(/\.0 /, ' ');
  let shown = formatSize(size, 1);
  for (let d = 2; d <= 4 && shown.replace(/\.0+ /, ' ') === lim; d++) shown = formatSize(size, d);
  return `${shown}, limit ${lim}`;
}

function formatSize(n: number, decimals: number): string {
  if (n >= MiB) return `${(n / MiB).toFixed(decimals)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(decimals)} KiB`;
  return `${n} bytes`;
}
