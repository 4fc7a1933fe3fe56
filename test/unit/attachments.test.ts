// Attachment type mapping, file-name sanitising, policy and size limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  attachmentType,
  mapAttachments,
  sanitizeFilename,
  sizeOver,
  type AttachmentPolicy,
} from '../../src/delivery/attachments.ts';
import { ATTACHMENT_FILENAME_PATTERN } from '../../src/cakemail/types.ts';
import type { ParsedAttachment } from '../../src/mime/types.ts';

const MiB = 1024 * 1024;
const POLICY: AttachmentPolicy = {
  attachmentPolicy: 'reject',
  maxAttachmentBytes: 10 * MiB,
  maxTotalAttachmentBytes: 25 * MiB,
};
const part = (
  filename: string | null,
  contentType: string,
  bytes: number | Uint8Array = 3,
  over: Partial<ParsedAttachment> = {},
): ParsedAttachment => ({
  filename,
  contentType,
  disposition: 'attachment',
  contentId: null,
  content: typeof bytes === 'number' ? new Uint8Array(bytes).fill(65) : bytes,
  ...over,
});

describe('attachmentType', () => {
  const cases: [string, string | null, string | null][] = [
    ['application/pdf', 'a.pdf', 'pdf'],
    ['application/pdf', null, 'pdf'],
    ['application/pdf', 'report.final', 'pdf'],
    ['application/octet-stream', 'a.pdf', 'pdf'],
    ['application/octet-stream', 'a.PDF', 'pdf'],
    ['application/octet-stream', 'a.bin', null],
    ['image/jpeg', 'a.jpg', 'jpeg'],
    ['image/pjpeg', 'a.jpe', 'jpeg'],
    ['application/octet-stream', 'a.jpg', 'jpeg'],
    ['image/png', 'a.png', 'png'],
    ['text/calendar', null, 'calendar'],
    ['application/ics', 'invite.ics', 'calendar'],
    ['text/plain', 'invite.ics', 'calendar'],
    ['text/csv', 'x.csv', 'csv'],
    ['text/plain', 'x.csv', 'csv'],
    ['application/vnd.ms-excel', 'x.csv', 'csv'],
    ['application/vnd.ms-excel', 'x.xls', 'xls'],
    ['application/msword', 'x.docx', 'docx'],
    ['application/msword', 'x.doc', 'doc'],
    ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'x.docx', 'docx'],
    ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', null, 'xlsx'],
    ['application/x-msdownload', 'setup.exe', null],
    ['application/x-msdownload', 'invoice.pdf', null],
    ['image/gif', 'a.gif', null],
    ['text/plain', 'notes.txt', null],
    ['text/plain', 'a.pdf', null],
    ['message/rfc822', 'fwd.eml', null],
  ];
  for (const [ct, name, expected] of cases)
    test(`${ct} + ${name} → ${expected}`, () => assert.equal(attachmentType(ct, name), expected));
});

describe('sanitizeFilename', () => {
  const cases: [string | null, Parameters<typeof sanitizeFilename>[1], string][] = [
    ['Résumé final (v2).pdf', 'pdf', 'Resume-final-v2.pdf'],
    ['photo.JPG', 'jpeg', 'photo.jpeg'],
    ['photo.jpg', 'jpeg', 'photo.jpeg'],
    ['export 2026.11.csv', 'csv', 'export-2026-11.csv'],
    ['report.final', 'pdf', 'report-final.pdf'],
    ['C:\\Users\\me\\scan.pdf', 'pdf', 'scan.pdf'],
    ['../../etc/passwd.pdf', 'pdf', 'passwd.pdf'],
    ['請求書.pdf', 'pdf', 'fallback.pdf'],
    [null, 'calendar', 'fallback.ics'],
    ['invite.ics', 'calendar', 'invite.ics'],
    ['Itine\u0301raire.pdf', 'pdf', 'Itineraire.pdf'],
    ['chart.png', 'jpeg', 'chart.jpeg'],
    ['my_file-1.xlsx', 'xlsx', 'my_file-1.xlsx'],
  ];
  for (const [name, type, expected] of cases) {
    test(`${name} → ${expected}`, () => {
      const out = sanitizeFilename(name, type, 'fallback');
      assert.equal(out, expected);
      assert.match(out, ATTACHMENT_FILENAME_PATTERN);
    });
  }
  test('long names are cut', () =>
    assert.equal(sanitizeFilename(`${'a'.repeat(300)}.pdf`, 'pdf', 'f'), `${'a'.repeat(100)}.pdf`));
});

