// Real SMTP clients over real TLS against the gateway and its sandbox: nodemailer (STARTTLS
// and implicit TLS; PLAIN and LOGIN), Python smtplib, curl and swaks. Each asserts what the
// sandbox received, not just the reply.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, useTestGateway } from '../helpers/gateway.ts';
import { skipWithout } from '../helpers/tools.ts';

const run = promisify(execFile);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const gw = useTestGateway();

function transport(opts: { secure: boolean; method: 'PLAIN' | 'LOGIN' }) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: opts.secure ? gw().ports.smtps : gw().ports.submission,
    secure: opts.secure,
    requireTLS: !opts.secure,
    tls: { rejectUnauthorized: false },
    auth: { user: DEMO_USER, pass: DEMO_PASSWORD, method: opts.method },
  });
}

/** The one email the sandbox received, checked against what every test sends. */
async function receivedOne(recipient: string, subject: string, envelopeFrom = DEMO_USER) {
  const emails = await sandboxEmails(gw());
  assert.equal(emails.length, 1, 'exactly one API call');
  const p = emails[0]!.payload;
  assert.equal(p.email, recipient);
  assert.equal(p.list_id, 1);
  assert.equal(p.content.subject, subject);
  assert.equal(p.content.type, 'transactional');
  assert.equal(p.content.encoding, 'utf-8');
  assert.equal(typeof p.sender.id, 'string');
  const headers = new Map(
    (p.additional_headers as { name: string; value: string }[]).map((h) => [h.name.toLowerCase(), h.value]),
  );
  assert.match(headers.get('message-id') ?? '', /^<.+@.+>$/);
  assert.equal(headers.get('x-sender-envelope-from'), envelopeFrom);
  return { payload: p, id: emails[0]!.id };
}

for (const secure of [false, true]) {
  for (const method of ['PLAIN', 'LOGIN'] as const) {
    test(`nodemailer over ${secure ? 'implicit TLS' : 'STARTTLS'} with AUTH ${method}`, async () => {
      const subject = `nodemailer ${secure} ${method} ✓`;
      const info = await transport({ secure, method }).sendMail({
        from: '"Demo Shop" <demo@example.com>',
        to: 'alice@example.org',
        subject,
        text: 'Hello Alice',
        html: '<p>Hello <b>Alice</b></p>',
      });
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      const { payload, id } = await receivedOne('alice@example.org', subject);
      assert.ok(info.response.includes(id), 'the reply names the Cakemail id');
      assert.match(id, UUID);
      assert.equal(payload.sender.name, 'Demo Shop');
      assert.equal(payload.content.text.trim(), 'Hello Alice');
      assert.equal(payload.content.html.trim(), '<p>Hello <b>Alice</b></p>');
    });
  }
}

const PY = `
import smtplib, ssl, sys
from email.message import EmailMessage
mode, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
msg = EmailMessage()
msg['From'] = 'No Reply <noreply@example.com>'
msg['To'] = 'bob@example.org'
msg['Subject'] = 'smtplib ' + mode
msg.set_content('plain body')
msg.add_alternative('<p>html body</p>', subtype='html')
if mode == 'starttls':
    s = smtplib.SMTP('127.0.0.1', port, timeout=20); s.starttls(context=ctx)
else:
    s = smtplib.SMTP_SSL('127.0.0.1', port, context=ctx, timeout=20)
s.login('${DEMO_USER}', '${DEMO_PASSWORD}')
s.mail('noreply@example.com'); s.rcpt('bob@example.org')
code, resp = s.data(msg.as_bytes())
print(code, resp.decode())
s.quit()
`;

for (const mode of ['starttls', 'ssl']) {
  test(`Python smtplib over ${mode}`, async () => {
    const { stdout } = await run('python3', [
      '-c',
      PY,
      mode,
      String(mode === 'ssl' ? gw().ports.smtps : gw().ports.submission),
    ]);
    assert.match(stdout, /^250 2\.0\.0 Ok: queued as /);
    const { payload, id } = await receivedOne('bob@example.org', `smtplib ${mode}`, 'noreply@example.com');
    assert.ok(stdout.includes(id));
    assert.equal(payload.sender.name, 'No Reply');
    assert.equal(payload.content.html.trim(), '<p>html body</p>');
  });
}

for (const scheme of ['smtp', 'smtps']) {
  test(
    `curl ${scheme}:// ${scheme === 'smtp' ? 'with --ssl-reqd' : '(implicit TLS)'}`,
    { skip: skipWithout('curl') },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gw()-curl-'));
      const file = join(dir, 'msg.eml');
      writeFileSync(
        file,
        `From: demo@example.com\r\nTo: carol@example.org\r\nSubject: curl ${scheme}\r\n\r\ncurl body\r\n`,
      );
      const port = scheme === 'smtps' ? gw().ports.smtps : gw().ports.submission;
      const { stderr } = await run('curl', [
        '-sS',
        '-v',
        '-k',
        '--url',
        `${scheme}://127.0.0.1:${port}`,
        ...(scheme === 'smtp' ? ['--ssl-reqd'] : []),
        '--user',
        `${DEMO_USER}:${DEMO_PASSWORD}`,
        '--mail-from',
        DEMO_USER,
        '--mail-rcpt',
        'carol@example.org',
        '--upload-file',
        file,
      ]);
      const { payload, id } = await receivedOne('carol@example.org', `curl ${scheme}`);
      assert.ok(stderr.includes(`250 2.0.0 Ok: queued as ${id}`), 'curl saw the 250 naming the id');
      assert.equal(payload.content.text.trim(), 'curl body');
    },
  );
}

test('swaks, the README example', { skip: skipWithout('swaks') }, async () => {
  const { stdout } = await run('swaks', [
    '--server',
    `127.0.0.1:${gw().ports.submission}`,
    '--tls',
    '--auth-user',
    DEMO_USER,
    '--auth-password',
    DEMO_PASSWORD,
    '--from',
    DEMO_USER,
    '--to',
    'someone@example.org',
  ]);
  const emails = await sandboxEmails(gw());
  assert.equal(emails.length, 1);
  assert.ok(stdout.includes(`<~  250 2.0.0 Ok: queued as ${emails[0]!.id}`), stdout);
  assert.equal(emails[0]!.payload.email, 'someone@example.org');
});
