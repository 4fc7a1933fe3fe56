// SendGrid's SMTP dialect: one header, X-SMTPAPI, a JSON object whose keys are documented one by
// one here (SendGrid's "Building an X-SMTPAPI header"). Every key is honoured or refused by name;
// an unknown key is refused too, so a misspelt request is never skipped.
import { addTags, bool, isObject, objectMetadata, schedule, type Draft } from './draft.ts';
import { invalid, unsupported, type Dialect, type Problem } from './rule.ts';

export interface PartRule {
  /** The key, as SendGrid spells it. */
  name: string;
  accepts: string;
  honoured: string;
  refused: string;
  apply: (value: unknown, c: Draft, name: string) => Problem | null;
}

const refused = (why: string) => (): Problem => unsupported(why);

// `filters` (SendGrid's app settings): tracking is honoured; turning any other one off asks for
// nothing the gateway does, turning it on asks for what Cakemail's API does not offer.
const FILTER_WHY: Record<string, string> = {
  bcc: 'would add a recipient; put the address in RCPT TO',
  bypass_list_management: 'Cakemail applies its unsubscribes and suppressions to every message',
  dkim: 'Cakemail signs with the sending domain configured in the account',
  domainkeys: 'Cakemail signs with the sending domain configured in the account',
  footer: 'would change the content; add the footer to the message',
  ganalytics: 'would rewrite links; add the parameters to the links',
  gravatar: 'no equivalent',
  spamcheck: 'no equivalent',
  subscriptiontrack: 'Cakemail handles unsubscribes per list (X-List-Id)',
  template: 'would change the content; send the rendered message',
  templates: "SendGrid's templates are not reachable; send the rendered message",
};

function filters(value: unknown, c: Draft): Problem | null {
  if (!isObject(value)) return invalid('"filters" must be an object');
  for (const name of Object.keys(value)) {
    if (name === 'opentrack' || name === 'clicktrack') continue;
    const enabled = filterSetting(value, name, 'enable');
    if (enabled === null) return invalid(`"filters.${name}.settings.enable" must be 0/1 or a boolean`);
    if (enabled !== true) continue;
    const why = FILTER_WHY[name];
    return unsupported(
      why ? `"filters.${name}" not supported: ${why}` : `"filters.${name}" is not a SendGrid filter the gateway knows`,
    );
  }
  const open = filterSetting(value, 'opentrack', 'enable');
  if (open === null) return invalid('"filters.opentrack.settings.enable" must be 0/1 or a boolean');
  if (open !== undefined) c.tracking.opens = open;
  const click = filterSetting(value, 'clicktrack', 'enable');
  const clickText = filterSetting(value, 'clicktrack', 'enable_text');
  if (click === null || clickText === null)
    return invalid('"filters.clicktrack.settings" values must be 0/1 or booleans');
  if (click !== undefined) c.tracking.clicks_html = click;
  // SendGrid tracks text links only with enable_text, and never when click tracking is off.
  if (click === false) c.tracking.clicks_text = false;
  else if (clickText !== undefined) c.tracking.clicks_text = clickText;
  return null;
}

/** undefined: not set; null: set but not a boolean. */
function filterSetting(filters: Record<string, unknown>, filter: string, key: string): boolean | undefined | null {
  const f = filters[filter];
  if (f === undefined) return undefined;
  if (!isObject(f) || !isObject(f['settings'])) return null;
  const value = f['settings'][key];
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') return bool(value) ?? null;
  return null;
}

