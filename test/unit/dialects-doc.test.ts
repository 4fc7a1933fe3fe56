// docs/message-mapping.md §3 is generated from the dialect table: the page and the code must agree.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { lookupHeader, DIALECTS } from '../../src/delivery/dialects/table.ts';
import { withDialectTables } from '../../scripts/lib/dialect-doc.ts';

test('the per-dialect tables in docs/message-mapping.md are the ones the code generates', () => {
  const page = readFileSync(new URL('../../docs/message-mapping.md', import.meta.url), 'utf8');
  assert.equal(
    withDialectTables(page),
    page,
    'docs/message-mapping.md §3 differs from src/delivery/dialects/: run node --import tsx scripts/dialects-doc.ts',
  );
});

test('every documented header is read by its own row, whatever its case', () => {
  for (const d of DIALECTS)
    for (const rule of d.rules) {
      const name = rule.header.endsWith('*') ? `${rule.header.slice(0, -1)}key` : rule.header;
      for (const spelled of [name, name.toUpperCase(), name.toLowerCase()]) {
        const found = lookupHeader(spelled.toLowerCase());
        assert.ok(found.kind === 'rule' && found.rule === rule, `${spelled} is read by the ${rule.header} row`);
      }
    }
});

test('the seven dialects are all there, each with its namespace', () => {
  assert.deepEqual(
    DIALECTS.map((d) => d.name),
    ['Cakemail', 'SendGrid', 'Mailgun', 'Postmark', 'Mandrill', 'Amazon SES', 'Brevo'],
  );
  for (const d of DIALECTS) {
    const unknown = `${d.namespaces[0]}Made-Up-Name`.toLowerCase();
    assert.deepEqual(lookupHeader(unknown), { kind: 'unknown', dialect: d }, unknown);
  }
  assert.equal(lookupHeader('x-my-own-header').kind, 'none');
});
