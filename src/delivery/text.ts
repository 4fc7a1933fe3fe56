// Small string rules shared by the payload stage: the API's ASCII-token form (used by
// attachment file names and tags) and case-insensitive de-duplication.

/**
 * The API's `[A-Za-z0-9_-]` form of free text, at most `max` characters: accents transliterated
 * (NFKD, combining marks removed), every other run of disallowed characters becomes one `-`,
 * leading and trailing `-` trimmed. May be empty when nothing representable is left.
 */
export function toApiToken(raw: string, max: number): string {
  return raw
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
}

/** Keep the first spelling of values that differ only by case. */
export function uniqueIgnoringCase(values: readonly string[]): string[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = v.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
