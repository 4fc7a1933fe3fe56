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

test('bodies: the fast path (nothing to change, same string back) and the narrower CR pattern give what the plain rule gives, on random line-ending soup', () => {
  const rule = (v: string) => v.replace(/\r*\n|\r/g, '\n').replace(/\u0000/g, '');
  const alphabet = ['\r', '\n', '\u0000', 'a', 'é', ' '];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    let v = '';
    for (let n = next() % 12; n > 0; n--) v += alphabet[next() % alphabet.length];
    assert.equal(cleanBody(v), rule(v), JSON.stringify(v));
  }
  const clean = 'already\nclean\n';
  assert.equal(cleanBody(clean), clean);
});
