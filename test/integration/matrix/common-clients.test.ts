// Compatibility matrix for the clients most applications use directly: nodemailer, Python
// smtplib (with the standard `email` package building the message), curl and swaks, each over
// STARTTLS and implicit TLS, sending the full matrix message (HTML + text, a PDF, two To, one
// Cc, one Bcc). The other clients of the matrix have a file each in this folder.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { DEMO_PASSWORD, DEMO_USER, useTestGateway } from '../../helpers/gateway.ts';
import {
  BCC,
  CC,
  FROM_ADDRESS,
  FROM_NAME,
  HTML,
  PDF,
  PDF_NAME,
  RECIPIENTS,
  SUBJECT,
  TEXT,
  TO,
  TO_NAMES,
  assertMatrixPayloads,
  matrixDir,
  matrixSpec,
  rawMessage,
} from '../../helpers/matrix.ts';
import { skipWithout } from '../../helpers/tools.ts';

const run = promisify(execFile);
const gw = useTestGateway();

const MODES = ['starttls', 'smtps'] as const;
const portOf = (mode: (typeof MODES)[number]) => (mode === 'starttls' ? gw().ports.submission : gw().ports.smtps);
const label = (mode: (typeof MODES)[number]) => (mode === 'starttls' ? 'STARTTLS' : 'implicit TLS');

for (const mode of MODES) {
  test(`nodemailer over ${label(mode)}: full matrix message`, async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: portOf(mode),
      secure: mode === 'smtps',
      requireTLS: mode === 'starttls',
      tls: { rejectUnauthorized: false },
      auth: { user: DEMO_USER, pass: DEMO_PASSWORD },
    });
    const info = await transport.sendMail({
      from: { name: FROM_NAME, address: FROM_ADDRESS },
      to: TO.map((address, i) => ({ name: TO_NAMES[i]!, address })),
      cc: CC,
      bcc: BCC,
      subject: SUBJECT,
      text: TEXT,
      html: HTML,
      attachments: [{ filename: PDF_NAME, content: PDF, contentType: 'application/pdf' }],
    });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    assert.deepEqual([...info.accepted].sort(), [...RECIPIENTS].sort());
    await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
  });
}

// The standard library end to end: `email` builds the MIME, send_message takes the envelope
// from To/Cc/Bcc and drops the Bcc header, as Django and most Python code do.
const PY = `
import json, smtplib, ssl, sys
from email.message import EmailMessage
from email.headerregistry import Address
spec = json.load(open(sys.argv[1]))
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
msg = EmailMessage()
msg['From'] = Address(spec['fromName'], addr_spec=spec['fromAddress'])
msg['To'] = [Address(n, addr_spec=a) for n, a in zip(spec['toNames'], spec['to'])]
msg['Cc'] = spec['cc']
msg['Bcc'] = spec['bcc']
msg['Subject'] = spec['subject']
msg.set_content(spec['text'])
msg.add_alternative(spec['html'], subtype='html')
msg.add_attachment(open(spec['pdfPath'], 'rb').read(), maintype='application', subtype='pdf', filename=spec['pdfName'])
if spec['mode'] == 'starttls':
    s = smtplib.SMTP('127.0.0.1', spec['port'], timeout=20); s.starttls(context=ctx)
else:
    s = smtplib.SMTP_SSL('127.0.0.1', spec['port'], context=ctx, timeout=20)
s.login(spec['user'], spec['password'])
refused = s.send_message(msg)
s.quit()
print('REFUSED', json.dumps(refused))
`;

for (const mode of MODES) {
  test(`Python smtplib + email over ${label(mode)}: full matrix message`, async () => {
    const tmp = matrixDir('python');
    try {
      const spec = join(tmp.dir, 'spec.json');
      writeFileSync(
        spec,
        matrixSpec({ mode, port: portOf(mode), user: DEMO_USER, password: DEMO_PASSWORD, pdfPath: tmp.pdfPath }),
      );
      const { stdout } = await run('python3', ['-c', PY, spec], { timeout: 20_000 });
      assert.equal(stdout.trim(), 'REFUSED {}', 'no recipient refused');
      await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
    } finally {
      tmp.cleanup();
    }
  });
}

for (const mode of MODES) {
  test(
    `curl ${mode === 'starttls' ? 'smtp:// --ssl-reqd' : 'smtps://'}: full matrix message`,
    { skip: skipWithout('curl') },
    async () => {
      const tmp = matrixDir('curl');
      try {
        const file = join(tmp.dir, 'message.eml');
        writeFileSync(file, rawMessage({ messageId: `<curl-${mode}-${Date.now()}@example.com>` }));
        const scheme = mode === 'starttls' ? 'smtp' : 'smtps';
        const { stderr } = await run(
          'curl',
          [
            '-sS',
            '-v',
            '-k',
            '--url',
            `${scheme}://127.0.0.1:${portOf(mode)}`,
            ...(mode === 'starttls' ? ['--ssl-reqd'] : []),
            '--user',
            `${DEMO_USER}:${DEMO_PASSWORD}`,
            '--mail-from',
            FROM_ADDRESS,
            ...RECIPIENTS.flatMap((r) => ['--mail-rcpt', r]),
            '--upload-file',
            file,
          ],
          { timeout: 20_000 },
        );
        assert.match(stderr, /< 250 2\.0\.0 Ok: queued as /);
        await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
      } finally {
        tmp.cleanup();
      }
    },
  );
}

for (const mode of MODES) {
  test(
    `swaks ${mode === 'starttls' ? '--tls' : '--tlsc'}: full matrix message`,
    { skip: skipWithout('swaks') },
    async () => {
      const tmp = matrixDir('swaks');
      try {
        const file = join(tmp.dir, 'message.eml');
        writeFileSync(file, rawMessage({ messageId: `<swaks-${mode}-${Date.now()}@example.com>` }));
        const { stdout } = await run(
          'swaks',
          [
            '--server',
            `127.0.0.1:${portOf(mode)}`,
            mode === 'starttls' ? '--tls' : '--tlsc',
            '--auth-user',
            DEMO_USER,
            '--auth-password',
            DEMO_PASSWORD,
            '--from',
            FROM_ADDRESS,
            '--to',
            RECIPIENTS.join(','),
            '--data',
            `@${file}`,
          ],
          { timeout: 20_000 },
        );
        assert.match(stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
        await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
      } finally {
        tmp.cleanup();
      }
    },
  );
}
