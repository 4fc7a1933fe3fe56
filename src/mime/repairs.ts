// What the MIME stage changed or guessed to read a message that mail programs read but that breaks
// the standards (docs/message-mapping.md §8). Nothing is repaired silently: each repair is counted
// here while the message is parsed, and the pipeline logs the kinds at debug level and adds them to
// smtp_gateway_mime_repairs_total{kind}.

export const REPAIR_KINDS = [
  /** A multipart without its closing delimiter: its last part ran to the end of its parent. */
  'multipart_unterminated',
  /** A multipart with no opening delimiter: its content was read as one part (or as text). */
  'multipart_without_parts',
  /** A closing delimiter followed by more parts of the same multipart was ignored. */
  'stray_closing_boundary',
  /** A header line that is not a field (no colon, a continuation first, an mbox `From ` line inside) was skipped. */
  'malformed_header_line',
  /** No blank line between header and body: the first line that is not a field started the body. */
  'missing_header_separator',
  /** A base64 encoded word cut mid-quantum was joined with the next word of the same charset. */
  'split_encoded_word',
  /** Undeclared (`us-ascii`, no charset, unknown label) 8-bit text that is not UTF-8 was read as windows-1252. */
  'undeclared_8bit',
  /** Bytes of text labelled UTF-8 that are not UTF-8 were read as windows-1252, not as U+FFFD. */
  'invalid_utf8',
  /** C1 control characters in decoded text were read as the windows-1252 characters of those bytes. */
  'c1_control',
] as const;

export type RepairKind = (typeof REPAIR_KINDS)[number];

/** Repairs made to one message, by kind. */
export type Repairs = Partial<Record<RepairKind, number>>;

/** Counts one repair; a no-op when the caller keeps no record (a parse outside a message). */
export function noteRepair(repairs: Repairs | undefined, kind: RepairKind): void {
  if (repairs) repairs[kind] = (repairs[kind] ?? 0) + 1;
}
