// Compatibility matrix: the Ruby `mail` gem (Debian ruby-mail), which Rails' Action Mailer
// delivers through. The sender is test/clients/ruby-mail-send.rb (Mail.deliver, delivery_method
// :smtp with enable_starttls or tls, openssl_verify_mode 'none').
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
const SCRIPT = fileURLToPath(new URL('../../clients/ruby-mail-send.rb', import.meta.url));
const gw = useTestGateway();

const skip =
  skipWithout('ruby', 'ruby-mail') ||
  (existsSync('/usr/lib/ruby/vendor_ruby/mail.rb') || process.env.CI
    ? false
    : 'the mail gem is not installed (apt-get install ruby-mail)');

for (const mode of ['starttls', 'smtps'] as const) {
  const authType = mode === 'starttls' ? 'PLAIN' : 'LOGIN';
  test(
    `Ruby mail gem over ${mode === 'starttls' ? 'STARTTLS' : 'implicit TLS'} (authentication :${authType.toLowerCase()})`,
    { skip },
    async () => {
      const tmp = matrixDir('ruby');
      try {
        const specFile = join(tmp.dir, 'spec.json');
        const port = mode === 'starttls' ? gw().ports.submission : gw().ports.smtps;
        writeFileSync(
          specFile,
          matrixSpec({ mode, port, authType, user: DEMO_USER, password: DEMO_PASSWORD, pdfPath: tmp.pdfPath }),
        );
        const { stdout } = await run('ruby', [SCRIPT, specFile], { timeout: 20_000 }).catch(
          (err: { stderr?: string; message: string }) => {
            throw new Error(`Ruby mail failed: ${err.message}\n${err.stderr ?? ''}`);
          },
        );
        assert.match(stdout, /^OK 250 2\.0\.0 Ok: queued as /, stdout);
        await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
      } finally {
        tmp.cleanup();
      }
    },
  );
}
