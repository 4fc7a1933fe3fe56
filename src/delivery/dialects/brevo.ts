// Brevo's (Sendinblue's) SMTP dialect: the X-Mailin-* and X-Sib-* headers of its SMTP relay.
import { BOOL_TEXT, addTags, setBool, testMode } from './draft.ts';
import { addMetadata } from './metadata.ts';
import { invalid, refusedAlways, type Dialect } from './rule.ts';

export const brevo: Dialect = {
  name: 'Brevo',
  namespaces: ['X-Mailin-', 'X-Sib-'],
  rules: [
    {
      header: 'X-Mailin-Tag',
      accepts: 'one tag',
      honoured: '`tags`',
      refused: '—',
      apply: (v, c) => addTags(c, [v]),
    },
    {
      header: 'X-Mailin-custom',
      accepts: 'text',
      honoured: 'metadata `custom`',
      refused: 'see metadata limits',
      apply: (v, c, name) => {
        const error = addMetadata(c.metadata, { key: 'custom', value: v, header: name });
        return error ? invalid(error) : null;
      },
    },
    {
      header: 'X-Mailin-Track',
      accepts: BOOL_TEXT,
      honoured: 'all three tracking flags',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['opens', 'clicks_html', 'clicks_text']),
    },
    {
      header: 'X-Mailin-Track-Opens',
      accepts: BOOL_TEXT,
      honoured: 'opens',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['opens']),
    },
    {
      header: 'X-Mailin-Track-Clicks',
      accepts: BOOL_TEXT,
      honoured: 'clicks_html, clicks_text',
      refused: '—',
      apply: (v, c) => setBool(c, v, ['clicks_html', 'clicks_text']),
    },
    {
      header: 'X-Sib-Sandbox',
      accepts: '`drop`',
      honoured: '`drop`: test mode (everything runs but the API call; `250` says not sent)',
      refused: '—',
      apply: (v, c, name) => (v.trim().toLowerCase() === 'drop' ? testMode(c, name) : invalid('expected "drop"')),
    },
    refusedAlways('X-Mailin-IP', 'IP address', 'Cakemail chooses the sending IPs'),
  ],
};
