// The conversion rules of the MIME stage, run in-process (parseMessage is what the worker runs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cleanLine } from '../../src/mime/clean.ts';
import { repairC1 } from '../../src/mime/cp1252.ts';
import { parseMessage } from '../../src/mime/parse-message.ts';
import { countParts } from '../../src/mime/prescan.ts';
import type { ParsedMessage } from '../../src/mime/types.ts';

const LIMITS = { maxDepth: 10, maxParts: 1000, maxHeaderBytes: 1 << 20 };

async function parse(raw: string | Buffer): Promise<ParsedMessage> {
  const bytes = typeof raw === 'string' ? Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'latin1') : raw;
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const r = await parseMessage(ab, LIMITS);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.failure));
  return r.message;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('cleanLine', () => {
  test('line breaks become one space, NUL and controls go, TAB is a space', () => {
    assert.equal(cleanLine('hi\r\nBcc: v@x'), 'hi Bcc: v@x');
    assert.equal(cleanLine('a\u2028b\u0085c'), 'a b c');
    assert.equal(cleanLine('a\0b\u0007c\u007f'), 'abc');
    assert.equal(cleanLine('\ta\tb '), 'a b');
  });
});

describe('header injection (docs/threat-model.md T-09)', () => {
  test('encoded words decoding to CRLF are cleaned everywhere', async () => {
    const m = await parse(
      `From: =?UTF-8?B?${b64('Eve\r\nBcc: v2@evil.example')}?= <eve@example.com>\nSubject: =?UTF-8?B?${b64('hi\r\nBcc: victim@evil.example')}?=\nX-Foo: a\0b\nReply-To: =?UTF-8?B?${b64('a@x>\r\nBcc: v@y')}?= <r@example.com>\n\nbody\n`,
    );
    assert.equal(m.subject, 'hi Bcc: victim@evil.example');
    assert.equal(m.from[0]?.name, 'Eve Bcc: v2@evil.example');
    for (const h of m.headers) assert.doesNotMatch(h.value, /[\r\n\0]/, h.name);
    assert.equal(m.headers.find((h) => h.name === 'X-Foo')?.value, 'ab');
    assert.deepEqual(m.replyTo, [{ name: 'a@x> Bcc: v@y', address: 'r@example.com' }]);
  });
});

describe('charsets', () => {
  test('Node 20 TextDecoder knows every legacy charset the corpus needs', () => {
    for (const c of ['iso-8859-1', 'iso-8859-2', 'iso-8859-15', 'windows-1250', 'windows-1252', 'koi8-r', 'shift_jis', 'iso-2022-jp', 'gb2312', 'big5']) {
      assert.doesNotThrow(() => new TextDecoder(c), c);
    }
  });
  test('windows-1252 bytes 0x80–0x9F are the Windows characters, not C1 controls', async () => {
    assert.equal(repairC1('\u0080 \u0096 \u0092 \u0081'), '€ – ’ \u0081');
    const m = await parse(Buffer.concat([
      Buffer.from('From: a@example.com\r\nSubject: =?windows-1252?Q?=93Hi=94_=96_=80?=\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\n'),
      Buffer.from([0x93, 0x48, 0x94, 0x20, 0x96, 0x20, 0x80, 0x0d, 0x0a]),
    ]));
    assert.equal(m.subject, '“Hi” – €');
    assert.equal(m.text, '“H” – €\n');
  });
  test('Python email labels (eucgb2312_cn, big5_tw) decode', async () => {
    const m = await parse('From: a@example.com\nSubject: =?eucgb2312_cn?b?u+HS6c2o1qo=?=\n\nx\n');
    assert.equal(m.subject, '会议通知');
  });
});

describe('attachments', () => {
  test('RFC 2231 names with charset and continuations; Content-ID without brackets; lower-case type', async () => {
    const m = await parse(`From: a@example.com
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

hi
--b
Content-Type: Application/PDF
Content-Disposition: attachment; filename*0*=iso-8859-1''R%E9sum%E9; filename*1=".pdf"
Content-ID: <part1@example.com>

%PDF
--b--
`);
    assert.deepEqual(
      m.attachments.map((a) => ({ ...a, content: Buffer.from(a.content).toString() })),
      [{ filename: 'Résumé.pdf', contentType: 'application/pdf', disposition: 'attachment', contentId: 'part1@example.com', content: '%PDF\n' }],
    );
  });
});

describe('countParts', () => {
  test('counts delimiter lines of declared boundaries only', () => {
    const raw = Buffer.from('Content-Type: multipart/mixed; boundary="a b"\r\n\r\n--a b\r\n\r\nx\r\n--a b  \r\n\r\n--other\r\n--a b--\r\n');
    assert.equal(countParts(raw, 100), 2);
  });
  test('stops early past the maximum', () => {
    const raw = Buffer.from(`Content-Type: multipart/mixed; boundary=z\r\n\r\n${'--z\r\n\r\nx\r\n'.repeat(5000)}`);
    assert.equal(countParts(raw, 10), 11);
  });
});
