// Mutations of valid messages for the differential MIME test: the ways real mail arrives broken.
// Everything is driven by a seeded PRNG, so a run is reproducible from its seed and a failure
// names the mutation and the seed message it came from.

/** mulberry32: small, fast, and good enough to pick offsets and lines. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Mutant {
  name: string;
  bytes: Buffer;
  /** The message before its last mutation, when that one damaged something a reader can see
   *  through (REPAIRABLE): the reading to match when Python cannot see through it. */
  reference?: Buffer;
}

type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T | undefined => items[Math.floor(rand() * items.length)];

/** Messages are handled as binary strings (one char per byte): every byte survives a round trip. */
const str = (b: Buffer): string => b.toString('latin1');
const buf = (s: string): Buffer => Buffer.from(s, 'latin1');

function lines(s: string): string[] {
  return s.split(/(?<=\n)/);
}

function boundaries(s: string): string[] {
  const out = new Set<string>();
  for (const m of s.matchAll(/boundary\s*=\s*"?([^";\r\n]+)"?/gi)) out.add((m[1] as string).trim());
  return [...out];
}

/** Indexes of the delimiter lines (opening or closing) of any declared boundary. */
function delimiterLines(ls: string[], s: string): number[] {
  const bs = boundaries(s).map((b) => `--${b}`);
  return ls.flatMap((l, i) => (bs.some((b) => l.startsWith(b)) ? [i] : []));
}

/** Index of the blank line that ends the top-level header, or the line count. */
function headerEnd(ls: string[]): number {
  const i = ls.findIndex((l) => l === '\n' || l === '\r\n');
  return i < 0 ? ls.length : i;
}

const MALFORMED_HEADER_LINES = [
  'X-Mailer  PHP/8.1 without a colon',
  'From bounce@example.com Mon Nov 23 10:00:00 2026',
  'garbage',
  '=?utf-8?B?w6k=?=',
];
const CHARSETS = ['utf-8', 'iso-8859-1', 'us-ascii', 'windows-1252', 'koi8-r', 'shift_jis', 'x-unknown-8bit'];

type Mutation = (s: string, rand: Rand) => string | null;