export const SMTPAPI_KEYS: readonly PartRule[] = [
  {
    name: 'category',
    accepts: 'string or array of strings',
    honoured: '`tags`',
    refused: '—',
    apply: (v, c) => {
      const list = Array.isArray(v) ? v : [v];
      if (!list.every((x): x is string => typeof x === 'string'))
        return invalid('"category" must be a string or an array of strings');
      return addTags(c, list);
    },
  },
  {
    name: 'unique_args',
    accepts: 'object',
    honoured: 'metadata, one `X-Metadata-<key>` per key',
    refused: 'see metadata limits',
    apply: (v, c) =>
      isObject(v) ? objectMetadata(c, v, 'X-SMTPAPI unique_args') : invalid('"unique_args" must be an object'),
  },
  {
    name: 'filters',
    accepts: 'object of `{settings: {enable}}`',
    honoured:
      '`opentrack.enable` → opens; `clicktrack.enable` → clicks_html (and clicks_text off when 0); `clicktrack.enable_text` → clicks_text; any other filter with `enable: 0`: nothing to turn off',
    refused: `any other filter with \`enable: 1\` (${Object.keys(FILTER_WHY).join(', ')}), naming it and why`,
    apply: filters,
  },
  {
    name: 'send_at',
    accepts: 'Unix time (seconds)',
    honoured: 'scheduled sending (spool mode): held until then; a past time sends now',
    refused: 'sync mode (names the header, points to spool mode); more than 72 h ahead',
    apply: (v, c) =>
      typeof v === 'number' && Number.isInteger(v) && v >= 0
        ? schedule(c, 'X-SMTPAPI send_at', v * 1000)
        : invalid('"send_at" must be a Unix time in seconds'),
  },
  {
    name: 'send_each_at',
    accepts: 'array',
    honoured: '—',
    refused: 'always: one time per recipient needs one message per recipient; use send_at',
    apply: refused('"send_each_at" not supported: one time per recipient needs one message per recipient; use send_at'),
  },
  {
    name: 'to',
    accepts: 'array',
    honoured: '—',
    refused: 'always: recipients come only from the SMTP envelope (RCPT TO)',
    apply: refused('"to" not supported: recipients come only from the SMTP envelope (RCPT TO)'),
  },
  {
    name: 'sub',
    accepts: 'object',
    honoured: '—',
    refused: 'always: no substitutions; send the rendered message',
    apply: refused('"sub" not supported: no substitutions; send the rendered message'),
  },
  {
    name: 'section',
    accepts: 'object',
    honoured: '—',
    refused: 'always: no substitutions; send the rendered message',
    apply: refused('"section" not supported: no substitutions; send the rendered message'),
  },
  {
    name: 'asm_group_id',
    accepts: 'integer',
    honoured: '—',
    refused: 'always: Cakemail handles unsubscribes per list; use X-List-Id',
    apply: refused('"asm_group_id" not supported: Cakemail handles unsubscribes per list; use X-List-Id'),
  },
  {
    name: 'asm_groups_to_display',
    accepts: 'array',
    honoured: '—',
    refused: 'always: Cakemail handles unsubscribes per list; use X-List-Id',
    apply: refused('"asm_groups_to_display" not supported: Cakemail handles unsubscribes per list; use X-List-Id'),
  },
  {
    name: 'ip_pool',
    accepts: 'string',
    honoured: '—',
    refused: 'always: Cakemail chooses the sending IPs',
    apply: refused('"ip_pool" not supported: Cakemail chooses the sending IPs'),
  },
];

function smtpApi(v: string, c: Draft): Problem | null {
  let json: unknown;
  try {
    json = JSON.parse(v);
  } catch {
    return invalid('not valid JSON');
  }
  if (!isObject(json)) return invalid('expected a JSON object');
  for (const [key, value] of Object.entries(json)) {
    const part = SMTPAPI_KEYS.find((p) => p.name === key);
    if (!part) return unsupported(`"${key.slice(0, 60)}" is not an X-SMTPAPI key the gateway knows`);
    const problem = part.apply(value, c, key);
    if (problem) return problem;
  }
  return null;
}

export const sendGrid: Dialect = {
  name: 'SendGrid',
  namespaces: ['X-SMTPAPI'],
  rules: [
    {
      header: 'X-SMTPAPI',
      accepts: 'JSON object; its keys below',
      honoured: 'key by key (below)',
      refused: 'not JSON, not an object, an unknown key',
      apply: smtpApi,
      parts: SMTPAPI_KEYS,
    },
  ],
};
