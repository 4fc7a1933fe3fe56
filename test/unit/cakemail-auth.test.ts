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
  const cache = new TokenCache({ client, refreshMarginMs: 100 });
  const results = await Promise.all(Array.from({ length: 5 }, () => cache.authenticate(DEMO.username, DEMO.password)));
  assert.ok(results.every((r) => r.ok));
  await cache.authenticate(DEMO.username, DEMO.password);
  assert.equal((await requests())['POST /token'], 1);
  const c = results[0]!.ok ? results[0]!.credential : undefined;
  assert.equal(c?.accountKey, `account:${DEMO.accountId}`);
});

test('a token close to expiry is refreshed with the refresh grant, not a new password login', async () => {
  const cache = new TokenCache({ client, refreshMarginMs: 1500 });
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
  const cache = new TokenCache({ client, refreshMarginMs: 100 });
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
  });
  assert.deepEqual(await down.authenticate(DEMO.username, DEMO.password).then((r) => !r.ok && r.reason), 'unavailable');
});

test('a personal access token is the bearer itself, checked once; a wrong one is invalid', async () => {
  const cache = new TokenCache({ client, refreshMarginMs: 100 });
  const ok = await cache.authenticate(DEMO.username, DEMO.pat);
  assert.ok(ok.ok);
  const bearer = await ok.credential.bearer();
  assert.ok(bearer.ok && bearer.value === DEMO.pat);
  assert.equal((await requests())['POST /token'] ?? 0, 0, 'no token call for a PAT');
  const bad = await cache.authenticate(DEMO.username, `ck_pat_${'0'.repeat(40)}`);
  assert.equal(!bad.ok && bad.reason, 'invalid');
});

test('sender directory: pages through the list, matches case-insensitively, confirmed senders only, cached', async () => {
  const credential = await login(new TokenCache({ client, refreshMarginMs: 100 }));
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