export const MUTATIONS: Record<string, Mutation> = {
  deleteBoundary(s, rand) {
    const ls = lines(s);
    const i = pick(rand, delimiterLines(ls, s));
    if (i === undefined) return null;
    ls.splice(i, 1);
    return ls.join('');
  },
  duplicateBoundary(s, rand) {
    const ls = lines(s);
    const i = pick(rand, delimiterLines(ls, s));
    if (i === undefined) return null;
    ls.splice(i, 0, ls[i] as string);
    return ls.join('');
  },
  misspellBoundary(s, rand) {
    const ls = lines(s);
    const i = pick(rand, delimiterLines(ls, s));
    if (i === undefined) return null;
    const l = ls[i] as string;
    const at = 2 + Math.floor(rand() * Math.max(1, l.trimEnd().length - 2));
    ls[i] = `${l.slice(0, at)}${l[at] === 'x' ? 'y' : 'x'}${l.slice(at + 1)}`;
    return ls.join('');
  },
  closeEarly(s, rand) {
    // A closing delimiter where an opening one was: the "extra ending boundary" shape.
    const ls = lines(s);
    const i = pick(rand, delimiterLines(ls, s));
    if (i === undefined) return null;
    ls[i] = (ls[i] as string).replace(/(\r?\n)$/, '--$1');
    return ls.join('');
  },
  truncate(s, rand) {
    if (s.length < 2) return null;
    return s.slice(0, 1 + Math.floor(rand() * (s.length - 1)));
  },
  malformedHeaderLine(s, rand) {
    // A line that is not a field anywhere in the header, or a continuation line first (one
    // anywhere else would fold into the field above it, which is not malformed).
    const ls = lines(s);
    const eol = s.includes('\r\n') ? '\r\n' : '\n';
    if (rand() < 0.2) ls.unshift(`  a continuation line with nothing above it${eol}`);
    else ls.splice(Math.floor(rand() * (headerEnd(ls) + 1)), 0, `${pick(rand, MALFORMED_HEADER_LINES)}${eol}`);
    return ls.join('');
  },
  mislabelCharset(s, rand) {
    const found = [...s.matchAll(/charset\s*=\s*"?[^";\s]+"?/gi)];
    const m = pick(rand, found);
    if (!m) return null;
    const to = rand() < 0.25 ? 'x-dropped=1' : `charset=${pick(rand, CHARSETS)}`;
    return s.slice(0, m.index) + to + s.slice((m.index as number) + m[0].length);
  },
};

/** Damage a reader can see through: the undamaged message is the reading to match. */
export const REPAIRABLE = new Set(['malformedHeaderLine', 'duplicateBoundary', 'closeEarly']);

/** `count` mutants of the seeds, each one mutation (sometimes two) of a random seed. */
export function mutants(seeds: Array<{ name: string; bytes: Buffer }>, seed: number, count: number): Mutant[] {
  const rand = prng(seed);
  const names = Object.keys(MUTATIONS);
  const out: Mutant[] = [];
  let guard = 0;
  while (out.length < count && guard++ < count * 20) {
    const base = pick(rand, seeds);
    if (!base) break;
    let s = str(base.bytes);
    let reference: string | undefined;
    const applied: string[] = [];
    const chosen = [...new Set(Array.from({ length: rand() < 0.2 ? 2 : 1 }, () => pick(rand, names) as string))];
    // Repairable damage goes in last, so the message before it is the reference reading.
    chosen.sort((a, b) => Number(REPAIRABLE.has(a)) - Number(REPAIRABLE.has(b)));
    for (const name of chosen) {
      const next = (MUTATIONS[name] as Mutation)(s, rand);
      if (next === null || next === s) continue;
      reference = REPAIRABLE.has(name) ? s : undefined;
      s = next;
      applied.push(name);
    }
    if (applied.length) {
      const mutant: Mutant = { name: `${base.name} ${applied.join('+')} #${out.length}`, bytes: buf(s) };
      if (reference !== undefined) mutant.reference = buf(reference);
      out.push(mutant);
    }
  }
  return out;
}

/** The charset and bytes of a header value made only of encoded words of one charset. */
export function encodedWordBytes(raw: string): { charset: string; bytes: Buffer } | null {
  const words = [...raw.matchAll(/=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=/g)];
  if (words.length === 0 || raw.replace(/=\?[^?\s]+\?[bBqQ]\?[^?]*\?=/g, '').trim() !== '') return null;
  const charset = (words[0] as RegExpMatchArray)[1] as string;
  if (words.some((w) => (w[1] as string).toLowerCase() !== charset.toLowerCase())) return null;
  const bytes = Buffer.concat(
    words.map((w) =>
      /b/i.test(w[2] as string)
        ? Buffer.from(w[3] as string, 'base64')
        : buf(
            (w[3] as string)
              .replace(/_/g, ' ')
              .replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
          ),
    ),
  );
  return { charset, bytes };
}

const qWord = (bytes: Buffer): string =>
  [...bytes].map((b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/**
 * The Subject of `message` re-encoded as two encoded words split at every byte of its encoded
 * text (B+B and B+Q), and its base64 split at every character (mid-quantum): RFC 2047 forbids
 * each of these; real mailers write them.
 */
export function splitSubjects(message: Buffer): Mutant[] {
  const s = str(message);
  const m = /^Subject:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)\r?$/im.exec(s);
  if (!m) return [];
  const raw = (m[1] as string).replace(/\r?\n/g, '');
  const words = encodedWordBytes(raw.trim());
  if (!words) return [];
  const { charset, bytes } = words;
  const out: Mutant[] = [];
  const replace = (value: string, name: string): void => {
    out.push({
      name,
      bytes: buf(s.slice(0, m.index) + `Subject: ${value}` + s.slice(m.index + m[0].replace(/\r$/, '').length)),
    });
  };
  for (let i = 1; i < bytes.length; i++) {
    const a = bytes.subarray(0, i);
    const b = bytes.subarray(i);
    replace(
      `=?${charset}?B?${a.toString('base64')}?=\r\n =?${charset}?B?${b.toString('base64')}?=`,
      `split B+B at byte ${i}`,
    );
    replace(`=?${charset}?B?${a.toString('base64')}?= =?${charset}?Q?${qWord(b)}?=`, `split B+Q at byte ${i}`);
  }
  const b64 = bytes.toString('base64');
  for (let i = 1; i < b64.length; i++) {
    if (i % 4 === 0) continue;
    replace(`=?${charset}?B?${b64.slice(0, i)}?= =?${charset}?B?${b64.slice(i)}?=`, `split base64 at char ${i}`);
  }
  return out;
}
