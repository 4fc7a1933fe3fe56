// The POST /v2/emails body is serialised once per message: the recipients' bodies must be
// exactly the UTF-8 of what JSON.stringify would send, and the shared content must be serialised once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attachEncoded, EmailSerializer } from '../../src/cakemail/serialize.ts';
import type { SubmitEmail } from '../../src/cakemail/types.ts';

const base: Omit<SubmitEmail, 'email'> = {
  list_id: 1,
  sender: { id: '7', name: 'Shop "Ünïcode" \u2028' },
  content: {
    subject: 'Héllo\u0000?',
    type: 'transactional',
    encoding: 'utf-8',
    html: '<p>é 🎉 </script></p>',
    text: 'line\r\nline',
  },
  tags: ['a', 'b'],
  tracking: { opens: true },
  additional_headers: [{ name: 'Message-ID', value: '<x@y>' }],
  attachment: [{ filename: 'a.pdf', type: 'pdf', content: 'AAAA' }],
};

describe('EmailSerializer', () => {
  test('is byte for byte JSON.stringify, for every recipient, with and without optional fields', () => {
    const s = new EmailSerializer();
    for (const r of ['a@example.org', 'b"quote@example.org']) {
      const email: SubmitEmail = { email: r, ...base };
      assert.equal(s.serialize(email).toString(), JSON.stringify(email));
    }
    const minimal = {
      email: 'c@example.org',
      sender: { id: '1' },
      content: { subject: 's', type: 'marketing' as const, text: 't' },
      tags: undefined,
    };
    assert.equal(s.serialize(minimal).toString(), JSON.stringify(minimal));
  });

  test('a tag added for one recipient is in that body only', () => {
    const s = new EmailSerializer();
    const tagged: SubmitEmail = { email: 'a@example.org', ...base, tags: [...(base.tags ?? []), 'recon-1'] };
    const plain: SubmitEmail = { email: 'b@example.org', ...base };
    assert.equal(s.serialize(tagged).toString(), JSON.stringify(tagged));
    assert.equal(s.serialize(plain).toString(), JSON.stringify(plain));
  });

  test('the shared content is serialised once for all recipients of a message', () => {
    let calls = 0;
    const content = {
      ...base.content,
      toJSON() {
        calls++;
        // Drops the method from the copy; it is never called unbound.
        // eslint-disable-next-line @typescript-eslint/unbound-method
        const { toJSON: _, ...rest } = this;
        return rest;
      },
    };
    const s = new EmailSerializer();
    for (let i = 0; i < 5; i++) s.serialize({ email: `r${i}@example.org`, ...base, content } as SubmitEmail);
    assert.equal(calls, 1);
  });

  test("JSON made in advance for a body (the parse worker's) is used while the body is unchanged, and the bytes are still exactly JSON.stringify", () => {
    const html = '<p>é 🎉 "q" \u2028</p>';
    const content = { ...base.content, html };
    // Marked so that using it shows: the test must see the pre-made bytes go out.
    attachEncoded(content, { html: { value: html, json: Buffer.from(JSON.stringify(html)) } });
    const email = { email: 'a@example.org', ...base, content } as SubmitEmail;
    assert.equal(new EmailSerializer().serialize(email).toString(), JSON.stringify(email));

    const marked = { ...base.content, html };
    attachEncoded(marked, { html: { value: html, json: Buffer.from('"PRE"') } });
    const out = new EmailSerializer()
      .serialize({ email: 'a@example.org', ...base, content: marked } as SubmitEmail)
      .toString();
    assert.match(out, /"html":"PRE"/);
    assert.deepEqual(Object.keys(marked), Object.keys(base.content), 'the pre-made JSON is not an own enumerable key');
  });

  test('JSON made in advance for a value the field no longer holds is ignored', () => {
    const content = { ...base.content, html: '<p>changed</p>' };
    attachEncoded(content, { html: { value: '<p>original</p>', json: Buffer.from('"STALE"') } });
    const email = { email: 'a@example.org', ...base, content } as SubmitEmail;
    assert.equal(new EmailSerializer().serialize(email).toString(), JSON.stringify(email));
  });
});
