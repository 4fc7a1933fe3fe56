// Every reply the gateway decides, over a raw SMTP dialogue (real TCP and TLS), against the
// sandbox with fault injection. Each case also checks what the API did (or did not) receive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  clearSandbox,
  sandboxEmails,
  sandboxRequests,
  setFault,
  startTestGateway,
  useTestGateway,
} from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const gw = useTestGateway({ API_TIMEOUT_MS: '400', MESSAGE_DEADLINE_MS: '5000' });

const authed = () => RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);

function message(from: string, to: string, subject: string, extraHeaders = ''): string {
  return `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@client.example>\r\n${extraHeaders}\r\nbody of ${subject}\r\n`;
}

const send = (c: RawSmtp, from: string, rcpts: string[], body: string) => c.transaction(from, rcpts, body);

const emailPosts = async () => (await sandboxRequests(gw()))['POST /v2/emails'] ?? 0;

test('EHLO before TLS offers STARTTLS and no AUTH; after TLS, AUTH PLAIN LOGIN and no STARTTLS', async () => {
  const c = await RawSmtp.connect(gw().ports.submission);
  const before = await c.cmd('EHLO client.example');
  for (const ext of ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SIZE 10485760', 'STARTTLS'])
    assert.ok(before.includes(ext), `${ext} offered`);
  assert.ok(!before.includes('AUTH'), 'no AUTH before TLS');
  assert.ok(!before.includes('SMTPUTF8'), 'SMTPUTF8 not offered: the API cannot carry non-ASCII addresses');
  assert.match(await c.cmd('AUTH PLAIN AGRlbW9AZXhhbXBsZS5jb20AZGVtby1wYXNzd29yZA=='), /^538 5\.7\.11 /);
  await c.startTls();
  const afterTls = await c.cmd('EHLO client.example');
  assert.ok(afterTls.includes('AUTH PLAIN LOGIN'));
  assert.ok(!afterTls.includes('STARTTLS'));
  assert.match(await c.cmd('MAIL FROM:<demo@example.com>'), /^530 5\.7\.0 /);
  c.close();
});

test('wrong password → 535 5.7.8; MFA login → 535 saying MFA cannot be used; the session keeps serving', async () => {
  const c = await RawSmtp.connect(gw().ports.smtps, { tls: true });
  await c.cmd('EHLO client.example');
  assert.match(await c.authPlain(DEMO_USER, 'wrong'), /^535 5\.7\.8 /);
  assert.match(
    await c.authPlain('mfa@example.com', 'mfa-password'),
    /^535 5\.7\.8 .*MFA logins cannot be used over SMTP/,
  );
  assert.match(await c.authPlain(DEMO_USER, DEMO_PASSWORD), /^235 2\.7\.0 /);
  c.close();
});

test('AUTH LOGIN works over a raw dialogue too', async () => {
  const c = await RawSmtp.connect(gw().ports.smtps, { tls: true });
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd('AUTH LOGIN'), /^334 /);
  assert.match(await c.cmd(Buffer.from(DEMO_USER).toString('base64')), /^334 /);
  assert.match(await c.cmd(Buffer.from(DEMO_PASSWORD).toString('base64')), /^235 2\.7\.0/);
  c.close();
});

test('token endpoint down → 454 4.7.0 (temporary), not 535', async () => {
  await setFault(gw(), { status: 503, paths: ['/token'] });
  const c = await RawSmtp.connect(gw().ports.smtps, { tls: true });
  await c.cmd('EHLO client.example');
  assert.match(await c.authPlain('fresh-user@example.com', 'whatever'), /^454 4\.7\.0 /);
  c.close();
});

test('a From that is not a confirmed sender → 550 5.7.1 naming it, and no API send', async () => {
  const c = await authed();
  for (const from of ['stranger@example.net', 'pending@example.com']) {
    const r = await send(c, DEMO_USER, ['x@example.org'], message(from, 'x@example.org', 'spoof'));
    assert.match(r, new RegExp(`^550 5\\.7\\.1 Sender <${from.replace('.', '\\.')}> is not a confirmed sender`));
  }
  assert.equal(await emailPosts(), 0);
  c.close();
});

test('sender match is case-insensitive and the display name becomes sender.name', async () => {
  const c = await authed();
  const r = await send(
    c,
    DEMO_USER,
    ['x@example.org'],
    message('"Big Shop" <NoReply@Example.COM>', 'x@example.org', 'casing'),
  );
  assert.match(r, /^250 2\.0\.0 /);
  const [email] = await sandboxEmails(gw());
  assert.equal(email!.payload.sender.name, 'Big Shop');
  c.close();
});

