// Message-level policy end to end over SMTP: MIME limits, parse deadline, attachment policy
// and limits, header injection, Bcc privacy, control headers. Each checks the reply and what
// the API received.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  clearSandbox,
  sandboxEmails,
  sandboxRequests,
  startTestGateway,
} from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

let gw: Gateway;
let drop: Gateway;

before(async () => {
  gw = await startTestGateway({
    MAX_ATTACHMENT_BYTES: String(64 * 1024),
    MAX_TOTAL_ATTACHMENT_BYTES: String(96 * 1024),
  });
  drop = await startTestGateway({ ATTACHMENT_POLICY: 'drop' });
});
after(async () => {
  await gw.shutdown();
  await drop.shutdown();
});
beforeEach(async () => {
  await clearSandbox(gw);
  await clearSandbox(drop);
});

async function submit(target: Gateway, rcpts: string[], data: string): Promise<string> {
  const c = await RawSmtp.login(target.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(DEMO_USER, rcpts, data);
  } finally {
    c.close();
  }
}

const head = (subject: string, extra = '') =>
  `From: "Shop" <${DEMO_USER}>\r\nTo: a@example.org\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n${extra}`;

function nested(depth: number): string {
  let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
  for (let i = depth; i > 0; i--)
    body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
  return body;
}

function withAttachment(filename: string, contentType: string, bytes: Buffer): string {
  const b64 = bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
  return `${head('attachment')}Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--m\r\nContent-Type: ${contentType}; name="${filename}"\r\nContent-Disposition: attachment; filename="${filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--m--\r\n`;
}

test('MIME nesting deeper than the limit → 554 5.6.0 naming it, no API call', async () => {
  const r = await submit(gw, ['a@example.org'], head('deep') + nested(12));
  assert.match(r, /^554 5\.6\.0 .*depth/i);
  assert.equal((await sandboxRequests(gw))['POST /v2/emails'] ?? 0, 0);
});

