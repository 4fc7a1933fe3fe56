// Password guessing, over real SMTP sessions from several loopback source addresses (each
// 127.0.0.x is its own client IP to the gateway). Small limits keep the file fast; every test
// uses its own source addresses, so the limits of one do not leak into the next.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const BLOCK_S = 4;
const gw = useTestGateway({
  AUTH_MAX_FAILURES_PER_CONNECTION: '3',
  AUTH_MAX_FAILURES_PER_IP: '4',
  AUTH_MAX_FAILURES_PER_USER: '5',
  AUTH_FAILURE_WINDOW_S: '60',
  AUTH_BLOCK_S: String(BLOCK_S),
  TRUSTED_CIDRS: '127.0.0.17/32',
});

const tokenCalls = async () => (await sandboxRequests(gw()))['POST /token'] ?? 0;

async function open(from: string): Promise<RawSmtp> {
  const c = await RawSmtp.connect(gw().ports.smtps, { tls: true, localAddress: from });
  await c.cmd('EHLO client.example');
  return c;
}

test('three failures on one connection: 535, 535, then 421 4.7.0 and the connection is closed', async () => {
  const c = await open('127.0.0.11');
  const started = Date.now();
  assert.match(await c.authPlain('someone@example.com', 'wrong-1'), /^535 5\.7\.8 Authentication credentials invalid$/);
  assert.match(await c.authPlain('someone@example.com', 'wrong-2'), /^535 5\.7\.8 /);
  assert.match(
    await c.authPlain('someone@example.com', 'wrong-3'),
    /^421 4\.7\.0 Authentication credentials invalid; too many failed AUTH attempts \(3\) on this connection, closing$/,
  );
  assert.ok(Date.now() - started >= 3000, 'each failure is answered after the 1 s delay');
  assert.equal(await c.closed(), true, 'the server closed the connection');
  assert.equal(await tokenCalls(), 3);
});

test('60 guesses pipelined in one write, then the right password: two 535, one 421, and nothing after it is read', async () => {
  const c = await open('127.0.0.15');
  const b64 = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');
  const lines = Array.from({ length: 60 }, (_, i) => `AUTH PLAIN ${b64('u@example.com', `wrong${i}`)}\r\n`).join('');
  c.write(lines + `AUTH PLAIN ${b64(DEMO_USER, DEMO_PASSWORD)}\r\n`);
  assert.match(await c.reply(), /^535 5\.7\.8 /);
  assert.match(await c.reply(), /^535 5\.7\.8 /);
  assert.match(await c.reply(), /^421 4\.7\.0 /);
  assert.equal(await c.reply(), '(closed)');
  assert.equal(await tokenCalls(), 3);
});

test('the same wrong password again within a minute: 535 without asking Cakemail again', async () => {
  const first = await open('127.0.0.12');
  assert.match(await first.authPlain('app@example.com', 'stale-password'), /^535 5\.7\.8 /);
  first.close();
  const again = await open('127.0.0.12');
  assert.match(await again.authPlain('app@example.com', 'stale-password'), /^535 5\.7\.8 /);
  again.close();
  assert.equal(await tokenCalls(), 1, 'one POST /token for two identical failures');
  // Another password for the same user is a new question.
  const other = await open('127.0.0.12');
  assert.match(await other.authPlain('app@example.com', 'another-wrong'), /^535 5\.7\.8 /);
  other.close();
  assert.equal(await tokenCalls(), 2);
});

test('AUTH_MAX_FAILURES_PER_IP failures block the IP: 421 at connect, 454 at AUTH even with the right password, no /token; other IPs unaffected; the block ends', async () => {
  const ip = '127.0.0.13';
  const early = await open(ip); // opened before the block, used after it
  // Two connections × two failures, in parallel.
  const guess = async (n: number) => {
    const c = await open(ip);
    const r = [
      await c.authPlain(`victim${n}@example.com`, `guess-${n}-a`),
      await c.authPlain(`victim${n}@example.com`, `guess-${n}-b`),
    ];
    c.close();
    return r;
  };
  for (const r of (await Promise.all([guess(1), guess(2)])).flat()) assert.match(r, /^535 5\.7\.8 /);
  const before = await tokenCalls();

  const refused = await RawSmtp.connect(gw().ports.smtps, { tls: true, localAddress: ip });
  assert.match(
    refused.greeting,
    /^421 4\.7\.0 Too many failed logins from your IP address: blocked, try again in [1-4] s$/,
  );
  assert.equal(await refused.closed(), true);

  assert.match(
    await early.authPlain(DEMO_USER, DEMO_PASSWORD),
    /^454 4\.7\.0 Too many failed logins from your IP address: blocked, try again in [1-4] s$/,
  );
  early.close();
  assert.equal(await tokenCalls(), before, 'a blocked attempt never reaches /token');

  const clean = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD, '127.0.0.14');
  clean.close();

  await new Promise((r) => setTimeout(r, BLOCK_S * 1000 + 200));
  const after = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD, ip);
  after.close();
});

