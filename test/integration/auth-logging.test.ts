// What AUTH writes to the log: a client-chosen username is bounded and has no control
// characters, and no password ever appears.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { startGateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

test('an 8,253-character username is logged truncated to 64 characters, with its length', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const loaded = loadConfig({
    SMTP_SUBMISSION_PORT: '0',
    SMTP_SMTPS_PORT: '0',
    SMTP_ALT_SUBMISSION_PORT: '0',
    ADMIN_PORT: '0',
    SANDBOX_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
  });
  assert.ok(loaded.ok);
  const gw = await startGateway(loaded.config, pino({ level: 'info' }, sink));
  try {
    const username = 'a'.repeat(8241) + '@example.com';
    const password = 'secret-password-never-logged';
    const c = await RawSmtp.connect(gw.ports.smtps, { tls: true });
    await c.cmd('EHLO client.example');
    // (smtp-server itself refuses control characters in a username with 501.)
    assert.match(await c.cmd('AUTH LOGIN'), /^334 /);
    assert.match(await c.cmd(Buffer.from(username).toString('base64')), /^334 /);
    assert.match(await c.cmd(Buffer.from(password).toString('base64')), /^535 5\.7\.8 /);
    c.close();
    const auth = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'authentication failed');
    assert.equal(auth.length, 1);
    assert.equal(auth[0]!.username, `${'a'.repeat(64)}...(${username.length} chars)`);
    for (const l of lines) {
      assert.ok(l.length < 2000, `log line of ${l.length} chars`);
      assert.ok(!l.includes(password), 'password in a log line');
    }
  } finally {
    await gw.shutdown();
  }
});
