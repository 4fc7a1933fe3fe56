// Message rate limits over real SMTP: token buckets per client IP and per account, answered at
// MAIL with 451 4.7.1 and the seconds until a token is free, before any API call. Each test
// plays its own client IPs (127.0.0.x source addresses).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const gw = useTestGateway({
  RATE_LIMIT_IP_PER_MIN: '2',
  RATE_LIMIT_ACCOUNT_PER_MIN: '4',
  TRUSTED_CIDRS: '127.0.0.50/32',
});

const emailPosts = async () => (await sandboxRequests(gw()))['POST /v2/emails'] ?? 0;
const login = (from: string) => RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD, from);
const body = (s: string) =>
  `From: ${DEMO_USER}\r\nTo: r@example.org\r\nSubject: ${s}\r\nMessage-ID: <${s}@client.example>\r\n\r\nhello\r\n`;

test('EHLO advertises RFC 9422 LIMITS with RCPTMAX', async () => {
  const c = await RawSmtp.connect(gw().ports.smtps, { tls: true, localAddress: '127.0.0.39' });
  assert.match(await c.cmd('EHLO client.example'), /^250 LIMITS RCPTMAX=100$/m);
  c.close();
});

test('per IP: the bucket is spent after two messages; the third MAIL gets 451 4.7.1 with the seconds, and no API call', async () => {
  const c = await login('127.0.0.40');
  assert.match(await c.transaction(DEMO_USER, ['r@example.org'], body('rl-ip-1')), /^250 /);
  assert.match(await c.transaction(DEMO_USER, ['r@example.org'], body('rl-ip-2')), /^250 /);
  const refused = await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
  const m = /^451 4\.7\.1 Rate limit of 2 messages per minute reached for your IP address: try again in (\d+) s$/.exec(
    refused,
  );
  assert.ok(m, refused);
  assert.ok(Number(m[1]) >= 15 && Number(m[1]) <= 30, '2 per minute: the next token within 30 s');
  // The session goes on: the client may wait and try again on the same connection.
  assert.match(await c.cmd('NOOP'), /^250 /);
  c.close();
  // Another connection from the same IP shares the bucket.
  const d = await login('127.0.0.40');
  assert.match(await d.cmd(`MAIL FROM:<${DEMO_USER}>`), /^451 4\.7\.1 /);
  d.close();
  assert.equal(await emailPosts(), 2, 'refused messages cost no API call');
});

test('trusted networks are not rate limited', async () => {
  const c = await login('127.0.0.50');
  for (let i = 0; i < 6; i++) {
    assert.match(await c.cmd(`MAIL FROM:<${DEMO_USER}>`), /^250 /, `MAIL ${i + 1}`);
    assert.match(await c.cmd('RSET'), /^250 /);
  }
  c.close();
});

test('per account: the account bucket holds across IPs (two tokens left after the IP test)', async () => {
  const replies: string[] = [];
  for (const ip of ['127.0.0.41', '127.0.0.42', '127.0.0.43']) {
    const c = await login(ip);
    replies.push(await c.cmd(`MAIL FROM:<${DEMO_USER}>`));
    c.close();
  }
  assert.match(replies[0]!, /^250 /);
  assert.match(replies[1]!, /^250 /);
  const m =
    /^451 4\.7\.1 Rate limit of 4 messages per minute reached for this Cakemail account: try again in (\d+) s$/.exec(
      replies[2]!,
    );
  assert.ok(m, replies[2]);
  assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= 15, '4 per minute: the next token within 15 s');
  const text = await (await fetch(`http://127.0.0.1:${gw().ports.admin}/metrics`)).text();
  assert.match(text, /smtp_gateway_rate_limited_total\{limit="ip"\} 2/);
  assert.match(text, /smtp_gateway_rate_limited_total\{limit="account"\} 1/);
});
