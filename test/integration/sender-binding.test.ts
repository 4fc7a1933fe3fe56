// The sender binding rule (docs/security.md, "Sender identity"): the From header alone says who
// a message is from and must be a confirmed sender of the account. The envelope MAIL FROM is a
// bounce address (VERP, <>), accepted whatever it names and carried only as
// X-Sender-Envelope-From; a Sender header is not carried to Cakemail, so it cannot show
// recipients another identity. Driven with nodemailer, the way applications send.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const gw = useTestGateway();

const transport = () =>
  nodemailer.createTransport({
    host: '127.0.0.1',
    port: gw().ports.smtps,
    secure: true,
    auth: { user: DEMO_USER, pass: DEMO_PASSWORD },
    tls: { rejectUnauthorized: false },
  });

const header = (payload: Record<string, any>, name: string) =>
  ((payload.additional_headers ?? []) as { name: string; value: string }[]).find(
    (h) => h.name.toLowerCase() === name.toLowerCase(),
  )?.value;

test('a VERP bounce address in MAIL FROM is accepted; the sender is the From address; MAIL FROM travels only as X-Sender-Envelope-From', async () => {
  const verp = 'bounces+1234-alice=example.org@bounces.app.example';
  const info = await transport().sendMail({
    envelope: { from: verp, to: 'alice@example.org' },
    from: `Shop <${DEMO_USER}>`,
    to: 'alice@example.org',
    subject: 'verp',
    text: 'hi',
  });
  assert.match(info.response, /^250 2\.0\.0 /);
  const [email] = await sandboxEmails(gw());
  assert.equal(email!.payload.sender.name, 'Shop');
  assert.equal(header(email!.payload, 'X-Sender-Envelope-From'), verp);
});

test('the null reverse-path <> is accepted', async () => {
  const c = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
  const reply = await c.cmd('MAIL FROM:<>');
  assert.match(reply, /^250 /);
  assert.match(await c.cmd('RCPT TO:<r@example.org>'), /^250 /);
  assert.match(await c.cmd('DATA'), /^354 /);
  assert.match(await c.cmd(`From: ${DEMO_USER}\r\nSubject: null sender\r\n\r\nx\r\n.`), /^250 2\.0\.0 /);
  c.close();
  const [email] = await sandboxEmails(gw());
  assert.equal(header(email!.payload, 'X-Sender-Envelope-From'), undefined);
});

test('a foreign MAIL FROM with a confirmed From is delivered from the confirmed sender, the foreign address only in X-Sender-Envelope-From', async () => {
  const info = await transport().sendMail({
    envelope: { from: 'ceo@other-tenant.example', to: 'bob@example.org' },
    from: DEMO_USER,
    to: 'bob@example.org',
    subject: 'foreign envelope',
    text: 'hi',
    messageId: '<foreign-envelope@client.example>',
  });
  assert.match(info.response, /^250 /);
  const [email] = await sandboxEmails(gw());
  const p = email!.payload;
  assert.equal(header(p, 'X-Sender-Envelope-From'), 'ceo@other-tenant.example');
  const rest = JSON.stringify({
    ...p,
    additional_headers: (p.additional_headers as { name: string }[]).filter((h) => h.name !== 'X-Sender-Envelope-From'),
  });
  assert.ok(!rest.includes('other-tenant'), rest);
});

test('a Sender header naming a foreign address is not carried: recipients see the From identity only', async () => {
  const info = await transport().sendMail({
    from: DEMO_USER,
    sender: 'ceo@other-tenant.example',
    to: 'carol@example.org',
    subject: 'foreign Sender',
    text: 'hi',
    messageId: '<foreign-sender@client.example>',
  });
  assert.match(info.response, /^250 /);
  const [email] = await sandboxEmails(gw());
  assert.ok(!JSON.stringify(email!.payload).includes('ceo@other-tenant.example'), JSON.stringify(email!.payload));
});

test('a foreign From is refused 550 5.7.1 naming it, whatever MAIL FROM says, and nothing is sent', async () => {
  await assert.rejects(
    transport().sendMail({
      envelope: { from: DEMO_USER, to: 'dave@example.org' },
      from: 'ceo@other-tenant.example',
      to: 'dave@example.org',
      subject: 'spoof',
      text: 'hi',
    }),
    (err: Error & { response?: string }) =>
      /^550 5\.7\.1 Sender <ceo@other-tenant\.example> is not a confirmed sender/.test(err.response ?? ''),
  );
  assert.equal((await sandboxRequests(gw()))['POST /v2/emails'] ?? 0, 0);
});
