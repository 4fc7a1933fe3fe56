import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanBody, cleanLine } from '../../src/mime/clean.ts';

test('bodies: one line-ending form (LF), NUL removed, everything else kept', () => {
  assert.equal(cleanBody('a\r\nb\rc\nd\u0000e\tf'), 'a\nb\nc\nde\tf');
});

test('single-line values: line breaks of any kind become one space, controls go', () => {
  assert.equal(cleanLine('hi\r\nBcc: victim@evil.example'), 'hi Bcc: victim@evil.example');
  assert.equal(cleanLine(' a\u2028b\u0085c\u0007d\u0000 '), 'a b cd');
});

test('Ruby mail gem quoted-printable (=0D before each hard break, CR CR LF decoded) came out with doubled blank lines: one break each', () => {
  assert.equal(cleanBody('Bonjour,\r\r\n\r\r\nMerci.\r\r\nFin'), 'Bonjour,\n\nMerci.\nFin');
});
