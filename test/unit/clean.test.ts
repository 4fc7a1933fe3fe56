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
