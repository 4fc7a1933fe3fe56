// Compatibility matrix: msmtp (Debian package msmtp), the sendmail replacement of small
// servers and cron jobs. It sends the message it reads on stdin as is, to the recipients on
// its command line: the Bcc is only in the envelope, as an application calling it would do.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, useTestGateway } from '../../helpers/gateway.ts';
import {
  BCC,
  FROM_ADDRESS,
  RECIPIENTS,
  assertMatrixPayloads,
  matrixDir,
  rawMessage,
  runWithInput,
} from '../../helpers/matrix.ts';
import { skipWithout } from '../../helpers/tools.ts';

const gw = useTestGateway();

function writeConfig(dir: string, mode: 'starttls' | 'smtps', auth: string, extra: string[] = []): string {
  const conf = join(dir, 'msmtprc');
  writeFileSync(
    conf,
    [
      'account gateway',
      'host 127.0.0.1',
      `port ${mode === 'starttls' ? gw().ports.submission : gw().ports.smtps}`,
      'tls on',
      `tls_starttls ${mode === 'starttls' ? 'on' : 'off'}`,
      'tls_certcheck off',
      `auth ${auth}`,
      `user ${DEMO_USER}`,
      `password ${DEMO_PASSWORD}`,
      `from ${FROM_ADDRESS}`,
      ...extra,
      'account default : gateway',
      '',
    ].join('\n'),
    { mode: 0o600 }, // msmtp refuses a password in a file others can read
  );
  return conf;
}

for (const mode of ['starttls', 'smtps'] as const) {
  // STARTTLS with AUTH PLAIN, implicit TLS with AUTH LOGIN: both mechanisms msmtp offers.
  const auth = mode === 'starttls' ? 'plain' : 'login';
  test(
    `msmtp over ${mode === 'starttls' ? 'STARTTLS' : 'implicit TLS'} (auth ${auth})`,
    { skip: skipWithout('msmtp') },
    async () => {
      const tmp = matrixDir('msmtp');
      try {
        const conf = writeConfig(tmp.dir, mode, auth);
        const message = rawMessage({ messageId: `<msmtp-${mode}-${Date.now()}@example.com>` });
        const res = await runWithInput('msmtp', ['-v', '-C', conf, '-f', FROM_ADDRESS, '--', ...RECIPIENTS], message, {
          timeoutMs: 20_000,
        });
        const log = res.stdout + res.stderr; // -v prints the SMTP dialogue on stdout
        assert.equal(res.code, 0, `msmtp failed:\n${log}`);
        assert.match(log, /<-- 250 2\.0\.0 Ok: queued as /, 'msmtp saw the 250 after DATA');
        assert.match(log, new RegExp(`--> AUTH ${auth.toUpperCase()}`), `msmtp used AUTH ${auth.toUpperCase()}`);
        await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
      } finally {
        tmp.cleanup();
      }
    },
  );
}

// msmtp removes Bcc headers by default; with that off, the message the gateway receives still
// has a "Bcc:" header naming the hidden recipient. The gateway must not pass it on either.
test(
  'msmtp with remove_bcc_headers off: a Bcc header reaching the gateway is not passed on',
  { skip: skipWithout('msmtp') },
  async () => {
    const tmp = matrixDir('msmtp');
    try {
      const conf = writeConfig(tmp.dir, 'starttls', 'on', ['remove_bcc_headers off']);
      const message = rawMessage({ bccHeader: true, messageId: `<msmtp-bcc-${Date.now()}@example.com>` });
      const res = await runWithInput('msmtp', ['-v', '-C', conf, '-f', FROM_ADDRESS, '--', ...RECIPIENTS], message, {
        timeoutMs: 20_000,
      });
      const log = res.stdout + res.stderr;
      assert.equal(res.code, 0, `msmtp failed:\n${log}`);
      assert.match(log, new RegExp(`^--> Bcc: ${BCC.replace(/[.]/g, '\\.')}`, 'm'), 'the Bcc header went over SMTP');
      assert.match(
        log,
        /--> AUTH PLAIN /,
        'msmtp picks AUTH PLAIN (with an initial response) when offered PLAIN and LOGIN',
      );
      await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
    } finally {
      tmp.cleanup();
    }
  },
);
