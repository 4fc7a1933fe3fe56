// Compatibility matrix: Jakarta Mail 2.0 (Debian libjakarta-mail-java), the Java mail API under
// Spring Boot's JavaMailSender and most JVM applications. test/clients/JakartaSend.java is run
// with Java's single-file source launcher (no build step), trusting every certificate
// (mail.smtp.ssl.trust=*), over STARTTLS and over implicit TLS (mail.smtp.ssl.enable).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEMO_PASSWORD, DEMO_USER, useTestGateway } from '../../helpers/gateway.ts';
import { BCC, FROM_ADDRESS, assertMatrixPayloads, matrixDir, matrixSpec } from '../../helpers/matrix.ts';
import { skipWithout } from '../../helpers/tools.ts';

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL('../../clients/JakartaSend.java', import.meta.url));
// The package's jakarta-mail.jar names its activation jar by a path Debian does not ship
// (jakarta.activation.jar), so both jars go on the class path explicitly.
const CLASSPATH = ['/usr/share/java/jakarta-mail.jar', '/usr/share/java/jakarta-activation.jar'];
const gw = useTestGateway();

const skip =
  skipWithout('java', 'openjdk-17-jdk-headless') ||
  (existsSync(CLASSPATH[0]!) || process.env.CI
    ? false
    : 'Jakarta Mail not installed (apt-get install libjakarta-mail-java)');

for (const mode of ['starttls', 'smtps'] as const) {
  const authType = mode === 'starttls' ? 'PLAIN' : 'LOGIN';
  test(
    `Jakarta Mail over ${mode === 'starttls' ? 'STARTTLS' : 'implicit TLS'} (AUTH ${authType})`,
    { skip },
    async () => {
      const tmp = matrixDir('jakarta');
      try {
        const specFile = join(tmp.dir, 'spec.json');
        const port = mode === 'starttls' ? gw().ports.submission : gw().ports.smtps;
        writeFileSync(
          specFile,
          matrixSpec({ mode, port, authType, user: DEMO_USER, password: DEMO_PASSWORD, pdfPath: tmp.pdfPath }),
        );
        const { stdout } = await run('java', ['-cp', CLASSPATH.join(':'), SOURCE, specFile], {
          timeout: 30_000,
          maxBuffer: 4 << 20,
        }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
          throw new Error(`Jakarta Mail failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
        });
        assert.match(stdout, /^OK 250 2\.0\.0 Ok: queued as /m, stdout);
        assert.match(
          stdout,
          new RegExp(`^DEBUG SMTP: AUTH ${authType} succeeded`, 'm'),
          `Jakarta Mail used AUTH ${authType}`,
        );
        assert.doesNotMatch(stdout, new RegExp(`^Bcc:`, 'mi'), 'Jakarta Mail writes no Bcc header');
        assert.match(stdout, new RegExp(`^RCPT TO:<${BCC}>`, 'm'), 'the Bcc is an envelope recipient');
        await assertMatrixPayloads(gw(), { envelopeFrom: FROM_ADDRESS });
      } finally {
        tmp.cleanup();
      }
    },
  );
}
