// Per-message metadata (SendGrid unique_args, Mailgun variables, Postmark X-PM-Metadata-*,
// Mandrill X-MC-Metadata, Brevo X-Mailin-custom, the SES configuration set, Cakemail's own
// X-Metadata-*). Cakemail has no metadata field; it stores a message's `additional_headers` as
// metadata in its logs and webhook events (docs/cakemail-api.md §3.1), so every entry travels
// as one header named `X-Metadata-<key>`, whatever dialect it came in, its value exactly as
// given. What a header cannot carry exactly, or what is over the limits below, is refused
// naming the header and the key: never cut, never changed.

export interface MetadataEntry {
  key: string;
  value: string;
  /** The header it came from, for the refusal text. */
  header: string;
}

/** The header name every dialect's metadata travels under. */
export const METADATA_PREFIX = 'X-Metadata-';
/** Keys: what a header name can carry after the prefix and every relay's keys in practice. */
export const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
export const METADATA_MAX_KEYS = 50;
export const METADATA_MAX_VALUE_BYTES = 1000;
/** Keys and values together, UTF-8 (SendGrid's own limit for unique_args is 10,000 bytes). */
export const METADATA_MAX_TOTAL_BYTES = 10_000;

// A header value is one line: CR, LF and the other controls cannot travel exactly.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Adds one entry; an error text when it cannot travel exactly or passes a limit. */
export function addMetadata(list: MetadataEntry[], entry: MetadataEntry): string | null {
  const { key, value } = entry;
  const shown = key.slice(0, 64);
  if (!METADATA_KEY.test(key))
    return `metadata key "${shown}" cannot be a header name (1-64 of letters, digits, "-", "_", ".")`;
  if (CONTROL.test(value)) return `metadata "${key}" holds a line break or control character a header cannot carry`;
  const bytes = Buffer.byteLength(value);
  if (bytes > METADATA_MAX_VALUE_BYTES)
    return `metadata "${key}" is ${bytes} bytes, limit ${METADATA_MAX_VALUE_BYTES} bytes`;
  const same = list.find((e) => e.key.toLowerCase() === key.toLowerCase());
  if (same) {
    if (same.value === value) return null;
    return `metadata "${key}" given twice with different values (also in ${same.header})`;
  }
  if (list.length >= METADATA_MAX_KEYS) return `more than ${METADATA_MAX_KEYS} metadata keys`;
  const total = list.reduce((n, e) => n + Buffer.byteLength(e.key) + Buffer.byteLength(e.value), 0);
  if (total + Buffer.byteLength(key) + bytes > METADATA_MAX_TOTAL_BYTES)
    return `metadata over ${METADATA_MAX_TOTAL_BYTES} bytes in all (keys and values) at "${key}"`;
  list.push(entry);
  return null;
}

/** The `additional_headers` entries of the message's metadata. */
export function metadataHeaders(list: readonly MetadataEntry[]): { name: string; value: string }[] {
  return list.map((e) => ({ name: `${METADATA_PREFIX}${e.key}`, value: e.value }));
}
