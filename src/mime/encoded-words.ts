// RFC 2047 encoded words, decoded from the raw header bytes (a "binary string": one char per
// byte). Working on bytes rather than on an already-decoded string is what lets a word carrying
// raw 8-bit bytes (`=?iso-8859-1?Q?Fr<0xF6>sche?=`, written by some mailers) decode with its
// declared charset instead of turning into U+FFFD. Adjacent words of one charset are joined as
// bytes before decoding, so a multi-byte character split across two words survives. Text outside
// the words is UTF-8 (RFC 6532) when valid, else Windows-1252.
import { decodeBytes, decodeUnlabelled, latin1Bytes, normalizeLabel } from './charsets.ts';

const WORD = /=\?([^?\s]{1,80})\?([bBqQ])\?([^?]*)\?=/g;

interface Run {
  label: string;
  chunks: Buffer[];
}

function wordBytes(encoding: string, text: string): Buffer {
  if (encoding === 'b' || encoding === 'B') return Buffer.from(text, 'base64');
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) out[n++] = 0x20;
    else if (c === 0x3d && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out[n++] = parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

/**
 * Splits a raw header value into decoded pieces: `text` for what was outside encoded words,
 * `word` for each run of adjacent encoded words.
 */
function pieces(raw: string): Array<{ kind: 'text' | 'word'; value: string }> {
  const out: Array<{ kind: 'text' | 'word'; value: string }> = [];
  let run: Run | null = null;
  const flush = (): void => {
    if (!run) return;
    out.push({ kind: 'word', value: decodeBytes(Buffer.concat(run.chunks), run.label) });
    run = null;
  };
  let last = 0;
  for (const m of raw.matchAll(WORD)) {
    const gap = raw.slice(last, m.index);
    last = m.index + m[0].length;
    // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
    if (gap && !(run && /^[ \t]*$/.test(gap))) {
      flush();
      out.push({ kind: 'text', value: decodeUnlabelled(latin1Bytes(gap)) });
    }
    const label = normalizeLabel(m[1]);
    const bytes = wordBytes(m[2] as string, m[3] as string);
    const current = run as Run | null;
    if (current && current.label === label) current.chunks.push(bytes);
    else {
      flush();
      run = { label, chunks: [bytes] };
    }
  }
  flush();
  const tail = raw.slice(last);
  if (tail) out.push({ kind: 'text', value: decodeUnlabelled(latin1Bytes(tail)) });
  return out;
}

/** A raw (binary-string) unstructured header value → text. */
export function decodeHeaderValue(raw: string): string {
  if (!raw.includes('=?') && !/[\x80-\xff]/.test(raw)) return raw;
  return pieces(raw)
    .map((p) => p.value)
    .join('');
}

/**
 * The same value for an address parser that decodes encoded words itself (postal-mime's
 * addressParser): raw 8-bit text is decoded, and every run of encoded words is re-encoded as one
 * UTF-8 word, so the parser still sees a quoted-comma name as one word and never meets a charset
 * or a byte it would decode differently.
 */
export function normalizeWords(raw: string): string {
  if (!raw.includes('=?') && !/[\x80-\xff]/.test(raw)) return raw;
  return pieces(raw)
    .map((p) =>
      p.kind === 'text' ? p.value : p.value ? `=?utf-8?B?${Buffer.from(p.value, 'utf8').toString('base64')}?=` : '',
    )
    .join('');
}
