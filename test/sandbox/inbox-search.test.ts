// The sandbox inbox search and single delete: GET /_sandbox/emails?q= returns only the emails
// that match every word (recipient, sender, subject, tags, text), the page shows the same, and
// DELETE /_sandbox/emails/:id removes exactly one. Mail arrives over real SMTP through a gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const gw = useTestGateway();

async function send(to: string, subject: string, extra = '', body = 'hello'): Promise<void> {
  const c = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    const r = await c.transaction(
      DEMO_USER,
      [to],
      `From: ${DEMO_USER}\r\nTo: ${to}\r\nSubject: ${subject}\r\n${extra}\r\n${body}\r\n`,
    );
    assert.match(r, /^250 /);
  } finally {
    c.close();
  }
}

const search = async (q: string) => {
  const res = await fetch(`${gw().apiUrl}/_sandbox/emails?q=${encodeURIComponent(q)}`);
  return ((await res.json()) as { payload: { email: string; content: { subject: string } } }[]).map(
    (e) => e.payload.content.subject,
  );
};

test('the search returns only matches, over recipient, sender, subject, tags and text', async () => {
  await send('alice@example.org', 'Invoice 42', 'X-Tags: billing\r\n', 'Total due: 10 EUR');
  await send('bob@example.net', 'Password reset', 'X-Tags: security\r\n', 'Click the link to reset');
  await send('alice@example.org', 'Welcome aboard', '', 'Glad to have you');
  assert.deepEqual(await search('alice'), ['Welcome aboard', 'Invoice 42']);
  assert.deepEqual(await search('ALICE invoice'), ['Invoice 42'], 'every word must match');
  assert.deepEqual(await search('security'), ['Password reset'], 'tags');
  assert.deepEqual(await search('glad'), ['Welcome aboard'], 'text');
  assert.deepEqual(await search('example.net'), ['Password reset'], 'recipient domain');
  assert.deepEqual((await search(DEMO_USER)).length, 3, 'the sender');
  assert.deepEqual(await search('nothing-like-this'), []);

  const page = await (await fetch(`${gw().apiUrl}/?q=invoice`)).text();
  assert.match(page, /Invoice 42/);
  assert.doesNotMatch(page, /Password reset|Welcome aboard/);
  assert.match(page, /<input type="search" name="q" value="invoice"/);
  const none = await (await fetch(`${gw().apiUrl}/?q=%3Cscript%3E`)).text();
  assert.match(none, /No email matches “&lt;script&gt;”/, 'the query is escaped on the page');
});

test('DELETE /_sandbox/emails/:id removes that email only; a second delete is 404', async () => {
  await send('one@example.org', 'first');
  await send('two@example.org', 'second');
  const [newest, older] = await sandboxEmails(gw());
  const url = `${gw().apiUrl}/_sandbox/emails/${newest!.id}`;
  assert.equal((await fetch(url, { method: 'DELETE' })).status, 204);
  assert.deepEqual(
    (await sandboxEmails(gw())).map((e) => e.id),
    [older!.id],
  );
  assert.equal((await fetch(url, { method: 'DELETE' })).status, 404);
  assert.equal((await fetch(`${gw().apiUrl}/emails/${newest!.id}`)).status, 404);
});