test('more MIME parts than the limit → 554 5.6.0 naming it', async () => {
  const parts = Array.from({ length: 1001 }, (_, i) => `--p\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('');
  const r = await submit(
    gw,
    ['a@example.org'],
    `${head('many parts')}Content-Type: multipart/mixed; boundary="p"\r\n\r\n${parts}--p--\r\n`,
  );
  assert.match(r, /^554 5\.6\.0 .*part/i);
});

test('a parse that overruns its deadline → 451 4.3.0 and the gateway keeps serving', async () => {
  const slow = await startTestGateway({ PARSE_TIMEOUT_MS: '1' });
  try {
    const big = 'x'.repeat(76) + '\r\n';
    const r = await submit(
      slow,
      ['a@example.org'],
      `${head('slow')}Content-Type: text/plain\r\n\r\n${big.repeat(60_000)}`,
    );
    assert.match(r, /^451 4\.3\.0 /);
    assert.equal((await sandboxRequests(slow))['POST /v2/emails'] ?? 0, 0);
  } finally {
    await slow.shutdown();
  }
  assert.match(await submit(gw, ['a@example.org'], `${head('after')}\r\nstill serving\r\n`), /^250 /);
});

test('the same message overrunning the deadline again → 554 5.6.0 (a bomb is not retried forever)', async () => {
  // A deadline well above a loaded machine's scheduling noise, and a message that parses for
  // several times as long (9.5 MB of HTML: 0.5-0.7 s on a quiet machine): with a 1 ms deadline a
  // few ms of dispatch delay made the first overrun count as a wait, not remembered.
  const slow = await startTestGateway({ PARSE_TIMEOUT_MS: '200' });
  try {
    const data = `${head('slow twice')}Content-Type: text/html\r\n\r\n${'<p><b>x</b></p>\r\n'.repeat(560_000)}`;
    const first = await submit(slow, ['a@example.org'], data);
    assert.match(first, /^451 4\.3\.0 /);
    assert.match(await submit(slow, ['a@example.org'], data), /^554 5\.6\.0 .*parse deadline/, `after ${first}`);
  } finally {
    await slow.shutdown();
  }
});

test('parts behind an RFC 2231 boundary count: 5,000 parts → 554 5.6.0', async () => {
  const parts = '--part\r\n\r\nx\r\n'.repeat(5000);
  const r = await submit(
    gw,
    ['a@example.org'],
    `${head('2231')}Content-Type: multipart/mixed; boundary*0="pa"; boundary*1="rt"\r\n\r\n${parts}--part--\r\n`,
  );
  assert.match(r, /^554 5\.6\.0 .*part count/);
});

test('a multipart whose boundary never appears → 250, its content delivered as text, the repair counted', async () => {
  const r = await submit(
    gw,
    ['a@example.org'],
    `${head('lost body')}Content-Type: multipart/mixed; boundary="declared"\r\n\r\n--other\r\n\r\nthe text\r\n--other--\r\n`,
  );
  assert.match(r, /^250 /);
  const [email] = await sandboxEmails(gw);
  // The content as written (the line break the client adds before its final dot included).
  assert.match(email!.payload.content.text, /^--other\n\nthe text\n--other--\n+$/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  assert.match(metrics, /^smtp_gateway_mime_repairs_total\{kind="multipart_without_parts"\} [1-9]/m);
  assert.match(metrics, /^smtp_gateway_mime_repairs_total\{kind="split_encoded_word"\} 0$/m);
});

test('S/MIME clear-signed mail → 250, the content is delivered, the signature left out and counted', async () => {
  const raw = readFileSync(new URL('../fixtures/eml/signed-smime.eml', import.meta.url), 'latin1').replace(
    /^From: .*$/m,
    `From: "Shop" <${DEMO_USER}>`,
  );
  assert.match(await submit(gw, ['a@example.org'], raw), /^250 /);
  const [email] = await sandboxEmails(gw);
  assert.equal(email!.payload.content.text, 'The contract is signed; see you Monday.\n');
  assert.equal(email!.payload.attachment, undefined);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  assert.match(metrics, /smtp_gateway_attachments_dropped_total\{reason="signature"\} 1/);
});

test('attachment of a type the API cannot carry → 554 5.6.1 naming the file, its type and the allowed list', async () => {
  const r = await submit(
    gw,
    ['a@example.org'],
    withAttachment('setup.exe', 'application/x-msdownload', Buffer.from('MZ\x90\x00binary')),
  );
  assert.match(r, /^554 5\.6\.1 .*setup\.exe.*application\/x-msdownload.*pdf/);
  assert.equal((await sandboxEmails(gw)).length, 0);
});

test('ATTACHMENT_POLICY=drop → delivered without it, counted', async () => {
  const r = await submit(
    drop,
    ['a@example.org'],
    withAttachment('setup.exe', 'application/x-msdownload', Buffer.from('MZ\x90\x00binary')),
  );
  assert.match(r, /^250 2\.0\.0 /);
  const [email] = await sandboxEmails(drop);
  assert.equal(email!.payload.attachment, undefined);
  assert.equal(email!.payload.content.text.trim(), 'see attached');
  const metrics = await (await fetch(`http://127.0.0.1:${drop.ports.admin}/metrics`)).text();
  assert.match(metrics, /smtp_gateway_attachments_dropped_total\{reason="policy"\} 1/);
});

test('an allowed attachment arrives byte-exact with a sanitised name; .jpg becomes .jpeg', async () => {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256))]);
  assert.match(
    await submit(gw, ['a@example.org'], withAttachment('Relevé de compte.pdf', 'application/pdf', pdf)),
    /^250 /,
  );
  const [email] = await sandboxEmails(gw);
  const [att] = email!.payload.attachment as { filename: string; type: string; content: string }[];
  assert.equal(att!.type, 'pdf');
  assert.match(att!.filename, /^[A-Za-z0-9_-]+\.pdf$/);
  assert.match(att!.filename, /^Releve/);
  assert.deepEqual(Buffer.from(att!.content, 'base64'), pdf);
  await clearSandbox(gw);
  assert.match(
    await submit(
      gw,
      ['a@example.org'],
      withAttachment('photo.jpg', 'image/jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])),
    ),
    /^250 /,
  );
  const [jpeg] = (await sandboxEmails(gw))[0]!.payload.attachment as { filename: string; type: string }[];
  assert.deepEqual([jpeg!.filename, jpeg!.type], ['photo.jpeg', 'jpeg']);
});

