// The web inbox (escaping, sandboxed iframe, CSP, responsive), the admin endpoints (attachments,
// clearing) and the request counters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubmitEmailResponse } from '../../src/cakemail/types.ts';
import { DEMO_PAT } from '../../src/sandbox/seed.ts';
import { passwordToken, submit, useSandbox, validEmail } from './helpers.ts';

const ctx = useSandbox();

const hostile = validEmail({
  content: {
    type: 'transactional',
    subject: '<script>alert(1)</script>',
    html: '<p onclick="x">hi</p><script>alert("srcdoc")</script>"quote\'',
    text: '</pre><script>alert(2)</script>',
  },
  tags: ['evil-tag'],
  additional_headers: [{ name: 'X-<b>', value: '<img src=x onerror=alert(3)>' }],
  attachment: [{ filename: 'report.pdf', type: 'pdf', content: Buffer.from('%PDF-1.4 hello').toString('base64') }],
});

async function sendHostile(): Promise<string> {
  const res = await submit(ctx.sb.url, hostile);
  assert.equal(res.status, 201);
  return ((await res.json()) as SubmitEmailResponse).data.id;
}

describe('web inbox', () => {
  it('lists emails newest first, escaped, with a strict CSP and a viewport', async () => {
    await submit(ctx.sb.url, validEmail({ content: { type: 'transactional', subject: 'older one', text: 'x' } }));
    const id = await sendHostile();
    const res = await fetch(`${ctx.sb.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src/);
    const html = await res.text();
    assert.ok(!html.includes('<script>'), 'no live script tag');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.match(html, /<meta name="viewport"/);
    assert.ok(html.includes(`/emails/${id}`));
    assert.ok(html.indexOf(`/emails/${id}`) < html.indexOf('older one'), 'newest first');
    assert.ok(html.includes('demo@example.com') && html.includes('demo-password'), 'seeded credentials shown');
    assert.ok(html.includes('evil-tag'));
    assert.ok(html.includes('href="/_sandbox/emails"'), 'link to JSON');
  });

  it('detail page: sandboxed iframe without allow-scripts, escaped srcdoc, text and JSON escaped', async () => {
    const id = await sendHostile();
    const res = await fetch(`${ctx.sb.url}/emails/${id}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy')!, /default-src 'none'/);
    const html = await res.text();
    assert.ok(!/<script/i.test(html), 'no script tag anywhere');
    assert.ok(!/<img/i.test(html), 'header value escaped');
    const iframe = /<iframe[^>]*>/.exec(html)?.[0];
    assert.ok(iframe, 'has an iframe');
    assert.match(iframe, /\ssandbox=""/);
    assert.doesNotMatch(iframe, /allow-/);
    assert.ok(
      iframe.includes(
        'srcdoc="&lt;p onclick=&quot;x&quot;&gt;hi&lt;/p&gt;&lt;script&gt;alert(&quot;srcdoc&quot;)&lt;/script&gt;&quot;quote&#39;"',
      ),
    );
    assert.ok(html.includes('&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;'));
    assert.ok(html.includes(`/_sandbox/emails/${id}/attachments/0`));
    assert.ok(
      html.includes('&quot;subject&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;'),
      'pretty JSON, escaped',
    );
    assert.equal((await fetch(`${ctx.sb.url}/emails/00000000-0000-4000-8000-000000000000`)).status, 404);
  });

  it('attachment download: decoded bytes, safe headers', async () => {
    const id = await sendHostile();
    const res = await fetch(`${ctx.sb.url}/_sandbox/emails/${id}/attachments/0`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/pdf');
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="report.pdf"');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(Buffer.from(await res.arrayBuffer()).toString(), '%PDF-1.4 hello');
    assert.equal((await fetch(`${ctx.sb.url}/_sandbox/emails/${id}/attachments/1`)).status, 404);
  });
});

describe('admin endpoints', () => {
  it('DELETE /_sandbox/emails clears the store', async () => {
    await sendHostile();
    assert.ok(ctx.sb.emails().length > 0);
    assert.equal((await fetch(`${ctx.sb.url}/_sandbox/emails`, { method: 'DELETE' })).status, 204);
    assert.equal(ctx.sb.emails().length, 0);
    assert.deepEqual(await (await fetch(`${ctx.sb.url}/_sandbox/emails`)).json(), []);
  });

  it('request counters count API calls by method and path, and reset', async () => {
    assert.equal((await fetch(`${ctx.sb.url}/_sandbox/requests`, { method: 'DELETE' })).status, 204);
    assert.deepEqual(await (await fetch(`${ctx.sb.url}/_sandbox/requests`)).json(), {});
    await passwordToken(ctx.sb.url);
    await submit(ctx.sb.url, validEmail());
    await submit(ctx.sb.url, validEmail({ list_id: 'x' }));
    await fetch(`${ctx.sb.url}/brands/default/senders?page=2`, { headers: { Authorization: `Bearer ${DEMO_PAT}` } });
    await fetch(`${ctx.sb.url}/`);
    await fetch(`${ctx.sb.url}/_sandbox/emails`);
    assert.deepEqual(await (await fetch(`${ctx.sb.url}/_sandbox/requests`)).json(), {
      'POST /token': 1,
      'POST /v2/emails': 2,
      'GET /brands/default/senders': 1,
    });
  });

  it('the store is bounded by maxEmails (oldest dropped)', async () => {
    const { startSandbox } = await import('../../src/sandbox/server.ts');
    const sb = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 2 });
    try {
      for (const who of ['a', 'b', 'c'])
        assert.equal((await submit(sb.url, validEmail({ email: `${who}@example.org` }))).status, 201);
      assert.deepEqual(
        sb.emails().map((e) => e.payload.email),
        ['c@example.org', 'b@example.org'],
      );
    } finally {
      await sb.close();
    }
  });

  it('unknown API paths answer FastAPI-style 404', async () => {
    const res = await fetch(`${ctx.sb.url}/v1/emails`, { method: 'POST' });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { detail: 'Not Found' });
  });
});
