// Amazon SES's SMTP dialect (SES's "Using Amazon SES SMTP headers": the X-SES-* headers).
import { addTags, splitList, type Draft } from './draft.ts';
import { addMetadata } from './metadata.ts';
import { invalid, refusedAlways, type Dialect, type Problem } from './rule.ts';

// "name=value, name2=value2" message tags become "name-value" tags (Cakemail tags are flat;
// keeping the name keeps "campaign=spring" and "season=spring" apart).
function tags(v: string, c: Draft): Problem | null {
  const out: string[] = [];
  for (const pair of splitList(v)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (eq < 0 || !name || !value) return invalid(`expected "name=value" pairs, got "${pair.trim().slice(0, 80)}"`);
    out.push(`${name}-${value}`);
  }
  return addTags(c, out);
}

const SENDER_AUTHORISED =
  "sending authorisation: Cakemail's confirmed-sender check of the account decides instead (the From address must be one of its senders)";

export const ses: Dialect = {
  name: 'Amazon SES',
  namespaces: ['X-SES-'],
  rules: [
    {
      header: 'X-SES-MESSAGE-TAGS',
      accepts: '`name=value, name2=value2`',
      honoured:
        'tags **`name-value`** (Cakemail tags are flat; keeping the name keeps `campaign=spring` and `season=spring` apart)',
      refused: '—',
      apply: tags,
    },
    {
      header: 'X-SES-CONFIGURATION-SET',
      accepts: 'name',
      honoured: 'metadata `configuration-set` (events can be told apart by it, as SES event destinations do)',
      refused: 'see metadata limits',
      apply: (v, c, name) => {
        const error = addMetadata(c.metadata, { key: 'configuration-set', value: v, header: name });
        return error ? invalid(error) : null;
      },
    },
    { header: 'X-SES-SOURCE-ARN', accepts: 'ARN', honoured: SENDER_AUTHORISED, refused: '—', apply: () => null },
    { header: 'X-SES-FROM-ARN', accepts: 'ARN', honoured: SENDER_AUTHORISED, refused: '—', apply: () => null },
    {
      header: 'X-SES-RETURN-PATH-ARN',
      accepts: 'ARN',
      honoured: 'bounce authorisation: Cakemail handles the bounces of what it sends',
      refused: '—',
      apply: () => null,
    },
    refusedAlways(
      'X-SES-LIST-MANAGEMENT-OPTIONS',
      'contact list; topic',
      'Cakemail handles unsubscribes per list; use X-List-Id',
    ),
    {
      header: 'X-SES-Outgoing',
      accepts: 'anything',
      honoured: "removed: SES's trace of an earlier delivery (a resent message), not a request",
      refused: '—',
      apply: () => null,
    },
  ],
};
