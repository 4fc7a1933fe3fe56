// Token cache and sender directory against the sandbox over real HTTP.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { CakemailClient } from '../../src/cakemail/client.ts';
import { SenderDirectory } from '../../src/cakemail/senders.ts';
import { TokenCache, type Credential } from '../../src/cakemail/tokens.ts';
import { DEMO } from '../../src/sandbox/seed.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.ts';

let sandbox: Sandbox;
let client: CakemailClient;

before(async () => {
  sandbox = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 10, tokenTtlSeconds: 2 });
  client = new CakemailClient({ baseUrl: sandbox.url, timeoutMs: 2000 });
});
after(() => sandbox.close());
beforeEach(async () => {
  await fetch(`${sandbox.url}/_sandbox/requests`, { method: 'DELETE' });
  await fetch(`${sandbox.url}/_sandbox/faults`, { method: 'DELETE' });
});

const requests = async () => (await (await fetch(`${sandbox.url}/_sandbox/requests`)).json()) as Record<string, number>;

async function login(cache: TokenCache): Promise<Credential> {
  const r = await cache.authenticate(DEMO.username, DEMO.password);
  assert.ok(r.ok, 'demo login works');
  return r.credential;
}

test('one token call for many concurrent logins with the same credentials; cached afterwards', async () => {
  const cache = new TokenCache({ client, refreshMarginMs: 100, recheckMs: 900_000 });
  const results = await Promise.all(Array.from({ length: 5 }, () => cache.authenticate(DEMO.username, DEMO.password)));
  assert.ok(results.every((r) => r.ok));
  await cache.authenticate(DEMO.username, DEMO.password);
  assert.equal((await requests())['POST /token'], 1);
  const c = results[0]!.ok ? results[0]!.credential : undefined;
  assert.equal(c?.accountKey, `account:${DEMO.accountId}`);
});

test('a token close to expiry is refreshed with the refresh grant, not a new password login', async () => {
  const cache = new TokenCache({ client, refreshMarginMs: 1500, recheckMs: 900_000 });
  const credential = await login(cache);
  const first = await credential.bearer();
  await new Promise((r) => setTimeout(r, 600)); // 2 s lifetime − 1.5 s margin
  const second = await credential.bearer();
  assert.ok(first.ok && second.ok);
  assert.notEqual(first.value, second.value);
  assert.equal((await requests())['POST /token'], 2);
  const res = await client.senders(second.value, 1, 1);
  assert.ok(res.ok, 'the refreshed token works');
});

