// Node 20's TextDecoder decodes the labels windows-1252, iso-8859-1, latin1 and us-ascii (all one
// WHATWG encoding) with a Latin-1 fast path: bytes 0x80–0x9F come out as C1 control characters
// instead of € ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ. Outlook writes exactly those
// (curly quotes, dashes, €) in nearly every Windows-1252 message, and clean.ts would then delete them.
// C1 controls have no use in mail text, so any of them in decoded text is read as the
// windows-1252 character the WHATWG standard (and every mail client) shows.
// The five bytes windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) stay as they are.
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

const C1 = /[\u0080-\u009f]/g;
const HAS_C1 = /[\u0080-\u009f]/;

export function hasC1(value: string): boolean {
  return HAS_C1.test(value);
}

export function repairC1(value: string): string {
  return HAS_C1.test(value) ? value.replace(C1, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80] ?? c) : value;
}
