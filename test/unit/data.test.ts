import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { checkAddress } from '../../src/smtp/handlers.ts';
import { normalizeLineEndings, readData } from '../../src/smtp/data.ts';

const stream = (...chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c, 'latin1')));

test('CRLF messages pass unchanged', async () => {
  const r = await readData(stream('Subject: a\r\n\r\nbody\r\n'), 1000);
  assert.ok(r.ok);
  assert.equal(r.normalized, false);
  assert.equal(r.raw.toString(), 'Subject: a\r\n\r\nbody\r\n');
});

test('bare LF becomes a line break and a stray CR a space, so neither can smuggle a line', async () => {
  assert.equal(normalizeLineEndings(Buffer.from('a\nb\rc\r\nd')).toString(), 'a\r\nb c\r\nd');
  const r = await readData(stream('Subject: s\r\n\r\nhello\n.\r\nMAIL FROM:<smuggled@a.example>\r\n'), 1000);
  assert.ok(r.ok);
  assert.ok(r.normalized);
  assert.ok(!/[^\r]\n/.test(r.raw.toString()));
});

test('a NUL byte is refused, naming it', async () => {
  const r = await readData(stream('Subject: a\r\n\r\nb\u0000c\r\n'), 1000);
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.deepEqual([r.refusal.kind, /NUL/.test((r.refusal as { reason: string }).reason)], ['content_invalid', true]);
});

test('over the limit: drained, nothing kept, refused as too large', async () => {
  const r = await readData(stream('x'.repeat(600), 'y'.repeat(600)), 1000);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.refusal.kind, 'too_large');
});

test('envelope addresses: syntax, invalid UTF-8 and non-ASCII get their own replies', () => {
  assert.equal(checkAddress('someone@example.org'), null);
  assert.deepEqual([checkAddress('not-an-address')?.code, checkAddress('not-an-address')?.enhanced], [501, '5.1.3']);
  assert.deepEqual(
    [checkAddress('j\u00fcrgen@example.org')?.code, checkAddress('j\u00fcrgen@example.org')?.enhanced],
    [553, '5.6.7'],
  );
  assert.deepEqual(
    [checkAddress('\uFFFD@example.org')?.code, checkAddress('\uFFFD@example.org')?.enhanced],
    [501, '5.1.7'],
  );
  assert.equal(checkAddress('a\rb@example.org')?.code, 501);
});
