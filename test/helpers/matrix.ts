// The client compatibility matrix (test/integration/matrix/*.test.ts): every real client sends
// the same transactional email — HTML + plain-text alternative, a PDF attachment, two To, one
// Cc and one Bcc — and the sandbox must receive exactly the four expected payloads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gateway } from '../../src/app.ts';
import { sandboxEmails } from './gateway.ts';

export const FROM_ADDRESS = 'demo@example.com';
export const FROM_NAME = 'Boutique Démo';
export const TO = ['alice@example.org', 'bob.martin@example.net'] as const;
export const TO_NAMES = ['Alice Durand', 'Bob Martin'] as const;
export const CC = 'carol@example.org';
/** Unique enough that any mention of it in a payload is found by a substring search. */
export const BCC = 'dave.hidden-bcc@example.com';
export const RECIPIENTS = [...TO, CC, BCC];
export const SUBJECT = 'Reçu n° 42 — merci';
export const TEXT =
  'Bonjour,\n\nMerci pour votre commande n° 42 — total : 42,00 €.\nVotre reçu est joint (PDF).\n\nL’équipe Démo';
export const HTML =
  '<!doctype html><html><body><h1>Reçu n° 42</h1><p>Merci pour votre commande — total : <b>42,00&nbsp;€</b>.</p>' +
  '<p>Votre reçu est joint (PDF).</p><p>L’équipe Démo</p></body></html>';
export const PDF_NAME = 'invoice-42.pdf';

/**
 * A small but real PDF (one page, "Invoice 42") followed by a binary comment block holding all
 * 256 byte values, so any 8-bit or base64 damage on the way shows up in the received content.
 */
