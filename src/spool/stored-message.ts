// The directory spool's message file and its integrity check (docs/architecture.md#spool-mode).
//   line 1   `SPOOL2 <length> <sha256>`: the length and SHA-256 (hex) of everything after it
//   line 2   the JSON header (envelope, the sealed login with its key's fingerprint)
//   rest     the DATA bytes
// The check line lets every read tell a whole file from a truncated or altered one, so damage is
// quarantined by name instead of delivered changed or skipped. Files written before the check
// line existed (their first byte is `{`) are still read, checked by their length only.
import { createHash } from 'node:crypto';

export interface StoredHeader {
  v: 1 | 2;
  id: string;
  receivedAt: number;
  envelopeFrom: string;
  recipients: string[];
  credential: string;
  sessionId: string;
  rawBytes: number;
  /** A scheduled send: not delivered before this Unix ms (absent: due at once). */
  notBefore?: number;
}

export type Decoded =
  | {
      ok: true;
      header: StoredHeader;
      raw: Buffer;
      /** null for a file written before the check line. */ digest: string | null;
    }
  | { ok: false; reason: string };

const MAGIC = 'SPOOL2';

/** The file's bytes, in the order they are written; `digest` is what the read-back must match. */
export function encodeStored(header: StoredHeader, raw: Uint8Array): { chunks: Uint8Array[]; digest: string } {
  const head = Buffer.from(JSON.stringify(header) + '\n');
  const digest = createHash('sha256').update(head).update(raw).digest('hex');
  const check = Buffer.from(`${MAGIC} ${head.length + raw.length} ${digest}\n`);
  return { chunks: [check, head, raw], digest };
}

/** Verifies and splits a message file read whole; `id` is the one its name says. */
export function decodeStored(id: string, buf: Buffer): Decoded {
  let body = buf;
  let digest: string | null = null;
  if (buf[0] !== 0x7b /* `{`: written before the check line */) {
    const nl = buf.indexOf(0x0a);
    const m = nl > 0 ? /^SPOOL2 (\d{1,12}) ([0-9a-f]{64})$/.exec(buf.subarray(0, nl).toString('latin1')) : null;
    if (!m) return { ok: false, reason: 'the check line is missing or damaged' };
    body = buf.subarray(nl + 1);
    const length = Number(m[1]);
    if (body.length !== length)
      return { ok: false, reason: `truncated or extended: ${body.length} of ${length} bytes after the check line` };
    digest = createHash('sha256').update(body).digest('hex');
    if (digest !== m[2]) return { ok: false, reason: 'checksum mismatch: the stored bytes were altered' };
  }
  const nl = body.indexOf(0x0a);
  if (nl < 0) return { ok: false, reason: 'no header line' };
  let header: StoredHeader;
  try {
    header = JSON.parse(body.subarray(0, nl).toString('utf8')) as StoredHeader;
  } catch {
    return { ok: false, reason: 'the header is not valid JSON' };
  }
  if (typeof header !== 'object' || header === null || header.id !== id || !Array.isArray(header.recipients))
    return { ok: false, reason: 'the header does not describe this message' };
  const raw = body.subarray(nl + 1);
  if (raw.length !== header.rawBytes)
    return { ok: false, reason: `truncated: ${raw.length} of ${header.rawBytes} message bytes` };
  return { ok: true, header, raw, digest };
}