test('bad recipient syntax → 501 5.1.3; non-ASCII → 553 5.6.7; the 101st recipient → 452 4.5.3', async () => {
  const c = await authed();
  assert.match(await c.cmd('MAIL FROM:<demo@example.com>'), /^250/);
  assert.match(await c.cmd('RCPT TO:<no-at-sign>'), /^501 5\.1\.3 /);
  assert.match(await c.cmd('RCPT TO:<jürgen@example.org>'), /^553 5\.6\.7 /);
  for (let i = 1; i <= 100; i++) assert.match(await c.cmd(`RCPT TO:<r${i}@example.org>`), /^250/);
  assert.match(await c.cmd('RCPT TO:<r101@example.org>'), /^452 4\.5\.3 /);
  c.close();
});

test('envelope encoding: invalid UTF-8 → 501 5.1.7; non-ASCII → 553 5.6.7; SMTPUTF8 parameter → 555; 8BITMIME accepted', async () => {
  const c = await authed();
  c.write(Buffer.concat([Buffer.from('MAIL FROM:<'), Buffer.from([0xff, 0xfe]), Buffer.from('@x.example>\r\n')]));
  assert.match(await c.reply(), /^501 5\.1\.7 /);
  assert.match(await c.cmd('MAIL FROM:<jürgen@x.example>'), /^553 5\.6\.7 /);
  assert.match(await c.cmd('MAIL FROM:<a@x.example> SMTPUTF8'), /^555 5\.6\.7 /);
  assert.match(await c.cmd('MAIL FROM:<demo@example.com> BODY=8BITMIME'), /^250 /);
  c.write(Buffer.concat([Buffer.from('RCPT TO:<'), Buffer.from([0xc3, 0x28]), Buffer.from('@x.example>\r\n')]));
  assert.match(await c.reply(), /^501 5\.1\.7 /);
  c.close();
});

test('SIZE over the limit → 552 at MAIL; an oversized DATA → 552 5.3.4 with zero API calls', async () => {
  const c = await authed();
  assert.match(await c.cmd('MAIL FROM:<demo@example.com> SIZE=999999999'), /^552 /);
  const big = message(DEMO_USER, 'x@example.org', 'big', '').replace(
    'body of big',
    'x'
      .repeat(1000)
      .concat('\r\n')
      .repeat(11 * 1024),
  );
  const r = await send(c, DEMO_USER, ['x@example.org'], big);
  assert.match(r, /^552 5\.3\.4 /);
  assert.equal(await emailPosts(), 0);
  c.close();
});

test('one message to several recipients: one API call each, 250 with a gateway id', async () => {
  const c = await authed();
  const r = await send(
    c,
    DEMO_USER,
    ['a@example.org', 'b@example.org', 'A@example.org'],
    message(DEMO_USER, 'a@example.org', 'fanout'),
  );
  assert.match(r, /^250 2\.0\.0 Ok: queued as /);
  const emails = await sandboxEmails(gw());
  assert.deepEqual(
    emails.map((e) => String(e.payload.email).toLowerCase()).sort(),
    ['a@example.org', 'b@example.org'],
    'envelope duplicates (any case) sent once',
  );
  c.close();
});

test('API 5xx once → retried → 250; API 5xx throughout → 451 4.4.1 after the attempt budget', async () => {
  const c = await authed();
  await setFault(gw(), { status: 503, count: 1 });
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'retry-ok')),
    /^250 2\.0\.0 /,
  );
  assert.equal((await sandboxEmails(gw())).length, 1);
  await clearSandbox(gw());
  await setFault(gw(), { status: 503 });
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'retry-fail')),
    /^451 4\.4\.1 /,
  );
  assert.equal(await emailPosts(), 3, 'three attempts, then 451');
  assert.equal((await sandboxEmails(gw())).length, 0);
  c.close();
});

test('API 429 with a Retry-After beyond the deadline → 451 4.4.5 at once', async () => {
  const c = await authed();
  await setFault(gw(), { status: 429, retryAfter: '3600' });
  const started = Date.now();
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'ratelimited')),
    /^451 4\.4\.5 .*retry after 3600 s/,
  );
  assert.ok(Date.now() - started < 2000);
  c.close();
});

