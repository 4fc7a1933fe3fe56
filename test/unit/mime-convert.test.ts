// The conversion rules of the MIME stage, run in-process (parseMessage is what the worker runs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cleanLine } from '../../src/mime/clean.ts';
import { repairC1 } from '../../src/mime/cp1252.ts';
import { decodeBytes } from '../../src/mime/charsets.ts';
import { decodeHeaderValue } from '../../src/mime/encoded-words.ts';
import { parseStructured } from '../../src/mime/params.ts';
import { parseMessage } from '../../src/mime/parse-message.ts';
import { decodeTransfer } from '../../src/mime/transfer.ts';
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
    for (const c of [
      'iso-8859-1',
      'iso-8859-2',
      'iso-8859-15',
      'windows-1250',
      'windows-1252',
      'koi8-r',
      'shift_jis',
      'iso-2022-jp',
      'gb2312',
      'big5',
    ]) {
      assert.doesNotThrow(() => new TextDecoder(c), c);
    }
  });
  test('windows-1252 bytes 0x80–0x9F are the Windows characters, not C1 controls', async () => {
    assert.equal(repairC1('\u0080 \u0096 \u0092 \u0081'), '€ – ’ \u0081');
    const m = await parse(
      Buffer.concat([
        Buffer.from(
          'From: a@example.com\r\nSubject: =?windows-1252?Q?=93Hi=94_=96_=80?=\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\n',
        ),
        Buffer.from([0x93, 0x48, 0x94, 0x20, 0x96, 0x20, 0x80, 0x0d, 0x0a]),
      ]),
    );
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
      [
        {
          filename: 'Résumé.pdf',
          contentType: 'application/pdf',
          disposition: 'attachment',
          contentId: 'part1@example.com',
          content: '%PDF',
        },
      ],
    );
  });
});

describe('parameters (params.ts)', () => {
  test('RFC 2231 sections join in order, with the charset of section 0; extended wins over plain', () => {
    const v = parseStructured(
      `attachment; filename="plain.pdf"; filename*1*=%20final.pdf; filename*0*=utf-8'fr'R%C3%A9sum%C3%A9`,
    );
    assert.equal(v.value, 'attachment');
    assert.equal(v.params.get('filename'), 'Résumé final.pdf');
  });
  test('comments go, parentheses inside a value stay, a boundary is never decoded', () => {
    const v = parseStructured('multipart/mixed (generated) ; boundary="=?b?=_(1)"; name=Invoice(1).pdf');
    assert.equal(v.value, 'multipart/mixed');
    assert.equal(v.params.get('boundary'), '=?b?=_(1)');
    assert.equal(v.params.get('name'), 'Invoice(1).pdf');
  });
  test('a missing ";" before the first parameter; backslash literal outside quotes', () => {
    const v = parseStructured('application/pdf name=C:\\docs\\a.pdf');
    assert.equal(v.value, 'application/pdf');
    assert.equal(v.params.get('name'), 'C:\\docs\\a.pdf');
  });
});

describe('encoded words (encoded-words.ts)', () => {
  test('a character split across two words of one charset survives; space between words goes', () => {
    // "é" is C3 A9 in UTF-8: one byte in each word.
    assert.equal(decodeHeaderValue('=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?= ok'), 'café ok');
  });
  test('raw 8-bit text outside words: UTF-8 when valid, else Windows-1252', () => {
    assert.equal(decodeHeaderValue(Buffer.from('Zoë', 'utf8').toString('latin1')), 'Zoë');
    assert.equal(decodeHeaderValue('Zo\xeb \x93q\x94'), 'Zoë “q”');
  });
});

describe('transfer encodings (transfer.ts)', () => {
  const decode = (cte: string, s: string): string => {
    const r = decodeTransfer(cte, Buffer.from(s, 'latin1'));
    assert.ok(r.ok);
    return Buffer.from(r.bytes).toString('latin1');
  };
  test('quoted-printable: soft breaks joined, transport padding dropped, CRLF kept, bad escapes literal', () => {
    assert.equal(decode('quoted-printable', 'a=\r\nb  \r\nc=3D=0D=0A=ZZ'), 'ab\r\nc=\r\n=ZZ');
  });
  test('identity encodings return the bytes untouched', () => {
    assert.equal(decode('8bit', 'a\rb\r\n'), 'a\rb\r\n');
  });
  test('an unknown encoding is reported by name', () => {
    assert.deepEqual(decodeTransfer('x-gzip64', Buffer.from('x')), { ok: false, encoding: 'x-gzip64' });
  });
});

describe('charsets (charsets.ts)', () => {
  test('UTF-7, us-ascii holding UTF-8, an unknown label', () => {
    assert.equal(decodeBytes(Buffer.from('Fr+APY-sche +- 1'), 'UTF-7'), 'Frösche + 1');
    assert.equal(decodeBytes(Buffer.from('Envoyé', 'utf8'), 'us-ascii'), 'Envoyé');
    assert.equal(decodeBytes(Buffer.from([0x45, 0xe9]), 'x-made-up'), 'Eé');
  });
});

describe('header block (tree.ts)', () => {
  test('a header name with an 8-bit byte does not end the header block', async () => {
    const m = await parse(
      Buffer.from('From: a@example.com\r\nS\xfcbject: x\r\nSubject: kept\r\n\r\nbody\r\n', 'latin1'),
    );
    assert.equal(m.subject, 'kept');
    assert.equal(m.text, 'body\n');
  });
  test('a line that is not a header field starts the body when the blank line is missing', async () => {
    const m = await parse('From: a@example.com\nSubject: s\nHello world: not a header\n');
    assert.equal(m.text, 'Hello world: not a header\n');
  });
});

describe('uuencode (transfer.ts)', () => {
  test('decodes between begin and end, names the file; without a begin line it is refused, not guessed', () => {
    const r = decodeTransfer('x-uuencode', Buffer.from('begin 644 hi.txt\r\n":&D*\r\n`\r\nend\r\n'));
    assert.ok(r.ok);
    assert.equal(Buffer.from(r.bytes).toString(), 'hi');
    assert.equal(r.uuFilename, 'hi.txt');
    assert.deepEqual(decodeTransfer('x-uuencode', Buffer.from('":&D*\r\n')), {
      ok: false,
      encoding: 'x-uuencode without a "begin" line',
    });
  });
});