export function makePdf(): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    null, // the content stream, below
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const stream = 'BT /F1 18 Tf 20 80 Td (Invoice 42) Tj ET';
  objects[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  const head = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1');
  const parts: Buffer[] = [head];
  const offsets: number[] = [];
  let at = head.length;
  objects.forEach((body, i) => {
    const obj = Buffer.from(`${i + 1} 0 obj\n${body}\nendobj\n`, 'latin1');
    offsets.push(at);
    parts.push(obj);
    at += obj.length;
  });
  // A comment line of every byte value except line ends (a PDF comment runs to EOL), then CR LF.
  const binary = Buffer.from([
    0x25,
    ...Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 10 && b !== 13),
    0x0d,
    0x0a,
  ]);
  parts.push(binary);
  at += binary.length;
  const xref = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  parts.push(
    Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${at}\n%%EOF\n`, 'latin1'),
  );
  return Buffer.concat(parts);
}

export const PDF = makePdf();

/** A temp dir holding the PDF (and whatever else a client needs); `cleanup()` removes it. */
export function matrixDir(prefix: string): { dir: string; pdfPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `gw-matrix-${prefix}-`));
  const pdfPath = join(dir, PDF_NAME);
  writeFileSync(pdfPath, PDF);
  return { dir, pdfPath, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Everything a client script needs, as JSON (one argument, no shell quoting worries). */
export function matrixSpec(extra: Record<string, unknown>): string {
  return JSON.stringify({
    fromAddress: FROM_ADDRESS,
    fromName: FROM_NAME,
    to: TO,
    toNames: TO_NAMES,
    cc: CC,
    bcc: BCC,
    subject: SUBJECT,
    text: TEXT,
    html: HTML,
    pdfName: PDF_NAME,
    ...extra,
  });
}

/**
 * The same message as raw MIME, for transports that send what they are given (msmtp, Postfix
 * sendmail): the encoded forms a careful hand-written application would produce. `bccHeader`
 * adds a Bcc header (for `sendmail -t`, which must strip it).
 */
export function rawMessage(opts: { bccHeader?: boolean; messageId: string }): string {
  const b64 = (s: string | Buffer) =>
    (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64').replace(/.{76}/g, '$&\r\n');
  const word = (s: string) => `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
  const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
  const lines = [
    `From: ${word(FROM_NAME)} <${FROM_ADDRESS}>`,
    `To: ${word(TO_NAMES[0])} <${TO[0]}>, ${TO_NAMES[1]} <${TO[1]}>`,
    `Cc: ${CC}`,
    ...(opts.bccHeader ? [`Bcc: ${BCC}`] : []),
    `Subject: ${word(SUBJECT)}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${opts.messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="=_mixed_42"',
    '',
    'This is a multi-part message in MIME format.',
    '--=_mixed_42',
    'Content-Type: multipart/alternative; boundary="=_alt_42"',
    '',
    '--=_alt_42',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: base64',
    '',
    b64(crlf(TEXT)),
    '--=_alt_42',
    'Content-Type: text/html; charset=UTF-8',
    'Content-Transfer-Encoding: base64',
    '',
    b64(HTML),
    '--=_alt_42--',
    '',
    '--=_mixed_42',
    `Content-Type: application/pdf; name="${PDF_NAME}"`,
    `Content-Disposition: attachment; filename="${PDF_NAME}"`,
    'Content-Transfer-Encoding: base64',
    '',
    b64(PDF),
    '--=_mixed_42--',
    '',
  ];
  return lines.join('\r\n');
}

/** Polls the sandbox until it holds `count` emails (or the deadline passes); returns them. */
export async function waitForEmails(gw: Gateway, count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const emails = await sandboxEmails(gw);
    if (emails.length >= count || Date.now() > deadline) return emails;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const normalize = (s: unknown) => (typeof s === 'string' ? s.replace(/\r\n/g, '\n').trim() : s);

/**
 * Asserts the sandbox received exactly the matrix payloads: one per envelope recipient, each
 * complete and right, and the Bcc address in none but the Bcc recipient's own payload.
 * `pdfName` is the file name the client is expected to produce (the sanitized form if any).
 */
export async function assertMatrixPayloads(gw: Gateway, opts: { envelopeFrom?: string; waitMs?: number } = {}) {
  const emails = opts.waitMs ? await waitForEmails(gw, RECIPIENTS.length, opts.waitMs) : await sandboxEmails(gw);
  const got = emails.map((e) => e.payload.email as string).sort();
  assert.deepEqual(got, [...RECIPIENTS].sort(), 'exactly one API call per envelope recipient');
  const expectedPdf = PDF.toString('base64');
  for (const { payload: p } of emails) {
    const who = `payload for ${p.email}`;
    assert.equal(p.content?.subject, SUBJECT, `${who}: content.subject`);
    assert.equal(normalize(p.content?.text), normalize(TEXT), `${who}: content.text`);
    assert.equal(normalize(p.content?.html), normalize(HTML), `${who}: content.html`);
    assert.equal(p.content?.encoding, 'utf-8', `${who}: content.encoding`);
    assert.equal(typeof p.sender?.id, 'string', `${who}: sender.id`);
    assert.equal(p.sender?.name, FROM_NAME, `${who}: sender.name`);
    const attachments = (p.attachment ?? []) as { filename: string; type: string; content: string }[];
    assert.deepEqual(
      attachments.map((a) => ({ filename: a.filename, type: a.type, length: Buffer.from(a.content, 'base64').length })),
      [{ filename: PDF_NAME, type: 'pdf', length: PDF.length }],
      `${who}: attachment`,
    );
    assert.equal(
      attachments[0]!.content,
      expectedPdf,
      `${who}: attachment content is the base64 of the exact PDF bytes`,
    );
    const headers = new Map(
      ((p.additional_headers ?? []) as { name: string; value: string }[]).map((h) => [h.name.toLowerCase(), h.value]),
    );
    assert.match(
      headers.get('message-id') ?? '',
      /^<[^<>@\s]+@[^<>@\s]+>$/,
      `${who}: Message-ID in additional_headers`,
    );
    if (opts.envelopeFrom)
      assert.equal(headers.get('x-sender-envelope-from'), opts.envelopeFrom, `${who}: X-Sender-Envelope-From`);
    if (p.email !== BCC) {
      assert.ok(
        !JSON.stringify(p).toLowerCase().includes(BCC.toLowerCase()),
        `${who} mentions the Bcc address: ${JSON.stringify(p)}`,
      );
    }
  }
  // All four are the same message: one Message-ID.
  const ids = new Set(
    emails.map(
      (e) =>
        ((e.payload.additional_headers ?? []) as { name: string; value: string }[]).find(
          (h) => h.name.toLowerCase() === 'message-id',
        )?.value,
    ),
  );
  assert.equal(ids.size, 1, 'the same Message-ID in every payload');
  return emails;
}

/** Runs a program with `input` on stdin; resolves with its exit code and output (never rejects on exit code). */
export function runWithInput(
  cmd: string,
  args: string[],
  input: string | Buffer,
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // a client that exits early must not crash the test
    child.stdin.end(input);
  });
}
