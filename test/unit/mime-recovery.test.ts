// Mail that mail programs read although it breaks the MIME rules, which an earlier MIME stage
// refused (554) or changed. One test per class; each fixture (test/fixtures/eml/hand-*.eml, written
// by scripts/fixtures/handcrafted.py) is a golden payload of its own in the golden test. Every
// repair is named in the message's `repairs`, which the pipeline logs and counts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { EML_DIR } from '../../scripts/fixtures/golden-lib.ts';
import { parseMessage } from '../../src/mime/parse-message.ts';
import type { ParsedMessage } from '../../src/mime/types.ts';

const LIMITS = { maxDepth: 10, maxParts: 1000, maxHeaderBytes: 1 << 20 };

async function parsed(file: string): Promise<ParsedMessage> {
  const bytes = readFileSync(new URL(file, EML_DIR));
  const r = await parseMessage(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    LIMITS,
  );
  assert.ok(r.ok, r.ok ? '' : `${file} refused: ${JSON.stringify(r.failure)}`);
  return r.message;
}

describe('broken multipart structure is read, never refused', () => {
  test('an unterminated part ends at the end of its parent (outer and inner closing delimiters missing)', async () => {
    const m = await parsed('hand-multipart-unterminated.eml');
    assert.equal(m.text, 'The quarterly report is attached.\n');
    assert.equal(m.html, '<p>The quarterly report is attached.</p>\n');
    assert.deepEqual(
      m.attachments.map((a) => [a.filename, Buffer.from(a.content).toString('latin1').slice(0, 9)]),
      [['report.pdf', '%PDF-1.4\n']],
    );
    assert.deepEqual(m.repairs, { multipart_unterminated: 2 });
  });

  test("an inner multipart whose boundary never appears: its part's text is shown", async () => {
    const m = await parsed('hand-inner-boundary-missing.eml');
    assert.equal(m.text, 'Meeting moved to Thursday at 10:00.\n\nAgenda: budget, hiring.');
    assert.deepEqual(m.repairs, { multipart_without_parts: 1 });
  });

  test('an inner start delimiter is missing: the part before the closing one is shown', async () => {
    const m = await parsed('hand-inner-start-missing.eml');
    assert.equal(m.text, 'Your order 4411 has shipped.\n');
    assert.deepEqual(m.repairs, { multipart_without_parts: 1 });
  });

  test('a multipart with no parts loses nothing and stops nothing', async () => {
    const m = await parsed('hand-multipart-no-parts.eml');
    assert.equal(m.text, 'See the notes below.');
    assert.deepEqual(m.attachments, []);
  });

  test('the boundary in the body differs from the declared one: the content is shown as text, as written', async () => {
    const m = await parsed('hand-boundary-differs.eml');
    assert.equal(
      m.text,
      '------=_Part_0_2.2\nContent-Type: text/plain; charset=utf-8\n\nYour password was changed.\n------=_Part_0_2.2--\n',
    );
    const never = await parsed('hand-boundary-never-appears.eml');
    assert.match(never.text ?? '', /This text sits in the preamble\./);
    assert.deepEqual(m.repairs, { multipart_without_parts: 1 });
  });

  test('stray closing delimiters are ignored: before the first part, between parts, after the last', async () => {
    const m = await parsed('hand-extra-closing-boundaries.eml');
    assert.equal(m.text, 'First note.\nSecond note.');
    assert.deepEqual(m.repairs, { stray_closing_boundary: 2 });
  });
});

