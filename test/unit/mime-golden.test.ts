// Every fixture in test/fixtures/eml, through the real worker parser, inspectMessage and
// buildMessage, must give exactly its reviewed golden file (scripts/fixtures/update-golden.ts).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { defaultParser, EML_DIR, GOLDEN_DIR, goldenOf } from '../../scripts/fixtures/golden-lib.ts';
import { ATTACHMENT_FILENAME_PATTERN, STRICT_BASE64_PATTERN, TAG_PATTERN } from '../../src/cakemail/types.ts';

const parser = defaultParser();
after(() => parser.close());

const files = readdirSync(EML_DIR)
  .filter((f) => f.endsWith('.eml'))
  .sort();

describe('golden payloads', () => {
  test('the corpus is complete', () => {
    assert.ok(files.length >= 35, `only ${files.length} fixtures`);
  });
  for (const file of files) {
    test(file, async () => {
      const expected: unknown = JSON.parse(readFileSync(new URL(file.replace(/\.eml$/, '.json'), GOLDEN_DIR), 'utf8'));
      const actual: unknown = JSON.parse(JSON.stringify(await goldenOf(parser, file)));
      assert.deepEqual(actual, expected);
      assertApiClean(actual);
    });
  }
});

// Independent of the golden files: what reaches the API obeys the schema and carries no control characters.
function assertApiClean(golden: unknown): void {
  for (const outcome of [(golden as { reject?: unknown }).reject, (golden as { drop?: unknown }).drop]) {
    const payload = (outcome as { payload?: Record<string, any> } | undefined)?.payload;
    if (!payload) continue;
    const singleLine = (s: string): void =>
      assert.doesNotMatch(s, /[\r\n\0]/, `control character in ${JSON.stringify(s)}`);
    singleLine(payload.content.subject);
    assert.ok(payload.content.subject.length >= 1);
    assert.ok((payload.content.text ?? '').length >= 1 || (payload.content.html ?? '').length >= 1);
    if (payload.sender.name !== undefined) singleLine(payload.sender.name);
    for (const h of payload.additional_headers ?? []) {
      singleLine(h.name);
      singleLine(h.value);
      assert.doesNotMatch(
        h.name,
        /^(to|cc|bcc|from|sender|subject|received|return-path|dkim-signature|date|mime-version|content-.*)$/i,
      );
    }
    for (const t of payload.tags ?? []) assert.match(t, TAG_PATTERN);
    for (const a of payload.attachment ?? []) {
      assert.match(a.filename, ATTACHMENT_FILENAME_PATTERN);
      assert.match(a.content, STRICT_BASE64_PATTERN);
    }
    assert.equal('email' in payload, false);
  }
}