describe('mapAttachments', () => {
  test('names are unique within a message, case-insensitively', () => {
    const r = mapAttachments(
      [
        part('report.pdf', 'application/pdf'),
        part('Report.pdf', 'application/pdf'),
        part('report.pdf', 'application/pdf'),
        part(null, 'application/pdf'),
      ],
      POLICY,
    );
    assert.ok(r.ok);
    assert.deepEqual(
      r.attachments.map((a) => a.filename),
      ['report.pdf', 'Report-2.pdf', 'report-3.pdf', 'attachment-4.pdf'],
    );
  });
  test('content is strict base64 of the decoded bytes, even from a view into a larger buffer', () => {
    const big = Buffer.from('xxHELLO WORLDyy');
    const r = mapAttachments(
      [part('a.pdf', 'application/pdf', new Uint8Array(big.buffer, big.byteOffset + 2, 11))],
      POLICY,
    );
    assert.ok(r.ok);
    assert.equal(r.attachments[0]?.content, Buffer.from('HELLO WORLD').toString('base64'));
  });
  test('reject policy refuses a disallowed type naming the file, type and rule', () => {
    const r = mapAttachments([part('a.pdf', 'application/pdf'), part('setup.exe', 'application/x-msdownload')], POLICY);
    assert.deepEqual(r, {
      ok: false,
      refusal: {
        kind: 'attachment_refused',
        reason:
          '"setup.exe" (application/x-msdownload) is not a type Cakemail accepts; allowed: csv, doc, docx, ics, jpeg, pdf, png, xls, xlsx',
      },
    });
  });
  test('drop policy omits it and lists it', () => {
    const r = mapAttachments([part('setup.exe', 'application/x-msdownload'), part('a.pdf', 'application/pdf')], {
      ...POLICY,
      attachmentPolicy: 'drop',
    });
    assert.ok(r.ok);
    assert.deepEqual(
      r.attachments.map((a) => a.filename),
      ['a.pdf'],
    );
    assert.deepEqual(
      r.dropped.map((d) => [d.filename, d.contentType]),
      [['setup.exe', 'application/x-msdownload']],
    );
  });
  test('inline cid: images follow the same rules', () => {
    const png = part('logo.png', 'image/png', 3, { disposition: 'inline', contentId: 'logo@x' });
    const gif = part('spacer.gif', 'image/gif', 3, { disposition: 'inline', contentId: 'sp@x' });
    const r = mapAttachments([png], POLICY);
    assert.ok(r.ok);
    assert.deepEqual(
      r.attachments.map((a) => [a.filename, a.type]),
      [['logo.png', 'png']],
    );
    assert.equal(mapAttachments([png, gif], POLICY).ok, false);
  });
  test('an alternative body format or a detached signature is left out under any policy; an empty unnamed part is ignored', () => {
    const r = mapAttachments(
      [
        part(null, 'text/enriched', 3, { disposition: null, role: 'alternative' }),
        part('smime.p7s', 'application/pkcs7-signature', 5, { role: 'signature' }),
        part(null, 'application/octet-stream', 0),
      ],
      POLICY,
    );
    assert.ok(r.ok);
    assert.equal(r.attachments.length, 0);
    assert.deepEqual(
      r.dropped.map((d) => d.contentType),
      ['text/enriched', 'application/pkcs7-signature'],
    );
  });
  test('unnamed_text_x_part_not_skipped_under_reject: an unnamed text part the MIME stage did not mark follows the policy', () => {
    const r = mapAttachments([part(null, 'text/x-vcard', 3, { disposition: null })], POLICY);
    assert.equal(r.ok, false);
  });
  test('identical calendar content is sent once, keeping the named copy', () => {
    const ics = Buffer.from('BEGIN:VCALENDAR\nEND:VCALENDAR\n');
    const r = mapAttachments(
      [part(null, 'text/calendar', ics, { disposition: null }), part('invitation.ics', 'application/ics', ics)],
      POLICY,
    );
    assert.ok(r.ok);
    assert.deepEqual(
      r.attachments.map((a) => a.filename),
      ['invitation.ics'],
    );
  });
  test('one attachment over the limit → too_large naming it', () => {
    const r = mapAttachments([part('big.pdf', 'application/pdf', 12 * MiB)], POLICY);
    assert.deepEqual(r, {
      ok: false,
      refusal: { kind: 'too_large', reason: 'attachment "big.pdf" is 12.0 MiB, limit 10 MiB' },
    });
    assert.equal(mapAttachments([part('edge.pdf', 'application/pdf', 10 * MiB)], POLICY).ok, true);
  });
  test('the total over the limit → too_large naming the total', () => {
    const parts = [1, 2, 3].map((i) => part(`p${i}.pdf`, 'application/pdf', 9 * MiB));
    assert.deepEqual(mapAttachments(parts, POLICY), {
      ok: false,
      refusal: { kind: 'too_large', reason: 'attachments total 27.0 MiB, limit 25 MiB' },
    });
  });
  test('sizes never read as equal to the limit', () => {
    assert.equal(sizeOver(10 * MiB + 1000, 10 * MiB), '10.001 MiB, limit 10 MiB');
    assert.equal(sizeOver(2000, 1024), '2.0 KiB, limit 1 KiB');
  });
});
