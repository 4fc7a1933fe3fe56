// Postmark's SMTP dialect (Postmark's "Sending email with SMTP": the X-PM-* headers).
import { BOOL_TEXT, addTags, bool, notBool, set, setBool } from './draft.ts';
import { addMetadata } from './metadata.ts';
import { invalid, unsupported, type Dialect } from './rule.ts';

export const postmark: Dialect = {
  name: 'Postmark',
  namespaces: ['X-PM-'],
  rules: [
    {
      header: 'X-PM-Tag',
      accepts: 'one tag',
      honoured: '`tags`',
      refused: '—',
      apply: (v, c) => addTags(c, [v]),
    },
    {
      header: 'X-PM-TrackOpens',
      accepts: BOOL_TEXT,
      honoured: 'opens',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['opens']),
    },
    {
      header: 'X-PM-TrackLinks',
      accepts: 'None, HtmlAndText, HtmlOnly, TextOnly',
      honoured: 'clicks_html, clicks_text',
      refused: '—',
      apply: (v, c) => {
        switch (v.trim().toLowerCase()) {
          case 'none':
            return set(c, { clicks_html: false, clicks_text: false });
          case 'htmlandtext':
            return set(c, { clicks_html: true, clicks_text: true });
          case 'htmlonly':
            return set(c, { clicks_html: true, clicks_text: false });
          case 'textonly':
            return set(c, { clicks_html: false, clicks_text: true });
          default:
            return invalid('expected None, HtmlAndText, HtmlOnly or TextOnly');
        }
      },
    },
    {
      header: 'X-PM-Metadata-*',
      accepts: 'one value per field; the key is the rest of the name',
      honoured: 'metadata: `X-PM-Metadata-customer: c-77` → `X-Metadata-customer: c-77`',
      refused: 'see metadata limits',
      apply: (v, c, name) => {
        const error = addMetadata(c.metadata, { key: name.slice('x-pm-metadata-'.length), value: v, header: name });
        return error ? invalid(error) : null;
      },
    },
    {
      header: 'X-PM-Message-Stream',
      accepts: '`outbound`, `broadcast`',
      honoured: '`outbound` → `content.type` transactional; `broadcast` → marketing',
      refused: 'any other stream id (set X-Email-Api-Type instead)',
      apply: (v, c) => {
        const s = v.trim().toLowerCase();
        const type = s === 'outbound' ? 'transactional' : s === 'broadcast' ? 'marketing' : undefined;
        if (!type)
          return unsupported(`stream "${v.slice(0, 60)}" has no Cakemail equivalent; set X-Email-Api-Type instead`);
        if (c.emailType !== undefined && c.emailType !== type)
          return invalid(`stream "${s}" conflicts with email type "${c.emailType}"`);
        c.emailType = type;
        return null;
      },
    },
    {
      header: 'X-PM-KeepID',
      accepts: BOOL_TEXT,
      honoured: '`true`: the Message-ID is forwarded anyway (§2)',
      refused: '`false`: the gateway always forwards the Message-ID',
      apply: (v) => {
        const b = bool(v);
        if (b === undefined) return notBool(v);
        return b ? null : unsupported("the gateway always forwards the message's own Message-ID");
      },
    },
  ],
};
