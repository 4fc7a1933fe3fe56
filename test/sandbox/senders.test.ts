// GET /brands/default/senders: paging as the gateway walks it, and parameter validation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sender, SendersPage } from '../../src/cakemail/types.ts';
import { DEMO_PAT, DEMO_SENDER_ID, EXTRA_SENDER_COUNT } from '../../src/sandbox/seed.ts';
import { details, locs, useSandbox } from './helpers.ts';

const ctx = useSandbox();
const auth = { headers: { Authorization: `Bearer ${DEMO_PAT}` } };

async function page(query: string): Promise<Response> {
  return fetch(`${ctx.sb.url}/brands/default/senders${query}`, auth);
}

describe('GET /brands/default/senders', () => {
  it('needs more than one page at per_page=50; all pages together hold demo, noreply and pending', async () => {
    const all: Sender[] = [];
    const pages: SendersPage[] = [];
    for (let p = 1; p <= 10; p++) {
      const res = await page(`?page=${p}&per_page=50&with_count=true`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as SendersPage;
      pages.push(body);
      if (body.data.length === 0) break;
      all.push(...body.data);
    }
    assert.equal(pages.length, 3, 'two full-or-partial pages then an empty one');
    assert.deepEqual(pages[0]!.pagination, { page: 1, per_page: 50, count: EXTRA_SENDER_COUNT + 3 });
    assert.equal(pages[0]!.data.length, 50);
    assert.equal(pages[2]!.data.length, 0, 'page past the end is empty');
    assert.equal(all.length, EXTRA_SENDER_COUNT + 3);

    const byEmail = new Map(all.map((s) => [s.email, s]));
    assert.equal(byEmail.get('demo@example.com')?.confirmed, true);
    assert.equal(byEmail.get('demo@example.com')?.name, 'Demo Sender');
    assert.equal(byEmail.get('demo@example.com')?.id, DEMO_SENDER_ID);
    assert.equal(byEmail.get('noreply@example.com')?.confirmed, true);
    assert.equal(byEmail.get('noreply@example.com')?.name, 'No Reply');
    assert.equal(byEmail.get('pending@example.com')?.confirmed, false);
    for (const s of all) assert.equal(typeof s.id, 'string');

    const firstPage = new Set(pages[0]!.data.map((s) => s.email));
    assert.ok(
      !(firstPage.has('demo@example.com') && firstPage.has('noreply@example.com')),
      'paging must be needed to see both',
    );
  });

  it('count only with with_count; defaults page=1 per_page=50', async () => {
    const body = (await (await page('')).json()) as SendersPage;
    assert.deepEqual(body.pagination, { page: 1, per_page: 50 });
  });

  it('rejects per_page > 100, page < 1 and non-integers with 422', async () => {
    const big = await page('?per_page=101');
    assert.equal(big.status, 422);
    assert.deepEqual(locs(await details(big)), ['["query","per_page"]']);
    assert.equal((await page('?per_page=100')).status, 200);
    const zero = await page('?page=0&per_page=abc');
    assert.equal(zero.status, 422);
    assert.deepEqual(locs(await details(zero)).sort(), ['["query","page"]', '["query","per_page"]']);
  });

  it('needs a Bearer token', async () => {
    const res = await fetch(`${ctx.sb.url}/brands/default/senders`);
    assert.equal(res.status, 401);
    assert.equal((await details(res))[0]!.type, 'unauthorized');
  });

  it('GET /brands/default/senders/{id} returns one sender or 404', async () => {
    const ok = await fetch(`${ctx.sb.url}/brands/default/senders/${DEMO_SENDER_ID}`, auth);
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { data: Sender }).data.email, 'demo@example.com');
    assert.equal((await fetch(`${ctx.sb.url}/brands/default/senders/nope`, auth)).status, 404);
  });
});