describe('a malformed header line before From does not end the header', () => {
  for (const [file, subject, text] of [
    ['hand-header-no-colon.eml', 'Order confirmation', 'Thanks for your order.\n'],
    ['hand-header-continuation-first.eml', 'Continuation first', 'Body after a stray continuation line.\n'],
    ['hand-header-envelope-inside.eml', 'Envelope line inside the header', 'Body after an mbox line.\n'],
  ] as const) {
    test(file, async () => {
      const m = await parsed(file);
      assert.equal(m.from.length, 1, 'the From below the broken line is read');
      assert.equal(m.subject, subject);
      assert.equal(m.text, text);
      assert.deepEqual(m.repairs, { malformed_header_line: 1 });
    });
  }

  test('a line that is not a field with no field after it still starts the body (no separator)', async () => {
    const m = await parsed('hand-no-separator.eml');
    assert.equal(m.text, 'Backup finished without errors.\n');
    assert.deepEqual(m.repairs, { missing_header_separator: 1 });
  });

  const parse = async (text: string) => {
    const raw = Buffer.from(text);
    const r = await parseMessage(
      raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer,
      LIMITS,
    );
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.failure));
    return r.message;
  };

  test('several broken lines in a row before From: the header goes on to the From below them', async () => {
    const m = await parse(
      'Received: from relay\r\nX-Broken\r\nanother broken line\r\nFrom: Shop <shop@example.com>\r\n' +
        'To: b@example.com\r\nSubject: Two broken lines\r\n\r\nBody.\r\n',
    );
    assert.deepEqual(m.from, [{ name: 'Shop', address: 'shop@example.com' }]);
    assert.equal(m.subject, 'Two broken lines');
    assert.equal(m.text, 'Body.\n');
    assert.deepEqual(m.repairs, { malformed_header_line: 2 });
  });

  test('once From has been read, lines that are not fields start the body, even with a field-like line below', async () => {
    const m = await parse(
      'From: a@example.com\r\nSubject: Report\r\nHello team,\r\nthe numbers are in.\r\nFrom: the finance desk\r\n',
    );
    assert.equal(m.text, 'Hello team,\nthe numbers are in.\nFrom: the finance desk\n');
    assert.deepEqual(m.repairs, { missing_header_separator: 1 });
  });
});

describe('RFC 2047 words split mid-character are joined before decoding', () => {
  test('ISO-2022-JP: complete words joined without U+FFFD, a base64 word cut mid-quantum joined with the next', async () => {
    const m = await parsed('hand-split-iso-2022-jp.eml');
    assert.equal(m.subject, 'Re: TEST テストテスト');
    assert.equal(m.headers.find((h) => h.name === 'X-Thread-Topic')?.value, 'テストテスト');
    assert.deepEqual(m.from, [{ name: '山田', address: 'yamada@example.jp' }]);
    assert.equal(m.text, 'テストです。\n');
  });

  test('UTF-8: base64 cut mid-quantum, and a character split between a B and a Q word', async () => {
    const m = await parsed('hand-split-utf8-words.eml');
    assert.equal(m.subject, 'Grüße aus Köln – 100 €');
    assert.deepEqual(m.from, [{ name: 'Grüße', address: 'gruss@example.de' }]);
    assert.equal(m.repairs?.split_encoded_word, 1);
  });

  test('a base64 word that left out its padding, followed by a whole word, is not joined with it', async () => {
    // `w6nDqQ` is "éé" without its `==`; `w6k=` is "é". Carried into the next word as half a
    // quantum, the leftover turned "ééé" into "éé:" plus a control byte.
    const raw = Buffer.from('From: a@example.com\r\nSubject: =?UTF-8?B?w6nDqQ?= =?UTF-8?B?w6k=?=\r\n\r\nx\r\n');
    const r = await parseMessage(
      raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer,
      LIMITS,
    );
    assert.ok(r.ok);
    assert.equal(r.message.subject, 'ééé');
  });
});

describe('undeclared 8-bit bytes read as windows-1252 (WHATWG), never as C1 controls', () => {
  test('no charset, us-ascii, iso-8859-1, a raw 8-bit subject, and UTF-8 carrying C1 code points', async () => {
    const m = await parsed('hand-undeclared-8bit.eml');
    assert.equal(m.subject, 'Invoice €120 – due');
    assert.equal(m.text, 'Total: €120 “net” …\nCafé € ™\nPré-pay‚ €5\nFee: €3');
    assert.doesNotMatch(`${m.subject}${m.text}`, /[\u0080-\u009f\ufffd]/);
    assert.deepEqual(m.repairs, { undeclared_8bit: 3, c1_control: 1 });
  });

  test('text labelled UTF-8 with windows-1252 bytes pasted in: those bytes read as windows-1252, not U+FFFD', async () => {
    const raw = Buffer.concat([
      Buffer.from('From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'),
      Buffer.from('Caf\xe9 cr\xc3\xa8me \xe2\x82\xac5 \x93q\x94 \xe2\x82', 'latin1'),
    ]);
    const r = await parseMessage(
      raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer,
      LIMITS,
    );
    assert.ok(r.ok);
    assert.equal(r.message.text, 'Café crème €5 “q” â‚');
    assert.deepEqual(r.message.repairs, { invalid_utf8: 1 });
  });
});
