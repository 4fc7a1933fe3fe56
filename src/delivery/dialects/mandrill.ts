// Mandrill's SMTP dialect (Mandrill's "SMTP Headers API": the X-MC-* headers).
import { BOOL_TEXT, addTags, boolOnly, jsonMetadata, schedule, set, splitList, type Draft } from './draft.ts';
import { invalid, refusedAlways, type Dialect, type HeaderRule, type Problem } from './rule.ts';

// Mandrill's header lists what to track; what it does not list is not tracked.
function track(v: string, c: Draft): Problem | null {
  const t = { opens: false, clicks_html: false, clicks_text: false };
  for (const token of splitList(v).map((s) => s.trim().toLowerCase())) {
    if (token === 'opens') t.opens = true;
    else if (token === 'clicks' || token === 'clicks_all') Object.assign(t, { clicks_html: true, clicks_text: true });
    else if (token === 'clicks_htmlonly') t.clicks_html = true;
    else if (token === 'clicks_textonly') t.clicks_text = true;
    else
      return invalid(
        `unknown value "${token.slice(0, 40)}" (expected opens, clicks_all, clicks_htmlonly, clicks_textonly)`,
      );
  }
  return set(c, t);
}

// Mandrill's send_at: "YYYY-MM-DD HH:MM:SS", UTC.
function sendAt(v: string, c: Draft, name: string): Problem | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v.trim());
  if (!m) return invalid('expected "YYYY-MM-DD HH:MM:SS" in UTC');
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const at = Date.UTC(y!, mo! - 1, d!, h!, mi!, s ?? 0);
  if (new Date(at).getUTCDate() !== d || new Date(at).getUTCHours() !== h) return invalid('not a valid date');
  return schedule(c, name, at);
}

const yesOnly = (header: string, honoured: string, why: string): HeaderRule => ({
  header,
  accepts: BOOL_TEXT,
  honoured: `\`true\`: ${honoured}`,
  refused: `\`false\`: ${why}`,
  apply: boolOnly(true, why),
});

const noOnly = (header: string, why: string): HeaderRule => ({
  header,
  accepts: BOOL_TEXT,
  honoured: '`false`: nothing to do',
  refused: `\`true\`: ${why}`,
  apply: boolOnly(false, why),
});

export const mandrill: Dialect = {
  name: 'Mandrill',
  namespaces: ['X-MC-'],
  rules: [
    {
      header: 'X-MC-Tags',
      accepts: 'comma list',
      honoured: '`tags`',
      refused: '—',
      apply: (v, c) => addTags(c, splitList(v)),
    },
    {
      header: 'X-MC-Track',
      accepts: 'comma list of opens, clicks, clicks_all, clicks_htmlonly, clicks_textonly',
      honoured: 'the listed ones on, **unlisted off**',
      refused: '—',
      apply: track,
    },
    {
      header: 'X-MC-Metadata',
      accepts: 'JSON object',
      honoured: 'metadata, one `X-Metadata-<key>` per key (a non-string value as its JSON text)',
      refused: 'not a JSON object; see metadata limits',
      apply: (v, c, name) => jsonMetadata(c, v, name),
    },
    {
      header: 'X-MC-SendAt',
      accepts: '`YYYY-MM-DD HH:MM:SS` (UTC)',
      honoured: 'scheduled sending (spool mode): held until then; a past time sends now',
      refused: 'sync mode (names the header, points to spool mode); more than 72 h ahead',
      apply: sendAt,
    },
    yesOnly(
      'X-MC-Autotext',
      'a message with only HTML gets a text body derived from it anyway (§1)',
      'the gateway always derives the missing text body',
    ),
    yesOnly(
      'X-MC-AutoHtml',
      'a message with only text gets an HTML body derived from it anyway (§1)',
      'the gateway always derives the missing HTML body',
    ),
    yesOnly(
      'X-MC-ViewContentLink',
      "the content stays viewable in Cakemail's logs",
      "Cakemail keeps every message's content viewable",
    ),
    noOnly('X-MC-PreserveRecipients', 'each envelope recipient gets a message of its own'),
    noOnly('X-MC-InlineCSS', 'the gateway does not rewrite HTML; inline the CSS before sending'),
    noOnly('X-MC-URLStripQS', 'the gateway does not rewrite links'),
    noOnly('X-MC-Important', 'Cakemail has no priority queue'),
    refusedAlways('X-MC-Template', 'name', "Mandrill's templates are not reachable; send the rendered message"),
    refusedAlways('X-MC-MergeVars', 'JSON', 'no merge variables; send the rendered message'),
    refusedAlways('X-MC-MergeLanguage', 'mailchimp, handlebars', 'no merge variables; send the rendered message'),
    refusedAlways('X-MC-Merge', BOOL_TEXT, 'no merge variables; send the rendered message'),
    refusedAlways(
      'X-MC-GoogleAnalytics',
      'domains',
      'the gateway does not rewrite links; add the parameters to the links',
    ),
    refusedAlways(
      'X-MC-GoogleAnalyticsCampaign',
      'campaign',
      'the gateway does not rewrite links; add the parameters to the links',
    ),
    refusedAlways('X-MC-TrackingDomain', 'domain', 'tracking domains are set in the Cakemail account'),
    refusedAlways('X-MC-SigningDomain', 'domain', 'signing domains are set in the Cakemail account'),
    refusedAlways('X-MC-ReturnPathDomain', 'domain', 'return-path domains are set in the Cakemail account'),
    refusedAlways('X-MC-Subaccount', 'id', 'Mandrill subaccounts have no Cakemail id; use X-Account-Id'),
    refusedAlways('X-MC-BccAddress', 'address', 'would add a recipient; put the address in RCPT TO'),
    refusedAlways('X-MC-IpPool', 'pool', 'Cakemail chooses the sending IPs'),
  ],
};
