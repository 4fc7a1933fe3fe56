// Mailgun's SMTP dialect (Mailgun's "Sending via SMTP": the X-Mailgun-* headers).
import {
  BOOL_TEXT,
  addTags,
  bool,
  boolOnly,
  jsonMetadata,
  notBool,
  rfc5322Time,
  schedule,
  set,
  setBool,
  testMode,
} from './draft.ts';
import { invalid, refusedAlways, type Dialect, type HeaderRule } from './rule.ts';

const whenTrue = (header: string, why: string): HeaderRule => ({
  header,
  accepts: BOOL_TEXT,
  honoured: '`no`: nothing to do',
  refused: `\`yes\`: ${why}`,
  apply: boolOnly(false, why),
});

export const mailgun: Dialect = {
  name: 'Mailgun',
  namespaces: ['X-Mailgun-'],
  rules: [
    {
      header: 'X-Mailgun-Tag',
      accepts: 'one tag per field, may repeat',
      honoured: '`tags`',
      refused: '—',
      apply: (v, c) => addTags(c, [v]),
    },
    {
      header: 'X-Mailgun-Track',
      accepts: `${BOOL_TEXT}, htmlonly`,
      honoured: 'all three tracking flags; htmlonly = opens + html clicks, no text clicks',
      refused: '—',
      apply: (v, c) =>
        v.trim().toLowerCase() === 'htmlonly'
          ? set(c, { opens: true, clicks_html: true, clicks_text: false })
          : setBool(c, v, ['opens', 'clicks_html', 'clicks_text']),
    },
    {
      header: 'X-Mailgun-Track-Clicks',
      accepts: `${BOOL_TEXT}, htmlonly`,
      honoured: 'clicks_html, clicks_text',
      refused: '—',
      apply: (v, c) =>
        v.trim().toLowerCase() === 'htmlonly'
          ? set(c, { clicks_html: true, clicks_text: false })
          : setBool(c, v, ['clicks_html', 'clicks_text']),
    },
    {
      header: 'X-Mailgun-Track-Opens',
      accepts: BOOL_TEXT,
      honoured: 'opens',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['opens']),
    },
    {
      header: 'X-Mailgun-Variables',
      accepts: 'JSON object, may repeat',
      honoured: 'metadata, one `X-Metadata-<key>` per key (a non-string value as its JSON text)',
      refused: 'not a JSON object; see metadata limits',
      apply: (v, c, name) => jsonMetadata(c, v, name),
    },
    {
      header: 'X-Mailgun-Drop-Message',
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
      header: 'X-Mailgun-Deliver-By',
      accepts: 'RFC 5322 date (`Fri, 14 Oct 2011 23:10:10 -0000`)',
      honoured: 'scheduled sending (spool mode): held until then; a past time sends now',
      refused: 'sync mode (names the header, points to spool mode); more than 72 h ahead',
      apply: (v, c, name) => {
        const at = rfc5322Time(v);
        return at === undefined
          ? invalid('expected an RFC 5322 date such as "Fri, 14 Oct 2011 23:10:10 -0000"')
          : schedule(c, name, at);
      },
    },
    {
      header: 'X-Mailgun-Dkim',
      accepts: BOOL_TEXT,
      honoured: '`yes`: Cakemail signs every message',
      refused: '`no`: Cakemail signs every message',
      apply: boolOnly(true, 'Cakemail signs every message with the sending domain of the account'),
    },
    whenTrue('X-Mailgun-Require-TLS', "the API cannot require TLS for Cakemail's delivery"),
    whenTrue('X-Mailgun-Skip-Verification', "the API cannot relax certificate checks of Cakemail's delivery"),
    whenTrue('X-Mailgun-Native-Send', 'Cakemail composes every message it sends'),
    whenTrue('X-Mailgun-Track-Pixel-Location-Top', 'Cakemail places its own open-tracking pixel'),
    whenTrue('X-Mailgun-Time-Zone-Localize', 'no send-time localisation; schedule with X-Mailgun-Deliver-By'),
    refusedAlways(
      'X-Mailgun-Recipient-Variables',
      'JSON object',
      'no per-recipient substitutions; send one rendered message per recipient',
    ),
    refusedAlways(
      'X-Mailgun-Delivery-Time-Optimize-Period',
      'hours',
      'no send-time optimisation; schedule with X-Mailgun-Deliver-By',
    ),
    refusedAlways(
      'X-Mailgun-Template-Name',
      'name',
      "Mailgun's templates are not reachable; send the rendered message",
    ),
    refusedAlways(
      'X-Mailgun-Template-Version',
      'tag',
      "Mailgun's templates are not reachable; send the rendered message",
    ),
    refusedAlways(
      'X-Mailgun-Template-Variables',
      'JSON',
      "Mailgun's templates are not reachable; send the rendered message",
    ),
    refusedAlways('X-Mailgun-Sending-Ip', 'IP address', 'Cakemail chooses the sending IPs'),
    refusedAlways('X-Mailgun-Sending-Ip-Pool', 'pool id', 'Cakemail chooses the sending IPs'),
    {
      header: 'X-Mailgun-Sid',
      accepts: 'anything',
      honoured: "removed: Mailgun's trace of an earlier delivery (a resent message), not a request",
      refused: '—',
      apply: () => null,
    },
  ],
};
