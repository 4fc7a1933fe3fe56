// Charset labels real mail carries that neither the WHATWG list nor postal-mime's aliases know.
// Python's email package writes its own codec names into RFC 2047 encoded words:
// Header(s, 'gb2312') → `=?eucgb2312_cn?b?…?=`, Header(s, 'big5') → `=?big5_tw?b?…?=`. Unknown
// labels fall back to windows-1252 and the subject turns into mojibake, so the labels are renamed
// before the words are decoded.
import { addressParser, decodeWords } from 'postal-mime';
import type { Address } from 'postal-mime';

const LABELS: Record<string, string> = { eucgb2312_cn: 'gb2312', big5_tw: 'big5' };
const ENCODED_WORD_CHARSET = /=\?(eucgb2312_cn|big5_tw)([*?])/gi;

function relabel(value: string): string {
  return value.replace(ENCODED_WORD_CHARSET, (_, label: string, rest: string) => `=?${LABELS[label.toLowerCase()] ?? label}${rest}`);
}

/** RFC 2047-decoded header value. */
export function decodeHeader(value: string): string {
  return decodeWords(relabel(value));
}

/** Parsed address list, display names decoded. */
export function parseAddresses(value: string): Address[] {
  return addressParser(relabel(value));
}
