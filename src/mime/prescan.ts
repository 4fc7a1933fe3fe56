// A cheap structural pre-scan. postal-mime bounds nesting depth and header bytes but not breadth:
// docs/threat-model.md finding 4 measured 4.5 s and 260 MB for 100,000 tiny parts before it gave up. One
// linear pass over the raw bytes counts the delimiter lines of every declared boundary, so a
// message with too many parts is refused before the parser allocates a node for each of them.
//
// The count is an upper bound (a boundary declaration quoted in a body is counted too), which errs
// on the side of refusing a hostile message, never of letting one through. Parts hidden inside a
// base64-encoded message/rfc822 part are not visible here; the worker's deadline and heap cap bound those.

const BOUNDARY_PARAM = /boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))/gi;

/** Number of MIME body parts (delimiter lines of declared boundaries); stops counting past `max`. */
export function countParts(raw: Uint8Array, max: number): number {
  // latin1 maps each byte to one char: offsets stay byte offsets, and no decoding can fail.
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  const boundaries = new Set<string>();
  for (const m of text.matchAll(BOUNDARY_PARAM)) {
    const b = (m[1] ?? m[2] ?? '').trimEnd();
    if (b) boundaries.add(b);
  }
  if (boundaries.size === 0) return 0;

  let parts = 0;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (text.charCodeAt(pos) === 0x2d && text.charCodeAt(pos + 1) === 0x2d) {
      // RFC 2046 §5.1.1: "--" boundary, optional trailing whitespace; "--" boundary "--" closes.
      const candidate = text.slice(pos + 2, end).replace(/[ \t\r]+$/, '');
      if (boundaries.has(candidate)) {
        parts++;
        if (parts > max) return parts;
      }
    }
    pos = end + 1;
  }
  return parts;
}
