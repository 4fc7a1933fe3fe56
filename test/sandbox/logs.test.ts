// GET /v2/logs/emails: the entries of accepted emails, filtered by tag, time and type, with the
// API's validation of every query parameter and its bearer/account rules.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { DEMO_PAT } from '../../src/sandbox/seed.ts';
import { details, locs, submit, useSandbox, validEmail } from './helpers.ts';

const ctx = useSandbox();

beforeEach(async () => {
  await fetch(`${ctx.sb.url}/_sandbox/emails`, { method: 'DELETE' });
});

function logs(query: string, token: string | null = DEMO_PAT): Promise<Response> {
  return fetch(`${ctx.sb.url}/v2/logs/emails?${query}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

describe('GET /v2/logs/emails', () => {
  it('lists submitted and queued entries of an accepted email, filtered by a tag', async () => {
    const res = await submit(ctx.sb.url, validEmail({ email: 'bob@example.org', tags: ['gw-abc', 'receipt'] }));
    const id = ((await res.json()) as { data: { id: string } }).data.id;
    await submit(ctx.sb.url, validEmail({ email: 'other@example.org', tags: ['gw-other'] }));
    const page = (await (await logs(`tags=${encodeURIComponent('["gw-abc"]')}`)).json()) as {
      pagination: unknown;
      data: Record<string, unknown>[];
    };
    assert.deepEqual(page.pagination, { page: 1, per_page: 50 });
    assert.deepEqual(
      page.data.map((e) => [e.email_id, e.email, e.type]),
      [
        [id, 'bob@example.org', 'submitted'],
        [id, 'bob@example.org', 'queued'],
      ],
    );
    assert.equal(typeof page.data[0]!.time, 'number');
    const one = (await (await logs(`tags=${encodeURIComponent('"gw-abc"')}&log_type=queued`)).json()) as {
      data: unknown[];
    };
    assert.equal(one.data.length, 1, 'a JSON string is one tag; log_type filters');
  });

  it('time range in Unix seconds; rejected emails were never accepted and have no entries', async () => {
    await submit(ctx.sb.url, validEmail({ tags: ['gw-t'] }));
    await submit(ctx.sb.url, validEmail({ email: 'x@rejected.example', tags: ['gw-t'] }));
    const now = Math.floor(Date.now() / 1000);
    const tag = encodeURIComponent('["gw-t"]');
    assert.equal(
      ((await (await logs(`tags=${tag}&start_time=${now - 60}&end_time=${now + 60}`)).json()) as { data: unknown[] })
        .data.length,
      2,
    );
    assert.equal(
      ((await (await logs(`tags=${tag}&start_time=${now + 60}`)).json()) as { data: unknown[] }).data.length,
      0,
    );
    assert.equal(
      ((await (await logs(`tags=${tag}&end_time=${now - 60}`)).json()) as { data: unknown[] }).data.length,
      0,
    );
  });

  it('validates every parameter (422 listing each problem) and ignores unknown ones', async () => {
    const res = await logs(
      'tags=not-json&log_type=sent&per_page=101&page=0&start_time=abc&email_id=nope&sort=subject&with_count=maybe&unknown=1',
    );
    assert.equal(res.status, 422);
    assert.deepEqual(locs(await details(res)).sort(), [
      '["query","email_id"]',
      '["query","log_type"]',
      '["query","page"]',
      '["query","per_page"]',
      '["query","sort"]',
      '["query","start_time"]',
      '["query","tags"]',
      '["query","with_count"]',
    ]);
    const shape = await logs(`tags=${encodeURIComponent('{"and":["a"]}')}`);
    assert.equal(shape.status, 422, 'a filter shape the sandbox cannot honour is refused, not ignored');
  });

  it('needs a bearer; another account sees nothing of this one', async () => {
    assert.equal((await logs('')).status, 200);
    assert.equal((await logs('', null)).status, 401);
    assert.equal((await logs('account_id=999')).status, 400);
    assert.equal(
      (
        await fetch(`${ctx.sb.url}/v2/logs/emails`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${DEMO_PAT}` },
        })
      ).status,
      405,
    );
  });
});
