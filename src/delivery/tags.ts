// Tag normalisation to the API's `tags[]` pattern (docs/cakemail-api.md §3.1: 1–255 of [A-Za-z0-9_-]).
// Other relays allow free text ("Order Confirmation", "café"), so tags are transliterated rather
// than refused: accents dropped (NFKD + combining marks removed), every other run of disallowed
// characters becomes one "-", leading/trailing "-" trimmed, cut at 255. A tag with nothing left
// (e.g. "!!!" or "注文") cannot be represented and is refused by the caller, naming the header.
import { TAG_PATTERN } from '../cakemail/types.ts';
import { toApiToken } from './text.ts';

export const MAX_TAG_LENGTH = 255;

/** The API form of a tag, or null when nothing representable is left. */
export function normalizeTag(raw: string): string | null {
  const tag = toApiToken(raw, MAX_TAG_LENGTH);
  return TAG_PATTERN.test(tag) ? tag : null;
}
