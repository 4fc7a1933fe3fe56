// RFC 2047 encoded words, decoded from the raw header bytes (a "binary string": one char per
// byte). Working on bytes rather than on an already-decoded string is what lets a word carrying
// raw 8-bit bytes (`=?iso-8859-1?Q?Fr<0xF6>sche?=`, written by some mailers) decode with its
// declared charset instead of turning into U+FFFD. Adjacent words of one charset are joined as
// bytes before decoding, so a multi-byte character split across two words survives; a base64 word
// cut mid-quantum (its length not a multiple of 4, as some mailers fold an ISO-2022-JP subject) is
// joined with the next base64 word of that charset before the base64 is decoded, as every major
// decoder does, since its last bits belong to the next word's first character. RFC 2047 forbids
// both splits; real mailers make them. Text outside the words is UTF-8 (RFC 6532) when valid,
// else Windows-1252.
import { decodeBytes, decodeUnlabelled, latin1Bytes, normalizeLabel } from './charsets.ts';
import { noteRepair, type Repairs } from './repairs.ts';

const WORD = /=\?([^?\s]{1,80})\?([bBqQ])\?([^?]*)\?=/g;

interface Run {
  label: string;
  chunks: Buffer[];
  /** Base64 characters of the run's last word past its last whole quantum, waiting for the next word. */
  carry: string;
}

function isBase64(encoding: string): boolean {
  return encoding === 'b' || encoding === 'B';
}

function wordBytes(encoding: string, text: string): Buffer {
  if (isBase64(encoding)) return Buffer.from(text, 'base64');
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
 * ISO-2022 words each end in ASCII (`ESC ( B`) and the next starts with its own escape: joined
 * as they are, two escape sequences meet, which the WHATWG decoder reads as an error (U+FFFD
 * between the words: `テスト�テスト`). A trailing escape sequence directly followed by another
 * selects nothing, so it is dropped at the join; the text is unchanged.
 */
function joinStateful(chunks: Buffer[]): Buffer {
  const kept = chunks.map((chunk, i) => {
    const next = chunks[i + 1];
    const n = chunk.length;
    return next && next[0] === 0x1b && n >= 3 && chunk[n - 3] === 0x1b ? chunk.subarray(0, n - 3) : chunk;
  });
  return Buffer.concat(kept);
}

/**
 * Splits a raw header value into decoded pieces: `text` for what was outside encoded words,
 * `word` for each run of adjacent encoded words.
 */
function pieces(raw: string, repairs: Repairs | undefined): Array<{ kind: 'text' | 'word'; value: string }> {
  const out: Array<{ kind: 'text' | 'word'; value: string }> = [];
  let run: Run | null = null;
  const endCarry = (r: Run): void => {
    if (r.carry) r.chunks.push(Buffer.from(r.carry, 'base64'));
    r.carry = '';
  };
  const flush = (): void => {
    if (!run) return;
    endCarry(run);
    const bytes = run.label.startsWith('iso-2022-') ? joinStateful(run.chunks) : Buffer.concat(run.chunks);
    out.push({ kind: 'word', value: decodeBytes(bytes, run.label, repairs) });
    run = null;
  };
  let last = 0;
  for (const m of raw.matchAll(WORD)) {
    const gap = raw.slice(last, m.index);
    last = m.index + m[0].length;
    // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
    if (gap && !(run && /^[ \t]*$/.test(gap))) {
      flush();
      out.push({ kind: 'text', value: decodeUnlabelled(latin1Bytes(gap), repairs) });
    }
    const label = normalizeLabel(m[1]);
    const encoding = m[2] as string;
    let current = run as Run | null;
    if (!current || current.label !== label) {
      flush();
      current = run = { label, chunks: [], carry: '' };
    }
    if (isBase64(encoding)) {
      let b64 = m[3] as string;
      // A leftover of two or three characters is whole bytes by itself (a word that left out its
      // padding), and a next word aligned on its own does not continue a quantum: the two halves
      // of a split are never both aligned. Joined, `w6nDqQ` + `w6k=` would decode to garbage.
      if (current.carry.length >= 2 && b64.length % 4 === 0) endCarry(current);
      if (current.carry) {
        noteRepair(repairs, 'split_encoded_word');
        b64 = current.carry + b64;
      }
      // Padding ends the word's data; without it, the characters past the last whole quantum
      // are the first half of a quantum the next word completes.
      const whole = b64.includes('=') ? b64.length : b64.length - (b64.length % 4);
      current.chunks.push(Buffer.from(b64.slice(0, whole), 'base64'));
      current.carry = b64.slice(whole);
    } else {
      endCarry(current);
      current.chunks.push(wordBytes(encoding, m[3] as string));
    }
  }
  flush();
  const tail = raw.slice(last);
  if (tail) out.push({ kind: 'text', value: decodeUnlabelled(latin1Bytes(tail), repairs) });
  return out;
}

/** A raw (binary-string) unstructured header value → text. */
export function decodeHeaderValue(raw: string, repairs?: Repairs): string {
  if (!raw.includes('=?') && !/[\x80-\xff]/.test(raw)) return raw;
  return pieces(raw, repairs)
    .map((p) => p.value)
    .join('');
}

/**
 * The same value for an address parser that decodes encoded words itself (postal-mime's
 * addressParser): raw 8-bit text is decoded, and every run of encoded words is re-encoded as one
 * UTF-8 word, so the parser still sees a quoted-comma name as one word and never meets a charset
 * or a byte it would decode differently.
 */
export function normalizeWords(raw: string, repairs?: Repairs): string {
  if (!raw.includes('=?') && !/[\x80-\xff]/.test(raw)) return raw;
  return pieces(raw, repairs)
    .map((p) =>
      p.kind === 'text' ? p.value : p.value ? `=?utf-8?B?${Buffer.from(p.value, 'utf8').toString('base64')}?=` : '',
    )
    .join('');
}
