// Compatibility matrix: PHPMailer (Debian libphp-phpmailer), the SMTP library behind most PHP
// applications (WordPress plugins, Laravel's predecessors, hand-written shops). The sender is
// test/clients/phpmailer-send.php; it is given the gateway's certificate as its CA file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEMO_PASSWORD, DEMO_USER, useTestGateway } from '../../helpers/gateway.ts';
import { FROM_ADDRESS, assertMatrixPayloads, matrixDir, matrixSpec } from '../../helpers/matrix.ts';
import { skipWithout } from '../../helpers/tools.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../clients/phpmailer-send.php', import.meta.url));
const gw = useTestGateway();

const AUTOLOAD = '/usr/share/php/libphp-phpmailer/autoload.php';
const skip =
  skipWithout('php', 'php-cli libphp-phpmailer') ||
  (existsSync(AUTOLOAD) || process.env.CI ? false : 'PHPMailer not installed (apt-get install libphp-phpmailer)');

for (const mode of ['starttls', 'smtps'] as const) {
  const authType = mode === 'starttls' ? 'PLAIN' : 'LOGIN';
  test(`PHPMailer over ${mode === 'starttls' ? 'STARTTLS' : 'implicit TLS'} (AUTH ${authType})`, { skip }, async () => {
    const tmp = matrixDir('phpmailer');
    try {
      const caFile = join(tmp.dir, 'gateway.pem');
      writeFileSync(caFile, gw().tls.cert);
      const specFile = join(tmp.dir, 'spec.json');
      const port = mode === 'starttls' ? gw().ports.submission : gw().ports.smtps;
      writeFileSync(
        specFile,
        matrixSpec({ mode, port, authType, user: DEMO_USER, password: DEMO_PASSWORD, caFile, pdfPath: tmp.pdfPath }),
      );
      const { stdout } = await run('php', [SCRIPT, specFile], { timeout: 20_000 }).catch(
        (err: { stdout?: string; message: string }) => {
          throw new Error(`PHPMailer failed: ${err.message}\n${err.stdout ?? ''}`);
        },
      );
      assert.match(stdout, /\nOK\n/, stdout);
      assert.match(stdout, /SERVER -> CLIENT: 250 2\.0\.0 Ok: queued as /, 'PHPMailer saw the 250 after DATA');
      assert.match(stdout, new RegExp(`CLIENT -> SERVER: AUTH ${authType}`), `PHPMailer used AUTH ${authType}`);
      assert.doesNotMatch(stdout, /CLIENT -> SERVER: Bcc:/i, 'PHPMailer sends no Bcc header over SMTP');
      await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
    } finally {
      tmp.cleanup();
    }
  });
}