test('20 parallel guesses from one IP: exactly AUTH_MAX_FAILURES_PER_IP reach Cakemail, the rest get 454 4.7.0', async () => {
  const conns = await Promise.all(Array.from({ length: 20 }, () => open('127.0.0.16')));
  const replies = await Promise.all(conns.map((c, i) => c.authPlain(`parallel${i}@example.com`, `guess-${i}`)));
  for (const c of conns) c.close();
  assert.equal(replies.filter((r) => r.startsWith('535 5.7.8 ')).length, 4, replies.join('\n'));
  assert.equal(
    replies.filter((r) => /^454 4\.7\.0 Too many failed logins from your IP address/.test(r)).length,
    16,
    replies.join('\n'),
  );
  assert.equal(await tokenCalls(), 4);
});

test('12 IPs guessing one username at once: exactly AUTH_MAX_FAILURES_PER_USER reach Cakemail, the rest get 454 4.7.0', async () => {
  const conns = await Promise.all(Array.from({ length: 12 }, (_, i) => open(`127.0.1.${i + 1}`)));
  const replies = await Promise.all(conns.map((c, i) => c.authPlain('botnet-target@example.com', `guess-${i}`)));
  for (const c of conns) c.close();
  assert.equal(replies.filter((r) => r.startsWith('535 5.7.8 ')).length, 5, replies.join('\n'));
  assert.equal(
    replies.filter((r) => /^454 4\.7\.0 Too many failed logins for this username/.test(r)).length,
    7,
    replies.join('\n'),
  );
  assert.equal(await tokenCalls(), 5);
});

test('a trusted network (TRUSTED_CIDRS) is blocked like any other after too many failures', async () => {
  await Promise.all(
    [1, 2].map(async (n) => {
      const c = await open('127.0.0.17');
      for (const x of ['a', 'b']) assert.match(await c.authPlain('trusted@example.com', `guess-${n}-${x}`), /^535 /);
      c.close();
    }),
  );
  const refused = await RawSmtp.connect(gw().ports.smtps, { tls: true, localAddress: '127.0.0.17' });
  assert.match(refused.greeting, /^421 4\.7\.0 Too many failed logins from your IP address/);
  refused.close();
});

test('a distributed guesser locks the username for new IPs only: the application server that logged in before keeps working', async () => {
  const user = 'demo@example.com';
  // The application server logs in as usual before the attack.
  const app = await RawSmtp.login(gw().ports.smtps, user, DEMO_PASSWORD, '127.0.0.20');
  app.close();
  // Five guessing IPs, one guess each (under the per-IP limit), reach the per-user limit.
  await Promise.all(
    [21, 22, 23, 24, 25].map(async (n) => {
      const c = await open(`127.0.0.${n}`);
      assert.match(
        await c.authPlain(user.toUpperCase(), `guess-${n}`),
        /^535 5\.7\.8 /,
        'case does not make a new username',
      );
      c.close();
    }),
  );
  const before = await tokenCalls();
  // A sixth IP, even with the right password, is refused without asking Cakemail.
  const fresh = await open('127.0.0.26');
  assert.match(
    await fresh.authPlain(user, DEMO_PASSWORD),
    /^454 4\.7\.0 Too many failed logins for this username: only addresses it recently logged in from may try it for the next [1-4] s$/,
  );
  fresh.close();
  assert.equal(await tokenCalls(), before);
  // The application server's IP still logs in.
  const again = await RawSmtp.login(gw().ports.smtps, user, DEMO_PASSWORD, '127.0.0.20');
  again.close();
  // Other usernames from the new IP are not affected.
  const other = await open('127.0.0.26');
  assert.match(await other.authPlain('mfa@example.com', 'mfa-password'), /^535 5\.7\.8 .*MFA/);
  other.close();
});

test('metrics count blocked attempts by scope', async () => {
  const text = await (await fetch(`http://127.0.0.1:${gw().ports.admin}/metrics`)).text();
  for (const scope of ['ip', 'user', 'connection']) {
    assert.match(text, new RegExp(`smtp_gateway_auth_blocked_total\\{scope="${scope}"\\} [1-9]`), scope);
  }
  assert.match(text, /smtp_gateway_auth_total\{result="auth_blocked_ip"\} [1-9]/);
});
