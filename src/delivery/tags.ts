// Tag normalisation to the API's `tags[]` pattern (cakemail-api.md §3.1: 1–255 of [A-Za-z0-9_-]).
// Other relays allow free text ("Order Confirmation", "café"), so tags are transliterated rather
// than refused: accents dropped (NFKD + combining marks removed), every other run of disallowed
// characters becomes one "-", leading/trailing "-" trimmed, cut at 255. A tag with nothing left
// (e.g. "!!!" or "注文") cannot be represented and is refused by the caller, naming the header.
import { TAG_PATTERN } from '../cakemail/types.ts';

export const MAX_TAG_LENGTH = 255;

/** The API form of a tag, or null when nothing representable is left. */
export function normalizeTag(raw: string): string | null {
  const tag = raw
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_TAG_LENGTH)
    .replace(/-+$/, '');
  return TAG_PATTERN.test(tag) ? tag : null;
}
