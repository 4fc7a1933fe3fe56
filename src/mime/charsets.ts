// Bytes → text, for every charset label real mail carries (docs/message-mapping.md §7).
// TextDecoder knows the WHATWG labels; this module adds what it does not know and what mail
// programs do differently:
// - UTF-7 (Outlook 2000, Exchange), decoded by utf7.ts;
// - `us-ascii` (also the default of a part without a charset, RFC 2045 §5.2) whose bytes are
//   valid UTF-8 is read as UTF-8: programs that never declare a charset send UTF-8 today, and
//   reading it as Windows-1252 gives `EnvoyÃ©`. Other 8-bit bytes under us-ascii read as
//   Windows-1252, as mail clients show them;
// - Python's codec names in encoded words (`eucgb2312_cn`, `big5_tw`) and a few `x-`/`cp` forms;
// - an unknown label: UTF-8 when the bytes are valid UTF-8, else Windows-1252 (never an error).
// Every result goes through repairC1 (cp1252.ts), UTF-8 included: C1 controls have no use in mail
// text, and valid UTF-8 holding them is windows-1252 text converted as if it were Latin-1 (PHP's
// utf8_encode). Guesses and repairs are counted in `repairs` (repairs.ts).
import { TextDecoder } from 'node:util';
import { decodeUtf7 } from './utf7.ts';
import { hasC1, repairC1 } from './cp1252.ts';
import { noteRepair, type Repairs } from './repairs.ts';

const ALIASES: Record<string, string> = {
  eucgb2312_cn: 'gb2312',
  big5_tw: 'big5',
  'x-sjis': 'shift_jis',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  ms932: 'shift_jis',
  'x-euc-jp': 'euc-jp',
  cp936: 'gbk',
  ms936: 'gbk',
  cp949: 'euc-kr',
  ks_c_5601: 'euc-kr',
  cp950: 'big5',
  'x-mac-roman': 'macintosh',
  latin9: 'iso-8859-15',
  'iso8859-15': 'iso-8859-15',
};
const ASCII_LABELS = new Set([
  '',
  'us-ascii',
  'ascii',
  'us',
  'ansi_x3.4-1968',
  'iso646-us',
  'iso-ir-6',
  'cp367',
  'ibm367',
  'csascii',
  '7bit',
  '8bit',
]);
const UTF7_LABELS = new Set(['utf-7', 'utf7', 'unicode-1-1-utf-7', 'csunicode11utf7', 'x-utf-7']);

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const cp1252 = new TextDecoder('windows-1252');
// Decoders by label; null where the runtime does not know the label. Bounded: labels come from
// messages, so a flood of made-up labels must not grow the map without end.
const decoders = new Map<string, TextDecoder | null>();
const MAX_CACHED_LABELS = 256;

function decoderFor(label: string): TextDecoder | null {
  const cached = decoders.get(label);
  if (cached !== undefined) return cached;
  let decoder: TextDecoder | null = null;
  for (const candidate of [
    label,
    ALIASES[label],
    label.replace(/^x-/, ''),
    label.replace(/^(?:cp|ms)-?(\d+)$/, 'windows-$1'),
    label.replace(/^(iso)[-_]?(8859)[-_]?(\d+)$/, 'iso-8859-$3'),
  ]) {
    if (!candidate) continue;
    try {
      decoder = new TextDecoder(candidate);
      break;
    } catch {
      // not a label this runtime knows; try the next spelling
    }
  }
  if (decoders.size < MAX_CACHED_LABELS) decoders.set(label, decoder);
  return decoder;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) > 0x7f) return false;
  return true;
}

/** UTF-8 when the bytes are valid UTF-8, else Windows-1252 (WHATWG: 0x80–0x9F are never C1 controls). */
export function decodeUnlabelled(bytes: Uint8Array, repairs?: Repairs): string {
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let text: string;
  try {
    text = utf8Fatal.decode(bytes);
  } catch {
    noteRepair(repairs, 'undeclared_8bit');
    return repairC1(cp1252.decode(bytes));
  }
  return withoutC1(text, bytes, repairs);
}

// UTF-8 encodes U+0080–U+009F as C2 80–C2 9F: bytes without 0xC2 cannot hold a C1 control, and
// memchr over the bytes is far cheaper than a regex over a long decoded body.
function withoutC1(text: string, bytes: Uint8Array, repairs: Repairs | undefined): string {
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(0xc2) === -1 || !hasC1(text)) return text;
  noteRepair(repairs, 'c1_control');
  return repairC1(text);
}

/**
 * Text labelled UTF-8. A byte that is not part of a valid UTF-8 sequence (a windows-1252 value
 * pasted into a UTF-8 template: `caf<0xE9>`) has a known reading, its windows-1252 character, so
 * it is read as that rather than as U+FFFD; every valid sequence stays UTF-8.
 */
function decodeUtf8(bytes: Uint8Array, repairs: Repairs | undefined): string {
  try {
    return withoutC1(utf8Fatal.decode(bytes), bytes, repairs);
  } catch {
    noteRepair(repairs, 'invalid_utf8');
  }
  let out = '';
  let run = 0; // start of the current run of valid bytes
  let i = 0;
  while (i < bytes.length) {
    const n = validSequence(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += utf8Fatal.decode(bytes.subarray(run, i)) + repairC1(cp1252.decode(bytes.subarray(i, i + 1)));
    i++;
    run = i;
  }
  return withoutC1(out + utf8Fatal.decode(bytes.subarray(run)), bytes, repairs);
}

/** Length of the valid UTF-8 sequence at `i` (WHATWG's ranges: no overlongs, surrogates or > U+10FFFF), 0 if none. */
function validSequence(b: Uint8Array, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** Normalised charset label: lower case, quotes and an RFC 2231 language suffix removed. */
export function normalizeLabel(label: string | undefined | null): string {
  return (label ?? '')
    .trim()
    .replace(/^["']|["']$/g, '')
    .replace(/\*.*$/, '')
    .trim()
    .toLowerCase();
}

export function decodeBytes(bytes: Uint8Array, rawLabel: string | undefined | null, repairs?: Repairs): string {
  const label = normalizeLabel(rawLabel);
  if (ASCII_LABELS.has(label)) return decodeUnlabelled(bytes, repairs);
  if (UTF7_LABELS.has(label)) return decodeUtf7(bytes);
  if (label === 'utf-8' || label === 'utf8') return decodeUtf8(bytes, repairs);
  const decoder = decoderFor(label);
  // Declared single-byte charsets decode 0x80–0x9F to C1 in Node 20's Latin-1 fast path: that is
  // the decoder's flaw, not a guess about the sender's text, so it is mapped without a count.
  return decoder ? repairC1(decoder.decode(bytes)) : decodeUnlabelled(bytes, repairs);
}

/** A "binary string" (one char per byte, as Buffer's latin1) → its bytes. */
export function latin1Bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
