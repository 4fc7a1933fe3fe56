// Cakemail's own dialect: the relay headers of Cakemail's SMTP (docs/cakemail-api.md §7.3) and
// the gateway's additions (metadata, test mode, idempotency keys, scheduling). `X-Cakemail-*`
// and `X-Metadata-*` are the gateway's namespaces: an unknown name there is refused.
import {
  BOOL_TEXT,
  addTags,
  bool,
  emailType,
  notBool,
  positiveInt,
  rfc3339Time,
  schedule,
  setBool,
  single,
  splitList,
  testMode,
  type Draft,
} from './draft.ts';
import { addMetadata, METADATA_MAX_KEYS, METADATA_MAX_TOTAL_BYTES, METADATA_MAX_VALUE_BYTES } from './metadata.ts';
import { invalid, type Dialect, type HeaderRule, type Problem } from './rule.ts';

export const METADATA_LIMITS = `key 1-64 of letters, digits, "-", "_", "."; value ${METADATA_MAX_VALUE_BYTES} bytes, one line; at most ${METADATA_MAX_KEYS} keys and ${METADATA_MAX_TOTAL_BYTES} bytes in all`;

/** Printable ASCII, as the HTTP APIs that define these keys allow (Resend: up to 256 characters). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

function idempotencyKey(v: string, c: Draft, name: string): Problem | null {
  const value = v.trim();
  if (!IDEMPOTENCY_KEY.test(value)) return invalid('expected 1-256 printable ASCII characters without spaces');
  if (c.idempotencyKey && c.idempotencyKey.value !== value)
    return invalid(`conflicts with ${c.idempotencyKey.header} "${c.idempotencyKey.value.slice(0, 60)}"`);
  c.idempotencyKey ??= { header: name, value };
  return null;
}

const idempotencyRule = (header: string, whose: string): HeaderRule => ({
  header,
  accepts: '1-256 printable ASCII characters',
  honoured: `the message's identity for exactly-once (instead of Message-ID and bytes) for DEDUPE_TTL_S, per account and recipient${whose}`,
  refused: 'two different keys in one message',
  apply: idempotencyKey,
});

export const cakemail: Dialect = {
  name: 'Cakemail',
  namespaces: ['X-Cakemail-', 'X-Metadata-'],
  rules: [
    {
      header: 'X-Sender-Id',
      accepts: '`[A-Za-z0-9._:-]{1,128}`',
      honoured: 'sender lookup by id',
      refused: '—',
      apply: (v, c) => single(c, 'senderId', /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : undefined, 'not a sender id'),
    },
    {
      header: 'X-List-Id',
      accepts: 'integer 1…2³¹−1',
      honoured: '`list_id`',
      refused: '—',
      apply: (v, c) => single(c, 'listId', positiveInt(v), 'not a positive list id'),
    },
    {
      header: 'X-Email-Api-Type',
      accepts: '`transactional` | `marketing`',
      honoured: '`content.type`',
      refused: '—',
      apply: (v, c) => single(c, 'emailType', emailType(v), 'expected "transactional" or "marketing"'),
    },
    {
      header: 'X-Account-Id',
      accepts: 'positive integer',
      honoured:
        'the sub-account for this message: `account_id` on its sender lookup and sends; an account the login may not use is refused naming it',
      refused: '—',
      apply: (v, c) => single(c, 'accountId', positiveInt(v), 'not a positive account id'),
    },
    {
      header: 'X-Cakemail-Account-Id',
      accepts: 'positive integer',
      honoured: 'as `X-Account-Id`',
      refused: '—',
      apply: (v, c) => single(c, 'accountId', positiveInt(v), 'not a positive account id'),
    },
    {
      header: 'X-Tags',
      accepts: 'comma list',
      honoured: '`tags`',
      refused: '—',
      apply: (v, c) => addTags(c, splitList(v)),
    },
    {
      header: 'X-Track-Opens',
      accepts: BOOL_TEXT,
      honoured: '`tracking.opens`',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['opens']),
    },
    {
      header: 'X-Track-Clicks-Html',
      accepts: BOOL_TEXT,
      honoured: '`tracking.clicks_html`',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['clicks_html']),
    },
    {
      header: 'X-Track-Clicks-Text',
      accepts: BOOL_TEXT,
      honoured: '`tracking.clicks_text`',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['clicks_text']),
    },
    {
      header: 'X-Email-Api-Enabled',
      accepts: 'anything',
      honoured: 'nothing to do: every message goes through the Email API (Cakemail SMTP requires it)',
      refused: '—',
      apply: () => null,
    },
    {
      header: 'X-Group-Id',
      accepts: 'positive integer',
      honoured: "the legacy relay's analytics group: metadata `group-id` (v2 has no group field)",
      refused: '—',
      apply: (v, c, name) => {
        const id = positiveInt(v);
        if (id === undefined) return invalid('not a positive group id');
        const error = addMetadata(c.metadata, { key: 'group-id', value: String(id), header: name });
        return error ? invalid(error) : null;
      },
    },
    {
      header: 'X-Metadata-*',
      accepts: `one value per key (${METADATA_LIMITS})`,
      honoured: 'metadata: forwarded as `X-Metadata-<key>`, value exact',
      refused: 'over the limits, a control character in the value, the same key twice with different values',
      apply: (v, c, name) => {
        const error = addMetadata(c.metadata, { key: name.slice('x-metadata-'.length), value: v, header: name });
        return error ? invalid(error) : null;
      },
    },
    {
      header: 'X-Cakemail-Test',
      accepts: BOOL_TEXT,
      honoured: '`yes`: test mode (everything runs but the API call; `250` says not sent)',
      refused: '—',
      apply: (v, c, name) => {
        const b = bool(v);
        if (b === undefined) return notBool(v);
        return b ? testMode(c, name) : null;
      },
    },
    {
      header: 'X-Cakemail-Send-At',
      accepts: 'RFC 3339 time with offset (`2026-12-08T09:30:00Z`)',
      honoured: 'scheduled sending (spool mode): held until then; a past time sends now',
      refused: 'sync mode (names the header, points to spool mode); more than 72 h ahead',
      apply: (v, c, name) => {
        const at = rfc3339Time(v);
        return at === undefined ? invalid('expected an RFC 3339 time with offset') : schedule(c, name, at);
      },
    },
    idempotencyRule('Idempotency-Key', ''),
    idempotencyRule('X-Idempotency-Key', ''),
    idempotencyRule('Resend-Idempotency-Key', " (Resend's name)"),
  ],
};
