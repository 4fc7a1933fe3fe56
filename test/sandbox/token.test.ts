// POST /token contract: password grant, wrong credentials, MFA challenge, refresh rotation,
// validation, account selection; Bearer checks on the other endpoints.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { DEMO_ACCOUNT_ID, DEMO_PAT, MFA_PASSWORD, MFA_USERNAME } from '../../src/sandbox/seed.ts';
import { startSandbox } from '../../src/sandbox/server.ts';
import type { TokenResponse } from '../../src/cakemail/types.ts';
import { details, locs, passwordToken, submit, useSandbox, validEmail } from './helpers.ts';

const ctx = useSandbox();

function form(
  base: string,
  fields: Record<string, string>,
  contentType = 'application/x-www-form-urlencoded',
): Promise<Response> {
  return fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: new URLSearchParams(fields).toString(),
  });
}

describe('POST /token', () => {
  it('password grant returns a TokenResponse usable as Bearer', async () => {
    const res = await passwordToken(ctx.sb.url, { scopes: 'user' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as TokenResponse;
    assert.equal(body.token_type, 'bearer');
    assert.equal(body.expires_in, 432000);
    assert.deepEqual(body.accounts, [DEMO_ACCOUNT_ID]);
    assert.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'JWT-looking');
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
      iat: number;
      iss: string;
    };
    assert.equal(claims.iss, 'urn:cakemail');
    assert.equal(claims.exp - claims.iat, 432000);
    assert.ok(body.refresh_token.length >= 16);
    assert.notEqual(body.refresh_token, body.access_token);

    const send = await submit(ctx.sb.url, validEmail(), { token: body.access_token });
    assert.equal(send.status, 201);
  });

  it('wrong password answers 401 with a detail array', async () => {
    const res = await passwordToken(ctx.sb.url, { password: 'nope' });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { detail: [{ type: 'unauthorized', msg: 'Invalid credentials' }] });
    const unknownUser = await passwordToken(ctx.sb.url, { username: 'nobody@example.com' });
    assert.equal(unknownUser.status, 401);
  });

  it('an MFA user gets 200 with a challenge and no tokens', async () => {
    const res = await form(ctx.sb.url, { username: MFA_USERNAME, password: MFA_PASSWORD });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['challenge']);
    assert.match(String(body.challenge), /^[0-9a-f]{32}$/);
  });

  it('refresh grant issues new tokens and rotates the refresh token', async () => {
    const first = (await (await passwordToken(ctx.sb.url)).json()) as TokenResponse;
    const res = await form(ctx.sb.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    assert.equal(res.status, 200);
    const second = (await res.json()) as TokenResponse;
    assert.notEqual(second.access_token, first.access_token);
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.deepEqual(second.accounts, [DEMO_ACCOUNT_ID]);
    assert.equal((await submit(ctx.sb.url, validEmail(), { token: second.access_token })).status, 201);

    const reuse = await form(ctx.sb.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    assert.equal(reuse.status, 401, 'a used refresh token is invalid');
    assert.equal((await details(reuse))[0]!.type, 'unauthorized');
    const bogus = await form(ctx.sb.url, { grant_type: 'refresh_token', refresh_token: 'bogus' });
    assert.equal(bogus.status, 401);
    // A refresh token is not a Bearer token.
    assert.equal((await submit(ctx.sb.url, validEmail(), { token: second.refresh_token })).status, 401);
  });

  it('validates the form: content type, scopes, expiration_seconds, grant_type, missing fields', async () => {
    const json = await fetch(`${ctx.sb.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"username":"demo@example.com"}',
    });
    assert.equal(json.status, 422);
    assert.deepEqual(locs(await details(json)), ['["body"]']);

    const bad = await form(ctx.sb.url, {
      username: 'demo@example.com',
      password: 'demo-password',
      scopes: 'user,root',
      expiration_seconds: '599',
    });
    assert.equal(bad.status, 422);
    assert.deepEqual(locs(await details(bad)).sort(), ['["body","expiration_seconds"]', '["body","scopes"]']);

    const grant = await form(ctx.sb.url, { grant_type: 'client_credentials' });
    assert.equal(grant.status, 422);
    assert.deepEqual(locs(await details(grant)), ['["body","grant_type"]']);

    const missing = await form(ctx.sb.url, {});
    assert.equal(missing.status, 422);
    assert.deepEqual(locs(await details(missing)).sort(), ['["body","password"]', '["body","username"]']);

    const noRefresh = await form(ctx.sb.url, { grant_type: 'refresh_token' });
    assert.deepEqual(locs(await details(noRefresh)), ['["body","refresh_token"]']);
  });

  it('honours expiration_seconds and checks account_id against the user accounts', async () => {
    const short = (await (
      await passwordToken(ctx.sb.url, { expiration_seconds: '600', account_id: String(DEMO_ACCOUNT_ID) })
    ).json()) as TokenResponse;
    assert.equal(short.expires_in, 600);
    const denied = await passwordToken(ctx.sb.url, { account_id: '999' });
    assert.equal(denied.status, 400);
    const [d] = await details(denied);
    assert.equal(d!.code, 8004);
    const notInt = await passwordToken(ctx.sb.url, { account_id: 'abc' });
    assert.equal(notInt.status, 422);
  });
});

describe('Bearer authentication', () => {
  it('the seeded PAT works and has the documented format', async () => {
    assert.match(DEMO_PAT, /^ck_pat_[0-9a-f]{40}$/);
    const res = await fetch(`${ctx.sb.url}/brands/default/senders`, {
      headers: { Authorization: `Bearer ${DEMO_PAT}` },
    });
    assert.equal(res.status, 200);
  });

  it('unknown or missing token on /v2/emails → 401 detail array, nothing stored', async () => {
    const before = ctx.sb.emails().length;
    const unknown = await submit(ctx.sb.url, validEmail(), {
      token: 'ck_pat_0000000000000000000000000000000000000000',
    });
    assert.equal(unknown.status, 401);
    assert.equal((await details(unknown))[0]!.type, 'unauthorized');
    const none = await fetch(`${ctx.sb.url}/v2/emails`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(validEmail()),
    });
    assert.equal(none.status, 401);
    assert.equal((await details(none))[0]!.type, 'unauthorized');
    assert.equal(ctx.sb.emails().length, before);
  });

  it('account_id query: allowed, forbidden (400/8004), not an integer (422)', async () => {
    assert.equal((await submit(ctx.sb.url, validEmail(), { query: `?account_id=${DEMO_ACCOUNT_ID}` })).status, 201);
    const other = await submit(ctx.sb.url, validEmail(), { query: '?account_id=1002' });
    assert.equal(other.status, 400);
    assert.equal((await details(other))[0]!.code, 8004);
    const junk = await submit(ctx.sb.url, validEmail(), { query: '?account_id=x1' });
    assert.equal(junk.status, 422);
    assert.deepEqual(locs(await details(junk)), ['["query","account_id"]']);
    const zero = await submit(ctx.sb.url, validEmail(), { query: '?account_id=0' });
    assert.equal(zero.status, 422);
  });

  it('access tokens expire after tokenTtlSeconds', async () => {
    const sb = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 10, tokenTtlSeconds: 1 });
    try {
      const tok = (await (await passwordToken(sb.url)).json()) as TokenResponse;
      assert.equal(tok.expires_in, 1);
      assert.equal((await submit(sb.url, validEmail(), { token: tok.access_token })).status, 201);
      await new Promise((r) => setTimeout(r, 1100));
      const late = await submit(sb.url, validEmail(), { token: tok.access_token });
      assert.equal(late.status, 401);
      assert.equal(sb.emails().length, 1);
    } finally {
      await sb.close();
    }
  });
});

describe('logging', () => {
  it('one debug line per request with method, path and status; no secrets', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const sb = await startSandbox({
      host: '127.0.0.1',
      port: 0,
      maxEmails: 10,
      logger: pino({ level: 'debug' }, sink),
    });
    try {
      const tok = (await (await passwordToken(sb.url)).json()) as TokenResponse;
      await submit(sb.url, validEmail(), { token: tok.access_token });
      const requestLines = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'sandbox request');
      assert.deepEqual(
        requestLines.map((l) => [l.method, l.path, l.status]),
        [
          ['POST', '/token', 200],
          ['POST', '/v2/emails', 201],
        ],
      );
      const all = lines.join('');
      for (const secret of ['demo-password', tok.access_token, tok.refresh_token, 'alice@example.org'])
        assert.ok(!all.includes(secret), `leaked ${secret.slice(0, 12)}`);
    } finally {
      await sb.close();
    }
  });
});
