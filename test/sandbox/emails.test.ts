// POST /v2/emails: the SubmitEmail schema enforced as strictly as the real (pydantic) API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubmitEmailResponse } from '../../src/cakemail/types.ts';
import { NOREPLY_SENDER_ID, PENDING_SENDER_ID } from '../../src/sandbox/seed.ts';
import { startSandbox } from '../../src/sandbox/server.ts';
import { details, locs, submit, useSandbox, validEmail } from './helpers.ts';

const ctx = useSandbox();
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function expect422(body: unknown, expectedLocs: string[]): Promise<void> {
  const before = ctx.sb.emails().length;
  const res = await submit(ctx.sb.url, body);
  const items = await details(res);
  assert.equal(res.status, 422, JSON.stringify(items));
  assert.deepEqual(locs(items).sort(), [...expectedLocs].sort(), JSON.stringify(items));
  for (const d of items) {
    assert.equal(typeof d.msg, 'string');
    assert.equal(typeof d.type, 'string');
  }
  assert.equal(ctx.sb.emails().length, before, 'nothing stored on 422');
}

function withContent(patch: Record<string, unknown>, remove: string[] = []): Record<string, unknown> {
  const content: Record<string, unknown> = { ...(validEmail().content as Record<string, unknown>), ...patch };
  for (const k of remove) delete content[k];
  return validEmail({ content });
}

describe('POST /v2/emails accepts a valid payload', () => {
  it('201 queued with a uuid, stored exactly as received, listed newest first', async () => {
    const payload = validEmail();
    const res = await submit(ctx.sb.url, payload);
    assert.equal(res.status, 201);
    const body = (await res.json()) as SubmitEmailResponse;
    assert.deepEqual(Object.keys(body).sort(), ['data', 'email', 'object', 'submitted']);
    assert.equal(body.email, 'alice@example.org');
    assert.equal(body.object, 'email');
    assert.equal(body.submitted, true);
    assert.equal(body.data.status, 'queued');
    assert.match(body.data.id, UUID_V4);

    const second = (await (
      await submit(
        ctx.sb.url,
        validEmail({
          email: 'bob@example.org',
          sender: { id: NOREPLY_SENDER_ID },
          attachment: { filename: 'a.csv', type: 'csv', content: 'YSxiCg==' },
        }),
      )
    ).json()) as SubmitEmailResponse;
    const listed = (await (await fetch(`${ctx.sb.url}/_sandbox/emails`)).json()) as {
      id: string;
      payload: unknown;
      accountId: number;
      receivedAt: string;
    }[];
    assert.equal(listed[0]!.id, second.data.id, 'newest first');
    const first = listed.find((e) => e.id === body.data.id)!;
    assert.deepEqual(first.payload, payload);
    assert.equal(first.accountId, 1001);
    assert.ok(!Number.isNaN(Date.parse(first.receivedAt)));
    assert.equal(ctx.sb.emails()[0]!.id, second.data.id);

    const one = await fetch(`${ctx.sb.url}/_sandbox/emails/${body.data.id}`);
    assert.deepEqual(((await one.json()) as { payload: unknown }).payload, payload);
  });

  it('accepts the minimal payload and a template-free text-only message', async () => {
    const res = await submit(ctx.sb.url, {
      email: 'c@example.org',
      sender: { id: NOREPLY_SENDER_ID },
      content: { subject: 'x', type: 'marketing', text: 't' },
    });
    assert.equal(res.status, 201);
  });

  it('recipient on rejected.example → 201 with status rejected, not stored', async () => {
    const before = ctx.sb.emails().length;
    const res = await submit(ctx.sb.url, validEmail({ email: 'someone@rejected.example' }));
    assert.equal(res.status, 201);
    const body = (await res.json()) as SubmitEmailResponse;
    assert.equal(body.data.status, 'rejected');
    assert.match(body.data.id, UUID_V4);
    assert.equal(ctx.sb.emails().length, before);
  });
});

