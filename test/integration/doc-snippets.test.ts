// The README's and docs/clients.md's client examples, run as written against a test gateway: the production snippet
// with only the host, port, login and sender swapped for the sandbox's, plus the one local-only
// setting the README's quick start gives for the self-signed certificate. A snippet that stops
// working (a missing import, curl's EHLO name, a wrong flag) fails here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, useTestGateway } from '../helpers/gateway.ts';
import { skipWithout } from '../helpers/tools.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const CLIENTS = readFileSync(join(ROOT, 'docs/clients.md'), 'utf8');
const gw = useTestGateway();
const work = mkdtempSync(join(tmpdir(), 'readme-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The first fenced block after `marker` in the README (or another doc). */
function snippet(marker: string, doc = README): string {
  const at = doc.indexOf(marker);
  assert.ok(at >= 0, `the doc has ${marker}`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(doc.slice(at));
  assert.ok(m, `a code block follows ${marker}`);
  return m[1]!;
}

/** Production placeholders → this test gateway and the sandbox's seed data. */
function local(code: string): string {
  return code
    .replaceAll('smtp-gateway.example.com', '127.0.0.1')
    .replace(/(:|port: |, )587\b/g, `$1${gw().ports.submission}`)
    .replaceAll('you@yourcompany.com', DEMO_USER)
    .replaceAll('yourcompany.com', 'example.com');
}

/** The quick start's local-only setting for a client, checked to be what the README says. */
function localSetting(text: string): string {
  assert.ok(README.includes(text), `README's quick start gives \`${text}\``);
  return text;
}

const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', CAKEMAIL_PASSWORD: DEMO_PASSWORD };

async function receivedHi(): Promise<void> {
  const emails = await sandboxEmails(gw());
  assert.equal(emails.length, 1, 'exactly one API call');
  const p = emails[0]!.payload;
  assert.equal(p.email, 'alice@example.org');
  assert.equal(p.content.subject, 'Hi');
}

test('README nodemailer example (+ tls: { rejectUnauthorized: false })', async () => {
  const setting = localSetting('tls: { rejectUnauthorized: false }');
  const code = local(snippet('**Node.js (nodemailer)**')).replace('requireTLS: true,', `requireTLS: true, ${setting},`);
  // Inside the checkout, so `import nodemailer` resolves as in the user's project.
  const dir = join(ROOT, '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-nodemailer-${process.pid}.mjs`);
  writeFileSync(file, code + '\ntransport.close();\n');
  try {
    await run(process.execPath, [file], { env, timeout: 30_000 });
  } finally {
    rmSync(file, { force: true });
  }
  await receivedHi();
  assert.match((await sandboxEmails(gw()))[0]!.payload.content.html, /^<p>Hi<\/p>\s*$/);
});

test(
  'README Python smtplib example (+ ssl._create_unverified_context())',
  { skip: skipWithout('python3') },
  async () => {
    const setting = localSetting('s.starttls(context=ssl._create_unverified_context())');
    const code = 'import ssl\n' + local(snippet('**Python (smtplib)**')).replace('s.starttls()', setting);
    await run('python3', ['-c', code], { env, timeout: 30_000 });
    await receivedHi();
  },
);

test(
  'README curl examples: the quick start one as written, the production one (+ -k)',
  { skip: skipWithout('curl') },
  async () => {
    // The quick start's own example targets `npm start`'s port 2525: only the port differs here.
    const quick = snippet('For example, against `npm start`:').replaceAll(
      '127.0.0.1:2525',
      `127.0.0.1:${gw().ports.submission}`,
    );
    await run('bash', ['-euo', 'pipefail', '-c', quick], { cwd: work, env, timeout: 30_000 });
    await receivedHi();
    await fetch(`${gw().apiUrl}/_sandbox/emails`, { method: 'DELETE' });
    // Other bytes than the first run's, or the gateway rightly answers it as an accepted resend.
    writeFileSync(
      join(work, 'message.eml'),
      'From: Shop <noreply@example.com>\r\nTo: alice@example.org\r\nSubject: Hi\r\nX-Run: 2\r\n\r\nHi\r\n',
    );

    localSetting('| curl | `-k` (`--insecure`) |');
    const prod = local(snippet('**curl**')).replace(/^curl /, 'curl -k ');
    await run('bash', ['-euo', 'pipefail', '-c', prod], { cwd: work, env, timeout: 30_000 });
    await receivedHi();
  },
);

test('README curl example says EHLO with the URL path, not the file name', { skip: skipWithout('curl') }, async () => {
  const prod = local(snippet('**curl**')).replace(/^curl /, 'curl -k -v ');
  const r = await run('bash', ['-euo', 'pipefail', '-c', prod], { cwd: work, env, timeout: 30_000 });
  assert.match(r.stderr, /> EHLO yourhost\.example\r?\n/);
  assert.doesNotMatch(r.stderr, /EHLO message\.eml/);
});

test('README swaks examples (no local setting needed)', { skip: skipWithout('swaks') }, async () => {
  localSetting('| swaks | none: swaks does not verify certificates |');
  const prod = local(snippet('**swaks**'));
  const r = await run('bash', ['-euo', 'pipefail', '-c', prod], { env, timeout: 30_000 });
  assert.match(r.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
  const emails = await sandboxEmails(gw());
  assert.equal(emails.length, 1);
  assert.equal(emails[0]!.payload.email, 'alice@example.org');
});

// docs/clients.md: the fuller snippets (several recipients, Cc, Bcc, a PDF attachment).
const CLIENT_RECIPIENTS = ['alice@example.org', 'bob@example.net', 'carol@example.org', 'audit@example.com'];
const PDF = Buffer.from('%PDF-1.4\n% docs/clients.md snippet test\n%%EOF\n');

/** The sandbox got one call per envelope recipient, each with the PDF. */
async function receivedInvoice(recipients: string[]): Promise<void> {
  const emails = await sandboxEmails(gw());
  assert.deepEqual(emails.map((e) => e.payload.email).sort(), [...recipients].sort());
  for (const e of emails) {
    assert.deepEqual(e.payload.attachment, [
      { filename: 'invoice-42.pdf', type: 'pdf', content: PDF.toString('base64') },
    ]);
  }
}

function clientsWork(): string {
  const dir = mkdtempSync(join(work, 'clients-'));
  writeFileSync(join(dir, 'invoice-42.pdf'), PDF);
  return dir;
}

test('docs/clients.md nodemailer snippet (+ tls: { rejectUnauthorized: false })', async () => {
  const code = local(snippet('### Node.js (nodemailer)', CLIENTS)).replace(
    'requireTLS: true,',
    'requireTLS: true, tls: { rejectUnauthorized: false },',
  );
  const dir = join(ROOT, '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `clients-nodemailer-${process.pid}.mjs`);
  writeFileSync(file, code + '\ntransport.close();\n');
  try {
    await run(process.execPath, [file], { cwd: clientsWork(), env, timeout: 30_000 });
  } finally {
    rmSync(file, { force: true });
  }
  await receivedInvoice(CLIENT_RECIPIENTS);
});

test(
  'docs/clients.md Python smtplib snippet (+ ssl._create_unverified_context())',
  { skip: skipWithout('python3') },
  async () => {
    const code =
      'import ssl\n' +
      local(snippet('### Python (smtplib)', CLIENTS)).replace(
        's.starttls()',
        's.starttls(context=ssl._create_unverified_context())',
      );
    await run('python3', ['-c', code], { cwd: clientsWork(), env, timeout: 30_000 });
    await receivedInvoice(CLIENT_RECIPIENTS);
  },
);

test('docs/clients.md curl snippet (+ -k)', { skip: skipWithout('curl') }, async () => {
  const dir = clientsWork();
  const pdf = PDF.toString('base64');
  writeFileSync(
    join(dir, 'message.eml'),
    'From: Shop <noreply@example.com>\r\nTo: alice@example.org, bob@example.net\r\nCc: carol@example.org\r\nSubject: Invoice\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nMerci\r\n' +
      `--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=invoice-42.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf}\r\n--b--\r\n`,
  );
  const code = local(snippet('### curl', CLIENTS)).replace(/^curl /, 'curl -k ');
  await run('bash', ['-euo', 'pipefail', '-c', code], { cwd: dir, env, timeout: 30_000 });
  await receivedInvoice(CLIENT_RECIPIENTS);
});

test('docs/clients.md swaks snippet', { skip: skipWithout('swaks') }, async () => {
  const code = local(snippet('### swaks', CLIENTS));
  await run('bash', ['-euo', 'pipefail', '-c', code], { cwd: clientsWork(), env, timeout: 30_000 });
  await receivedInvoice(['alice@example.org', 'audit@example.com']);
});
