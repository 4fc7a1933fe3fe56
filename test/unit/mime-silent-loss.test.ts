// Shapes of real mail that an earlier MIME stage accepted with 250 and changed silently. Each
// test reads a fixture of test/fixtures/eml (made by the program that produces the shape where
// one exists: Python's email, OpenSSL, GnuPG; by hand otherwise) through the parser and the
// payload stage, and names what broke. The golden test holds the full payloads.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULT_POLICY, EML_DIR } from '../../scripts/fixtures/golden-lib.ts';
import { inspectMessage } from '../../src/delivery/inspect.ts';
import { buildMessage } from '../../src/delivery/payload.ts';
import { parseMessage } from '../../src/mime/parse-message.ts';
import type { ParseResult } from '../../src/mime/types.ts';

const LIMITS = { maxDepth: 10, maxParts: 1000, maxHeaderBytes: 1 << 20 };

async function parseBytes(bytes: Buffer): Promise<ParseResult> {
  return parseMessage(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, LIMITS);
}

async function parsed(file: string) {
  const r = await parseBytes(readFileSync(new URL(file, EML_DIR)));
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.failure));
  return r.message;
}

async function refusal(file: string): Promise<string> {
  const r = await parseBytes(readFileSync(new URL(file, EML_DIR)));
  assert.equal(r.ok, false, `${file} was accepted`);
  return r.ok ? '' : `${r.failure.kind}: ${r.failure.detail}`;
}

async function payload(file: string, attachmentPolicy: 'reject' | 'drop' = 'reject') {
  const message = await parsed(file);
  const inspected = inspectMessage(message);
  assert.ok(inspected.ok);
  const built = buildMessage(
    {
      message,
      controls: inspected.controls,
      sender: inspected.from.name ? { id: 's', name: inspected.from.name } : { id: 's' },
      envelopeFrom: 'b@example.com',
      newId: () => 'id',
    },
    { ...DEFAULT_POLICY, attachmentPolicy },
  );
  assert.ok(built.ok, built.ok ? '' : JSON.stringify(built.refusal));
  return built.built;
}

const bytesOf = (content: string): string => Buffer.from(content, 'base64').toString('hex');

describe('silent losses', () => {
  test('utf7_body_and_subject_are_decoded (Outlook 2000 / Exchange)', async () => {
    const m = await parsed('python-utf-7.eml');
    assert.equal(m.subject, 'Frische Brötchen');
    assert.equal(m.text, 'Frische Brötchen für alle!\n');
  });

  test('raw_8bit_bytes_in_an_encoded_word_decode_with_its_charset', async () => {
    const m = await parsed('hand-8bit-encoded-word.eml');
    assert.equal(m.subject, 'Frösche Brötchen');
    assert.equal(m.from[0]?.name, 'Jürgen Müller');
  });

  test('x_uuencode_part_is_decoded_to_the_original_bytes', async () => {
    const b = await payload('python-uuencode.eml');
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
      'base64',
    );
    assert.deepEqual(
      b.base.attachment?.map((a) => [a.filename, a.type, bytesOf(a.content)]),
      [['chart.png', 'png', png.toString('hex')]],
    );
  });

  test('a_transfer_encoding_that_cannot_be_decoded_is_refused_naming_it', async () => {
    assert.match(
      await refusal('hand-unknown-transfer-encoding.eml'),
      /^malformed: Content-Transfer-Encoding "x-binhex"/,
    );
  });

  test('8bit_binary_and_qp_attachments_are_byte_exact (CRs kept, no trailing LF added)', async () => {
    const exact = Buffer.from(
      '%PDF-1.4\r\n%\xe2\xe3\xcf\xd3\r\n1 0 obj <<>> endobj\r\ntrailer <<>>\r\n%%EOF',
      'latin1',
    ).toString('hex');
    const b = await payload('python-exact-attachments.eml');
    assert.deepEqual(
      b.base.attachment?.map((a) => [a.filename, bytesOf(a.content)]),
      [
        ['eightbit.pdf', exact],
        ['binary.pdf', exact],
        ['qp.pdf', exact],
      ],
    );
  });

  test('an_invalid_content_type_on_the_body_reads_as_text_plain', async () => {
    assert.equal((await payload('hand-invalid-content-type.eml')).base.content.text, '/dev/sda1 91% used\n');
    assert.equal((await payload('hand-html-as-content-type.eml', 'drop')).base.content.text, 'Job finished in 42 s.\n');
    const empty = await parseBytes(Buffer.from('From: a@example.com\r\nContent-Type:\r\n\r\nhello\r\n'));
    assert.ok(empty.ok && empty.message.text === 'hello\n');
  });

  test('an_unnamed_inline_text_x_part_is_shown_not_skipped', async () => {
    const b = await payload('hand-inline-diff.eml');
    assert.match(b.base.content.text ?? '', /\+\+\+ b\/README\n-teh\n\+the/);
    assert.deepEqual(b.dropped, []);
  });

  test('a_missing_header_body_separator_keeps_the_body', async () => {
    assert.equal((await payload('hand-no-separator.eml')).base.content.text, 'Backup finished without errors.\n');
    assert.equal(
      (await payload('hand-space-on-blank-line.eml')).base.content.text,
      'Backup finished without errors.\n',
    );
  });

  test('a_multipart_whose_boundary_never_appears_is_shown_as_text, never sent as " "', async () => {
    const m = await parsed('hand-boundary-never-appears.eml');
    assert.equal(m.text, '--other\nContent-Type: text/plain\n\nThis text sits in the preamble.\n--other--\n');
  });

  test('us_ascii_labelled_valid_utf8_decodes_as_utf8', async () => {
    const m = await parsed('hand-us-ascii-utf8.eml');
    assert.equal(m.text, 'Envoyé à Zoë.\n');
    assert.equal(m.subject, 'Commande envoyée');
  });

  test('a_missing_semicolon_before_name_keeps_the_pdf', async () => {
    const b = await payload('hand-missing-semicolon.eml');
    assert.deepEqual(
      b.base.attachment?.map((a) => [a.filename, a.type]),
      [['invoice-2026-0042.pdf', 'pdf']],
    );
  });

  test('an_escaped_paren_in_a_display_name_comment_is_part_of_the_comment', async () => {
    const m = await parsed('hand-rfc5322-comments.eml');
    assert.deepEqual(m.from, [{ name: 'Pete', address: 'pete@silly.test' }]);
  });
});