describe('POST /v2/emails schema violations → 422 with pydantic loc paths', () => {
  it('attachment filename with a space or an extra dot', async () => {
    await expect422(validEmail({ attachment: [{ filename: 'my file.jpg', type: 'jpeg', content: 'AAAA' }] }), [
      '["body","attachment",0,"filename"]',
    ]);
    await expect422(
      validEmail({
        attachment: [
          { filename: 'ok.pdf', type: 'pdf', content: 'AAAA' },
          { filename: 'a.b.pdf', type: 'pdf', content: 'AAAA' },
        ],
      }),
      ['["body","attachment",1,"filename"]'],
    );
    await expect422(validEmail({ attachment: { filename: 'photo.jpg', type: 'jpeg', content: 'AAAA' } }), [
      '["body","attachment","filename"]',
    ]);
  });

  it('missing content.type, with the exact pydantic item', async () => {
    const res = await submit(ctx.sb.url, withContent({}, ['type']));
    assert.equal(res.status, 422);
    assert.deepEqual(await res.json(), {
      detail: [{ loc: ['body', 'content', 'type'], msg: 'field required', type: 'value_error.missing' }],
    });
  });

  it('non-strict base64 (line breaks), bad attachment type, missing attachment fields', async () => {
    await expect422(validEmail({ attachment: [{ filename: 'r.pdf', type: 'pdf', content: 'JVBERi0x\nLjQK' }] }), [
      '["body","attachment",0,"content"]',
    ]);
    await expect422(validEmail({ attachment: [{ filename: 'r.pdf', type: 'pdf', content: 'JVBERi0' }] }), [
      '["body","attachment",0,"content"]',
    ]);
    await expect422(validEmail({ attachment: [{ filename: 'r.gif', type: 'gif', content: 'AAAA' }] }), [
      '["body","attachment",0,"filename"]',
      '["body","attachment",0,"type"]',
    ]);
    await expect422(validEmail({ attachment: [{ filename: 'r.pdf', content_type: 'application/pdf' }] }), [
      '["body","attachment",0,"type"]',
      '["body","attachment",0,"content"]',
      '["body","attachment",0,"content_type"]',
    ]);
  });

  it('bad tags', async () => {
    await expect422(validEmail({ tags: ['ok', 'has space', '', 'x'.repeat(256), 'é'] }), [
      '["body","tags",1]',
      '["body","tags",2]',
      '["body","tags",3]',
      '["body","tags",4]',
    ]);
    await expect422(validEmail({ tags: 'single' }), ['["body","tags"]']);
  });

  it('strict types: list_id as string, tracking as string, sender.id as number, null', async () => {
    await expect422(validEmail({ list_id: '1' }), ['["body","list_id"]']);
    await expect422(validEmail({ list_id: 0 }), ['["body","list_id"]']);
    await expect422(validEmail({ list_id: 1.5 }), ['["body","list_id"]']);
    await expect422(validEmail({ tracking: { opens: 'false' } }), ['["body","tracking","opens"]']);
    await expect422(validEmail({ sender: { id: 90001 } }), ['["body","sender","id"]']);
    await expect422(validEmail({ sender: { id: '' } }), ['["body","sender","id"]']);
    await expect422(validEmail({ sender: { id: '90001', name: '' } }), ['["body","sender","name"]']);
    await expect422(validEmail({ contact_id: null }), ['["body","contact_id"]']);
  });

  it('required fields and content rules; all violations reported at once', async () => {
    await expect422({}, ['["body","email"]', '["body","sender"]', '["body","content"]']);
    await expect422(validEmail({ email: 'not-an-address' }), ['["body","email"]']);
    await expect422(validEmail({ email: ['a@example.org'] }), ['["body","email"]']);
    await expect422(withContent({ subject: '', type: 'newsletter', html: '', encoding: 'utf8' }), [
      '["body","content","subject"]',
      '["body","content","type"]',
      '["body","content","html"]',
      '["body","content","encoding"]',
    ]);
    await expect422(withContent({}, ['html', 'text']), ['["body","content"]']);
    assert.equal(
      (await submit(ctx.sb.url, withContent({ encoding: 'iso-8859-1' }, ['text']))).status,
      201,
      'any spec Encoding is accepted',
    );
  });

  it('unknown fields are refused ("extra fields not permitted")', async () => {
    const res = await submit(ctx.sb.url, validEmail({ cc: ['x@example.org'], reply_to: 'y@example.org' }));
    assert.equal(res.status, 422);
    const items = await details(res);
    assert.deepEqual(locs(items).sort(), ['["body","cc"]', '["body","reply_to"]']);
    assert.ok(items.every((d) => d.type === 'value_error.extra' && d.msg === 'extra fields not permitted'));
    await expect422(withContent({ from: 'x' }), ['["body","content","from"]']);
  });

  it('additional_headers need name and value strings', async () => {
    await expect422(validEmail({ additional_headers: [{ name: 'X-A' }, { name: 'X-B', value: 3 }] }), [
      '["body","additional_headers",0,"value"]',
      '["body","additional_headers",1,"value"]',
    ]);
  });

  it('body must be JSON with a JSON content type', async () => {
    const notJson = await submit(ctx.sb.url, '{"email":', {});
    assert.equal(notJson.status, 422);
    assert.deepEqual(locs(await details(notJson)), ['["body"]']);
    const form = await submit(ctx.sb.url, 'email=a@example.org', { contentType: 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 422);
    const array = await submit(ctx.sb.url, [validEmail()]);
    assert.equal(array.status, 422);
  });
});

describe('POST /v2/emails business rules → 400', () => {
  it('unconfirmed sender', async () => {
    const res = await submit(ctx.sb.url, validEmail({ sender: { id: PENDING_SENDER_ID } }));
    assert.equal(res.status, 400);
    const [d] = await details(res);
    assert.equal(d!.type, 'bad_request');
    assert.equal(d!.msg, 'Sender is not confirmed');
  });

  it('unknown sender and unknown list', async () => {
    const sender = await submit(ctx.sb.url, validEmail({ sender: { id: 'nope' } }));
    assert.equal(sender.status, 400);
    assert.equal((await details(sender))[0]!.msg, 'Sender not found');
    const list = await submit(ctx.sb.url, validEmail({ list_id: 2 }));
    assert.equal(list.status, 400);
    assert.deepEqual(await details(list), [{ type: 'bad_request', msg: 'List not found', loc: ['body', 'list_id'] }]);
  });
});

describe('request size', () => {
  it('a body over the limit → 413 and nothing stored', async () => {
    const sb = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 10, maxBodyBytes: 2048 });
    try {
      const big = validEmail({ attachment: [{ filename: 'big.pdf', type: 'pdf', content: 'A'.repeat(4096) }] });
      const res = await submit(sb.url, big);
      assert.equal(res.status, 413);
      assert.equal((await details(res))[0]!.type, 'payload_too_large');
      assert.equal((await submit(sb.url, validEmail())).status, 201);
      assert.equal(sb.emails().length, 1);
    } finally {
      await sb.close();
    }
  });
});
