// A password changed at Cakemail stops working at the gateway within AUTH_RECHECK_S, although the
// sandbox (like Cakemail, as far as anyone knows) leaves the refresh token valid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, setSandboxPassword, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const message = (n: number) => `From: ${DEMO_USER}\r\nSubject: recheck ${n}\r\n\r\nhello\r\n`;

test('a changed password: the old one gets 535 after AUTH_RECHECK_S, a session opened before it cannot send, the new one works', async () => {
  const gw = await startTestGateway({ AUTH_RECHECK_S: '1' });
  try {
    const before = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    assert.match(await before.transaction(DEMO_USER, ['a@example.org'], message(1)), /^250 /);
    await setSandboxPassword(gw, DEMO_USER, 'a-new-password');
    await new Promise((r) => setTimeout(r, 1200));

    const sent = await before.transaction(DEMO_USER, ['b@example.org'], message(2));
    // Temporary: the client keeps the message, and its next login meets the 535.
    assert.match(sent, /^451 4\.3\.5 Cakemail API refused the gateway's credentials/);
    before.close();

    const old = await RawSmtp.connect(gw.ports.smtps, { tls: true });
    await old.cmd('EHLO client.example');
    assert.match(await old.authPlain(DEMO_USER, DEMO_PASSWORD), /^535 5\.7\.8 /);
    old.close();

    const renewed = await RawSmtp.login(gw.ports.smtps, DEMO_USER, 'a-new-password');
    assert.match(await renewed.transaction(DEMO_USER, ['c@example.org'], message(3)), /^250 /);
    renewed.close();
    const subjects = (await sandboxEmails(gw)).map((e) => (e.payload.content as { subject: string }).subject);
    assert.deepEqual(subjects.sort(), ['recheck 1', 'recheck 3']);
  } finally {
    await gw.shutdown();
  }
});
