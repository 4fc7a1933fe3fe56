// Content-Transfer-Encoding → the part's exact bytes. Identity encodings (7bit, 8bit, binary)
// return the body bytes untouched: CR bytes kept, nothing added, so an attachment sent 8bit or
// binary arrives byte for byte. Quoted-printable keeps the line breaks as written. An encoding
// this module cannot decode is refused by name rather than passed on as if it were content.

export type TransferResult = { ok: true; bytes: Uint8Array; uuFilename?: string } | { ok: false; encoding: string };

// Besides RFC 2045's own tokens, spellings that broken mailers write where they mean "not
// encoded": a charset name or a word put in the wrong header. Decoding them as identity shows
// exactly the bytes that were sent, as mail programs do.
const IDENTITY = new Set([
  '',
  '7bit',
  '8bit',
  'binary',
  '7-bit',
  '8-bit',
  '7bits',
  '8bits',
  'none',
  'plain',
  'text',
  'utf-8',
  'utf8',
  'us-ascii',
  'ascii',
  'iso-8859-1',
  'latin1',
]);
const BASE64 = new Set(['base64', 'base-64']);
const QUOTED_PRINTABLE = new Set(['quoted-printable', 'quoted_printable', 'quotedprintable']);
const UUENCODE = new Set(['x-uuencode', 'uuencode', 'x-uue', 'uue']);

/** The first token of a Content-Transfer-Encoding value, lower case, comments and quotes removed. */
export function transferToken(value: string): string {
  // Real values are one short token; the cut keeps a hostile megabyte value from costing time.
  return (/[\w.-]+/.exec(
    value
      .slice(0, 256)
      .replace(/\([^)]*\)/g, ' ')
      .toLowerCase(),
  ) ?? [''])[0];
}

export function decodeTransfer(encoding: string, body: Uint8Array): TransferResult {
  if (IDENTITY.has(encoding)) return { ok: true, bytes: body };
  if (BASE64.has(encoding)) return { ok: true, bytes: decodeBase64(body) };
  if (QUOTED_PRINTABLE.has(encoding)) return { ok: true, bytes: decodeQuotedPrintable(body) };
  if (UUENCODE.has(encoding)) {
    const decoded = decodeUuencode(body);
    // Without its "begin" line the text is not uuencoded data; decoding it would invent bytes.
    return decoded ? { ok: true, ...decoded } : { ok: false, encoding: `${encoding} without a "begin" line` };
  }
  return { ok: false, encoding };
}

function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

// Node's base64 decoder skips line breaks and characters outside the alphabet, as mail clients do.
function decodeBase64(body: Uint8Array): Uint8Array {
  return Buffer.from(view(body).toString('latin1'), 'base64');
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

// RFC 2045 §6.7: `=XX` is a byte, `=` at the end of a line is a soft break, whitespace at the end
// of an encoded line is transport padding. Anything malformed is kept literally.
function decodeQuotedPrintable(body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(body.length);
  let n = 0;
  const len = body.length;
  for (let i = 0; i < len; i++) {
    const c = body[i] as number;
    if (c === 0x3d) {
      const h = hex(body[i + 1] ?? 0);
      const l = hex(body[i + 2] ?? 0);
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 2;
        continue;
      }
      // Soft line break: "=" then optional whitespace then CRLF/LF (or the end of the body).
      let j = i + 1;
      while (j < len && (body[j] === 0x20 || body[j] === 0x09)) j++;
      if (j >= len) break;
      if (body[j] === 0x0d && body[j + 1] === 0x0a) {
        i = j + 1;
        continue;
      }
      if (body[j] === 0x0a) {
        i = j;
        continue;
      }
      out[n++] = c;
      continue;
    }
    if (c === 0x20 || c === 0x09) {
      // Trailing whitespace before a line end is padding added in transport.
      let j = i;
      while (j < len && (body[j] === 0x20 || body[j] === 0x09)) j++;
      if (j >= len || body[j] === 0x0a || (body[j] === 0x0d && body[j + 1] === 0x0a)) {
        i = j - 1;
        continue;
      }
      // A loop, not out.set(body.subarray(…)): a view per space costs more than the copy.
      for (; i < j; i++) out[n++] = body[i] as number;
      i = j - 1;
      continue;
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

// uuencode: `begin <mode> <name>`, lines whose first character gives the byte count, `end`.
function decodeUuencode(body: Uint8Array): { bytes: Uint8Array; uuFilename?: string } | null {
  const lines = view(body).toString('latin1').split(/\r?\n/);
  const out = Buffer.allocUnsafe(body.length);
  let n = 0;
  let i = lines.findIndex((l) => /^begin\s+[0-7]{3,4}\s/.test(l));
  if (i < 0) return null;
  const name = /^begin\s+[0-7]{3,4}\s+(.+?)\s*$/.exec((lines[i] as string).slice(0, 1024))?.[1] ?? '';
  for (i = i + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (/^end\s*$/.test(line)) break;
    if (!line) continue;
    const count = (line.charCodeAt(0) - 32) & 63;
    if (count === 0) continue;
    const chars = (p: number): number => ((line.charCodeAt(p) || 32) - 32) & 63;
    let written = 0;
    for (let p = 1; written < count; p += 4) {
      const a = chars(p),
        b = chars(p + 1),
        c = chars(p + 2),
        d = chars(p + 3);
      const triple = [(a << 2) | (b >> 4), ((b & 15) << 4) | (c >> 2), ((c & 3) << 6) | d];
      for (const byte of triple)
        if (written < count) {
          out[n++] = byte & 0xff;
          written++;
        }
    }
  }
  return name ? { bytes: out.subarray(0, n), uuFilename: name } : { bytes: out.subarray(0, n) };
}