describe('signed mail, bounces and read receipts', () => {
  test('S/MIME and PGP clear-signed mail deliver the content; the detached signature is left out and listed', async () => {
    for (const file of ['signed-smime.eml', 'signed-pgp.eml']) {
      const b = await payload(file);
      assert.equal(b.base.content.text, 'The contract is signed; see you Monday.\n', file);
      assert.equal(b.base.attachment, undefined, file);
      assert.match(b.dropped[0]?.reason ?? '', /detached signature/, file);
    }
  });

  test('opaque S/MIME is refused saying why', async () => {
    assert.match(await refusal('signed-smime-opaque.eml'), /S\/MIME-wrapped and cannot be read/);
  });

  test('a bounce and a read receipt are delivered as text under reject', async () => {
    const bounce = await payload('hand-bounce.eml');
    assert.match(bounce.base.content.text ?? '', /Status: 5\.1\.1[\s\S]*Subject: Hello[\s\S]*Hello there\./);
    const mdn = await payload('hand-read-receipt.eml');
    assert.match(
      mdn.base.content.text ?? '',
      /Disposition: manual-action\/MDN-sent-manually; displayed[\s\S]*Subject: Quarterly numbers/,
    );
  });
});

describe('bounded values and structure', () => {
  test('sender_name_is_capped: 50,000 encoded words in From give a 256-character name', async () => {
    const r = await parseBytes(Buffer.from(`From: ${'=?utf-8?q?a?= '.repeat(50_000)}<a@example.com>\r\n\r\nx\r\n`));
    assert.ok(r.ok);
    assert.equal(r.message.from[0]?.name.length, 256);
  });

  test('decoded header values are capped; References keeps whole Message-IDs, newest last', async () => {
    const ids = Array.from({ length: 400 }, (_, i) => `<id-${i}@example.com>`).join(' ');
    const r = await parseBytes(
      Buffer.from(
        `From: a@example.com\r\nSubject: ${'s'.repeat(5000)}\r\nX-Long: ${'v'.repeat(9000)}\r\nReferences: ${ids}\r\n\r\nx\r\n`,
      ),
    );
    assert.ok(r.ok);
    assert.equal(r.message.subject.length, 998);
    assert.equal(r.message.headers.find((h) => h.name === 'X-Long')?.value.length, 4000);
    const refs = r.message.headers.find((h) => h.name === 'References')?.value ?? '';
    assert.ok(refs.length <= 4000 && refs.endsWith('<id-399@example.com>') && refs.startsWith('<id-'));
  });

  const parts = (decl: string, boundary: string, n: number): string =>
    `From: a@example.com\r\nContent-Type: multipart/mixed; ${decl}\r\n\r\n${`--${boundary}\r\n\r\nx\r\n`.repeat(n)}--${boundary}--\r\n`;

  test('an RFC 2231 boundary (boundary*0, boundary*1) cannot bypass the part limit', async () => {
    const r = await parseBytes(Buffer.from(parts('boundary*0="pa"; boundary*1="rt"', 'part', 5000)));
    assert.deepEqual(r.ok ? null : r.failure, {
      kind: 'limit',
      limit: 'parts',
      detail: 'MIME part count exceeds 1000',
    });
  });

  test('a boundary longer than 200 characters cannot bypass the part limit', async () => {
    const b = 'L'.repeat(300);
    const r = await parseBytes(Buffer.from(parts(`boundary="${b}"`, b, 5000)));
    assert.equal(r.ok ? null : r.failure.kind, 'limit');
  });

  test('parts inside a base64 message/rfc822 count against the same limit', async () => {
    const inner = parts('boundary="q"', 'q', 5000);
    const raw = `From: a@example.com\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(inner).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`;
    const r = await parseBytes(Buffer.from(raw));
    assert.deepEqual(r.ok ? null : r.failure, {
      kind: 'limit',
      limit: 'parts',
      detail: 'MIME part count exceeds 1000',
    });
  });
});
