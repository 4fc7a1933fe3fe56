// What the MIME stage hands to the rest of the gateway: our own types, not the parser's, so
// the parser can change without touching delivery. Every string here is already decoded to
// UTF-8 (RFC 2047/2231, legacy charsets), and header values have had CR, LF and NUL removed.
import type { Repairs } from './repairs.ts';

export interface Mailbox {
  /** Decoded display name, '' when absent. */
  name: string;
  address: string;
}

export interface ParsedAttachment {
  /** Decoded file name as the sender wrote it (RFC 2047/2231), null when absent. */
  filename: string | null;
  /** Lower-case MIME type, e.g. `application/pdf`. */
  contentType: string;
  disposition: 'attachment' | 'inline' | null;
  /** Content-ID without angle brackets, when present (inline `cid:` images). */
  contentId: string | null;
  /** Decoded bytes, exactly as the sender's program encoded them. */
  content: Uint8Array;
  /** Not a file the sender attached: the detached signature of multipart/signed, or an
   *  alternative body format (text/enriched beside text/plain). Left out under any policy. */
  role?: 'signature' | 'alternative';
}

export interface HeaderField {
  /** Header name as written (case kept). */
  name: string;
  /** Unfolded, RFC 2047-decoded value; CR, LF and NUL removed. */
  value: string;
}

export interface ParsedMessage {
  /** Every mailbox of every `From:` header (more than one header is refused by the payload stage). */
  from: Mailbox[];
  /** Number of `From:` and `Sender:` header fields, for the duplicate check. */
  fromHeaderCount: number;
  senderHeaderCount: number;
  to: Mailbox[];
  cc: Mailbox[];
  /** Mailboxes of the first `Reply-To:` field, parsed before decoding so a display name holding a
   *  comma cannot turn into a second address when the header is written out again. Optional so
   *  hand-built messages in tests need not set it; the parser always does. */
  replyTo?: Mailbox[];
  subject: string;
  text: string | null;
  html: string | null;
  /** Top-level header fields in order, duplicates kept. */
  headers: HeaderField[];
  attachments: ParsedAttachment[];
  /**
   * `text` and `html` as JSON string literals in UTF-8 (the bytes of JSON.stringify(text)),
   * made by the parse worker so the event loop does not escape and encode the largest strings
   * of every message itself (cakemail/serialize.ts uses them while they match the body sent).
   * Absent on messages not parsed by the pool.
   */
  bodyJson?: { text: Uint8Array | null; html: Uint8Array | null };
  /** What the MIME stage repaired to read the message, by kind (repairs.ts); absent or empty when
   *  nothing was. Hand-built messages in tests need not set it. */
  repairs?: Repairs;
}

/** Why a message could not be parsed. */
export type ParseFailure =
  | { kind: 'limit'; limit: 'depth' | 'parts' | 'header_bytes' | 'header_fields' | 'parse_time'; detail: string } // 554 5.6.0
  | { kind: 'malformed'; detail: string } // 554 5.6.0
  | { kind: 'timeout'; detail: string } // 451 4.3.0 (the first time; the same bytes again → limit/parse_time)
  | { kind: 'crashed'; detail: string }; // 451 4.3.0 (worker died: heap cap, bug)

export type ParseResult = { ok: true; message: ParsedMessage } | { ok: false; failure: ParseFailure };

export interface MessageParser {
  parse(raw: Uint8Array): Promise<ParseResult>;
  /**
   * Starts every worker not started yet and resolves once each is ready or has failed, with why
   * each failed (empty when all started). Never rejects; a worker that failed here is started
   * again for the next message.
   */
  warm(): Promise<string[]>;
  close(): Promise<void>;
}