test('an attachment over the per-attachment limit → 552 5.3.4 naming the part', async () => {
  const r = await submit(
    gw,
    ['a@example.org'],
    withAttachment('big.pdf', 'application/pdf', Buffer.alloc(80 * 1024, 1)),
  );
  assert.match(r, /^552 5\.3\.4 .*big\.pdf/);
  assert.equal((await sandboxEmails(gw)).length, 0);
});

test('encoded-word header injection never reaches the API as a line break or a recipient', async () => {
  const inj = '=?UTF-8?B?aGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?='; // "hi\r\nBcc: victim@evil.example"
  const r = await submit(
    gw,
    ['a@example.org'],
    `From: "Shop" <${DEMO_USER}>\r\nTo: a@example.org\r\nSubject: ${inj}\r\nReply-To: ${inj} <r@example.org>\r\nX-Custom: ${inj}\r\n\r\nbody\r\n`,
  );
  assert.match(r, /^250 /);
  const emails = await sandboxEmails(gw);
  assert.equal(emails.length, 1);
  const json = JSON.stringify(emails[0]!.payload);
  assert.ok(
    !/\\r|\\n|\\u0000/.test(
      JSON.stringify([
        emails[0]!.payload.content.subject,
        emails[0]!.payload.additional_headers,
        emails[0]!.payload.sender,
      ]),
    ),
    json,
  );
  assert.equal(emails[0]!.payload.email, 'a@example.org');
});

test("Bcc: an envelope recipient absent from To/Cc is never revealed in another recipient's payload", async () => {
  const r = await submit(
    gw,
    ['to@example.org', 'cc@example.org', 'hidden@example.org'],
    `${head('bcc', 'Cc: cc@example.org\r\nBcc: hidden@example.org\r\n')}\r\nhello\r\n`,
  );
  assert.match(r, /^250 /);
  const emails = await sandboxEmails(gw);
  assert.equal(emails.length, 3);
  for (const e of emails) {
    if (e.payload.email === 'hidden@example.org') continue;
    assert.ok(!JSON.stringify(e.payload).includes('hidden@example.org'), `leaked into ${e.payload.email}`);
  }
});

test('control headers are consumed: tags, type, tracking, list; an invalid one → 554 5.6.0 naming it', async () => {
  const ctl =
    'X-Tags: welcome, onboarding flow\r\nX-Email-Api-Type: marketing\r\nX-Track-Opens: false\r\nX-List-Id: 1\r\n';
  assert.match(await submit(gw, ['a@example.org'], `${head('controls', ctl)}\r\nhi\r\n`), /^250 /);
  const [e] = await sandboxEmails(gw);
  assert.equal(e!.payload.content.type, 'marketing');
  assert.ok((e!.payload.tags as string[]).includes('welcome'));
  assert.equal(e!.payload.tracking.opens, false);
  assert.ok(
    !JSON.stringify(e!.payload.additional_headers).toLowerCase().includes('x-tags'),
    'control headers not forwarded',
  );
  assert.match(
    await submit(gw, ['a@example.org'], `${head('bad control', 'X-Email-Api-Type: bulk\r\n')}\r\nhi\r\n`),
    /^554 5\.6\.0 .*X-Email-Api-Type/i,
  );
});

test('two From headers → 554 5.6.0', async () => {
  const r = await submit(
    gw,
    ['a@example.org'],
    `From: ${DEMO_USER}\r\nFrom: noreply@example.com\r\nSubject: two from\r\n\r\nhi\r\n`,
  );
  assert.match(r, /^554 5\.6\.0 .*From/);
});

test('X-Account-Id selects the sub-account per message; one the login may not use → 554 naming it', async () => {
  assert.match(
    await submit(gw, ['a@example.org'], `${head('own account', 'X-Account-Id: 1001\r\n')}\r\nhi\r\n`),
    /^250 /,
  );
  const [e] = await sandboxEmails(gw);
  assert.equal((e as unknown as { accountId: number }).accountId, 1001);
  assert.ok(!JSON.stringify(e!.payload).toLowerCase().includes('x-account-id'));
  assert.match(
    await submit(gw, ['a@example.org'], `${head('other account', 'X-Account-Id: 4242\r\n')}\r\nhi\r\n`),
    /^554 5\.6\.0 .*X-Account-Id 4242/,
  );
});