test('wrong password → invalid; MFA → mfa; token endpoint down → unavailable', async () => {
  const cache = new TokenCache({ client, refreshMarginMs: 100, recheckMs: 900_000 });
  assert.deepEqual(await cache.authenticate(DEMO.username, 'nope').then((r) => !r.ok && r.reason), 'invalid');
  assert.deepEqual(await cache.authenticate(DEMO.mfaUsername, DEMO.mfaPassword).then((r) => !r.ok && r.reason), 'mfa');
  await fetch(`${sandbox.url}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: 502, paths: ['/token'] }),
  });
  assert.deepEqual(await cache.authenticate('other@example.com', 'x').then((r) => !r.ok && r.reason), 'unavailable');
  const down = new TokenCache({
    client: new CakemailClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 }),
    refreshMarginMs: 100,
    recheckMs: 900_000,
  });
  assert.deepEqual(await down.authenticate(DEMO.username, DEMO.password).then((r) => !r.ok && r.reason), 'unavailable');
});

test('a personal access token is the bearer itself, checked once; a wrong one is invalid', async () => {
  const cache = new TokenCache({ client, refreshMarginMs: 100, recheckMs: 900_000 });
  const ok = await cache.authenticate(DEMO.username, DEMO.pat);
  assert.ok(ok.ok);
  const bearer = await ok.credential.bearer();
  assert.ok(bearer.ok && bearer.value === DEMO.pat);
  assert.equal((await requests())['POST /token'] ?? 0, 0, 'no token call for a PAT');
  const bad = await cache.authenticate(DEMO.username, `ck_pat_${'0'.repeat(40)}`);
  assert.equal(!bad.ok && bad.reason, 'invalid');
});

test('sender directory: pages through the list, matches case-insensitively, confirmed senders only, cached', async () => {
  const credential = await login(new TokenCache({ client, refreshMarginMs: 100, recheckMs: 900_000 }));
  const dir = new SenderDirectory({ client, ttlMs: 60_000, perPage: 50 });
  const noreply = await dir.find(credential, { kind: 'email', address: 'NoReply@Example.com' });
  assert.ok(noreply.ok && noreply.value?.email === 'noreply@example.com', 'found on page 2');
  assert.equal((await requests())['GET /brands/default/senders'], 2);
  const pending = await dir.find(credential, { kind: 'email', address: DEMO.unconfirmedSender });
  assert.ok(pending.ok && pending.value === null, 'an unconfirmed sender does not match');
  const byId = await dir.find(credential, { kind: 'id', id: noreply.ok && noreply.value ? noreply.value.id : '' });
  assert.ok(byId.ok && byId.value?.email === 'noreply@example.com');
  assert.equal((await requests())['GET /brands/default/senders'], 2, 'served from the cache');
});

/** A sandbox of its own whose tokens live an hour, for tests that move the cache's clock. */
async function withLongTokens(fn: (sb: Sandbox, c: CakemailClient) => Promise<void>): Promise<void> {
  const sb = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 10, tokenTtlSeconds: 3600 });
  try {
    await fn(sb, new CakemailClient({ baseUrl: sb.url, timeoutMs: 2000 }));
  } finally {
    await sb.close();
  }
}

const setPassword = async (sb: Sandbox, password: string | null, revokeTokens = false) => {
  const res = await fetch(`${sb.url}/_sandbox/users/${encodeURIComponent(DEMO.username)}/password`, {
    method: password === null ? 'DELETE' : 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(password === null ? { revokeTokens } : { password, revokeTokens }),
  });
  assert.equal(res.status, 204);
};
const tokenCalls = async (sb: Sandbox) =>
  ((await (await fetch(`${sb.url}/_sandbox/requests`)).json()) as Record<string, number>)['POST /token'];

test('a changed password stops working once the login is rechecked with the password grant, refresh token or not', () =>
  withLongTokens(async (sb, c) => {
    let now = Date.now();
    const cache = new TokenCache({ client: c, refreshMarginMs: 100, recheckMs: 60_000, now: () => now });
    await login(cache);
    // The sandbox leaves issued tokens valid on a password change (Cakemail's behaviour is unknown).
    await setPassword(sb, 'changed-password');
    now += 59_000;
    assert.ok((await cache.authenticate(DEMO.username, DEMO.password)).ok, 'within AUTH_RECHECK_S: cached');
    assert.equal(await tokenCalls(sb), 1);
    now += 2_000;
    const stale = await cache.authenticate(DEMO.username, DEMO.password);
    assert.ok(!stale.ok && stale.reason === 'invalid', 'rechecked: the old password is refused');
    assert.equal(await tokenCalls(sb), 2);
    assert.ok((await cache.authenticate(DEMO.username, 'changed-password')).ok);
  }));

test('after a 401 from the API the password is checked at once, not renewed with the refresh token', () =>
  withLongTokens(async (sb, c) => {
    const cache = new TokenCache({ client: c, refreshMarginMs: 100, recheckMs: 900_000 });
    const credential = await login(cache);
    await setPassword(sb, null, true);
    const renewed = await credential.renew();
    assert.ok(!renewed.ok && renewed.error.kind === 'http' && renewed.error.status === 401);
    assert.equal(await tokenCalls(sb), 2, 'one password grant after the 401, no refresh grant');
    const again = await cache.authenticate(DEMO.username, DEMO.password);
    assert.ok(!again.ok && again.reason === 'invalid', 'the login is forgotten');
  }));

test('a recheck that cannot reach the token service keeps the cached login and tries again later', () =>
  withLongTokens(async (sb, c) => {
    let now = Date.now();
    const cache = new TokenCache({ client: c, refreshMarginMs: 100, recheckMs: 60_000, now: () => now });
    await login(cache);
    await fetch(`${sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 503, paths: ['/token'] }),
    });
    now += 61_000;
    assert.ok((await cache.authenticate(DEMO.username, DEMO.password)).ok, 'the password was not proven wrong');
    const afterOutage = await tokenCalls(sb);
    assert.ok((await cache.authenticate(DEMO.username, DEMO.password)).ok);
    assert.equal(await tokenCalls(sb), afterOutage, 'no recheck storm: the next try is later');
    now += 31_000;
    await fetch(`${sb.url}/_sandbox/faults`, { method: 'DELETE' });
    await setPassword(sb, 'changed-again');
    const later = await cache.authenticate(DEMO.username, DEMO.password);
    assert.ok(!later.ok && later.reason === 'invalid', 'rechecked once the token service is back');
  }));