test('API validation error → 554 5.6.0 with the API message; 201 "rejected" → 550 5.7.1', async () => {
  const c = await authed();
  await setFault(gw(), {
    status: 422,
    body: { detail: [{ loc: ['body', 'content', 'html'], msg: 'html is\r\nnot valid', type: 'value_error' }] },
  });
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'invalid')),
    /^554 5\.6\.0 Cakemail refused the message: content\.html: html is not valid \(trace [0-9a-f-]{36}\)$/,
  );
  await clearSandbox(gw());
  assert.match(
    await send(c, DEMO_USER, ['x@rejected.example'], message(DEMO_USER, 'x@rejected.example', 'rejected')),
    /^550 5\.7\.1 Cakemail rejected/,
  );
  c.close();
});

test('some recipients refused by Cakemail, the others queued → 250 with the count refused', async () => {
  const c = await authed();
  const r = await send(
    c,
    DEMO_USER,
    ['ok@example.org', 'no@rejected.example'],
    message(DEMO_USER, 'ok@example.org', 'partial-refusal'),
  );
  assert.match(r, /^250 2\.0\.0 Ok: queued as \S+; 1 of 2 recipients refused by Cakemail$/);
  assert.deepEqual(
    (await sandboxEmails(gw())).map((e) => e.payload.email),
    ['ok@example.org'],
  );
  c.close();
});

test('no answer within the attempt deadline (API committed, then hung) → 451 4.4.2, not retried blindly', async () => {
  const c = await authed();
  await setFault(gw(), { mode: 'commit_then_hang', count: 1 });
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'hang')),
    /^451 4\.4\.2 /,
  );
  assert.equal(await emailPosts(), 1, 'an ambiguous attempt is not sent again');
  c.close();
});

test('connection reset before the API read the request → 451 4.4.1', async () => {
  const c = await authed();
  await setFault(gw(), { mode: 'reset_before_read' });
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'reset')),
    /^451 4\.4\.1 /,
  );
  assert.equal((await sandboxEmails(gw())).length, 0);
  c.close();
});

test('401 on send → the token is renewed once and the send retried → 250', async () => {
  const c = await authed();
  await fetch(`${gw().apiUrl}/_sandbox/requests`, { method: 'DELETE' });
  await setFault(gw(), { status: 401, count: 1 });
  assert.match(
    await send(c, DEMO_USER, ['x@example.org'], message(DEMO_USER, 'x@example.org', 'renew')),
    /^250 2\.0\.0 /,
  );
  const req = await sandboxRequests(gw());
  assert.equal(req['POST /v2/emails'], 2);
  assert.equal(req['POST /token'], 1, 'one token renewal');
  c.close();
});

test('resending an accepted message → the same 250, no second API call (lost-250 case)', async () => {
  const c = await authed();
  const body = message(DEMO_USER, 'x@example.org', 'resend');
  const first = await send(c, DEMO_USER, ['x@example.org'], body);
  const second = await send(c, DEMO_USER, ['x@example.org'], body);
  const id = /queued as (\S+)/.exec(first)![1];
  assert.match(second, new RegExp(`^250 2\\.0\\.0 Ok: queued as ${id} \\(already accepted`));
  assert.equal(await emailPosts(), 1);
  c.close();
});

test('partial transient failure → 451; the retry sends only the recipients not yet accepted', async () => {
  const one = await startTestGateway({ SEND_CONCURRENCY: '1', API_MAX_ATTEMPTS: '1' });
  try {
    const c = await RawSmtp.login(one.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    const body = message(DEMO_USER, 'a@example.org', 'partial');
    await setFault(one, { status: 503, count: 1 });
    assert.match(await send(c, DEMO_USER, ['a@example.org', 'b@example.org'], body), /^451 4\.4\.1 /);
    assert.deepEqual(
      (await sandboxEmails(one)).map((e) => e.payload.email),
      ['b@example.org'],
    );
    assert.match(await send(c, DEMO_USER, ['a@example.org', 'b@example.org'], body), /^250 2\.0\.0 /);
    assert.deepEqual(
      (await sandboxEmails(one)).map((e) => e.payload.email).sort(),
      ['a@example.org', 'b@example.org'],
      'each recipient exactly once',
    );
    c.close();
  } finally {
    await one.shutdown();
  }
});

test('garbage commands get 5xx and the session keeps serving', async () => {
  const c = await authed();
  assert.match(await c.cmd('FOO bar'), /^500 /);
  assert.match(await c.cmd('VRFY root'), /^50\d /);
  assert.match(await c.cmd('EXPN staff'), /^50\d /);
  assert.match(await c.cmd('NOOP'), /^250 /);
  c.close();
});
