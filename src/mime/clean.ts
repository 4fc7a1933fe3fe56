// One rule for every decoded string that leaves the MIME stage as a header value, name, subject,
// file name or tag source (docs/architecture.md#semantics-that-never-bend, docs/threat-model.md finding 5 and T-09): parsers return CR LF
// inside decoded RFC 2047 words (`=?UTF-8?B?aGkNCkJjYzog...?=` → "hi\r\nBcc: victim@…"), and the
// API re-emits these values as header lines. A run of line-breaking characters becomes one space
// (as Postfix's cleanup_replace_stray_cr_lf does: readable, and no word is glued to the next);
// NUL and the other C0/C1 controls are removed; TAB becomes a space.

// CR, LF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR: anything a downstream writer might treat as a line end.
const LINE_BREAKS = /[\r\n\u0085\u2028\u2029]+/g;
// C0 controls except TAB/LF/CR (handled above), DEL, C1 controls.
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

/** A single-line, control-free value: safe to put in a header field or an API string. */
export function cleanLine(value: string): string {
  return value.replace(LINE_BREAKS, ' ').replace(/\t/g, ' ').replace(CONTROLS, '').trim();
}

/**
 * Body text keeps its line breaks, in one form: LF. Clients differ (most bodies decode with LF,
 * but Ruby's mail gem writes quoted-printable with `=0D` before each hard line break, which
 * decodes to CR CR LF), and mixed endings render as doubled lines in some viewers. A run of CRs
 * ending in LF is one line break; a lone CR is one too. NUL goes: RFC 5322 §2.3 forbids it.
 */
export function cleanBody(value: string): string {
  // Bodies reach the payload stage already clean (convert.ts cleans them in the parse worker),
  // and `replace` builds a new string even when every match is replaced by itself (each LF by
  // an LF): for a clean body, two searches and no copy.
  const cr = value.indexOf('\r') !== -1;
  const nul = value.indexOf('\u0000') !== -1;
  if (!cr && !nul) return value;
  const joined = cr ? value.replace(CR_BREAKS, '\n') : value;
  return nul ? joined.replace(/\u0000/g, '') : joined;
}

// A run of CRs ending in LF, or a lone CR: each one line break. LF alone is already one.
const CR_BREAKS = /\r+\n|\r/g;
