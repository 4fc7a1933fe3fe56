// buildMessage / forRecipient: the mapping rules of docs/message-mapping.md.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Controls } from '../../src/delivery/controls.ts';
import {
  buildMessage,
  EMPTY_BODY,
  EMPTY_SUBJECT,
  forRecipient,
  type PayloadInput,
  type PayloadPolicy,
} from '../../src/delivery/payload.ts';
import type { HeaderField, ParsedMessage } from '../../src/mime/types.ts';

const POLICY: PayloadPolicy = {
  attachmentPolicy: 'reject',
  maxAttachmentBytes: 1024,
  maxTotalAttachmentBytes: 2048,
  serverName: 'gw.example.com',
  defaultEmailType: 'transactional',
  defaultListId: 9,
};
const h = (name: string, value: string): HeaderField => ({ name, value });

function message(over: Partial<ParsedMessage> = {}): ParsedMessage {
  return {
    from: [{ name: 'A', address: 'a@example.com' }],
    fromHeaderCount: 1,
    senderHeaderCount: 0,
    to: [],
    cc: [],
    subject: 'Hello',
    text: 'body',
    html: null,
    headers: [],
    attachments: [],
    ...over,
  };
}

function build(
  over: Partial<ParsedMessage> = {},
  controls: Controls = { tags: [] },
  input: Partial<PayloadInput> = {},
  policy = POLICY,
) {
  const r = buildMessage(
    {
      message: message(over),
      controls,
      sender: { id: 's1' },
      envelopeFrom: 'bounce@example.com',
      newId: () => 'uuid-1',
      ...input,
    },
    policy,
  );
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.refusal));
  return r.built;
}

describe('buildMessage', () => {
  test('defaults: list, type, encoding, sender, generated Message-ID, envelope header', () => {
    const b = build();
    assert.deepEqual(b.base, {
      list_id: 9,
      sender: { id: 's1' },
      content: { subject: 'Hello', type: 'transactional', encoding: 'utf-8', text: 'body' },
      additional_headers: [
        { name: 'Message-ID', value: '<uuid-1@gw.example.com>' },
        { name: 'X-Sender-Envelope-From', value: 'bounce@example.com' },
      ],
    });
    assert.equal(b.messageId, '<uuid-1@gw.example.com>');
    assert.deepEqual(b.dropped, []);
  });

  test('controls override list and type; tags and tracking are copied', () => {
    const b = build({}, { listId: 3, emailType: 'marketing', tags: ['a'], tracking: { opens: false } });
    assert.equal(b.base.list_id, 3);
    assert.equal(b.base.content.type, 'marketing');
    assert.deepEqual(b.base.tags, ['a']);
    assert.deepEqual(b.base.tracking, { opens: false });
  });

  test('sender name is cleaned and omitted when empty', () => {
    assert.deepEqual(build({}, undefined, { sender: { id: 's1', name: 'Eve\r\nBcc: x@evil.example' } }).base.sender, {
      id: 's1',
      name: 'Eve Bcc: x@evil.example',
    });
    assert.deepEqual(build({}, undefined, { sender: { id: 's1', name: ' \r\n ' } }).base.sender, { id: 's1' });
  });

  test('empty subject and empty body get the documented fallbacks', () => {
    const b = build({ subject: '', text: null, html: null });
    assert.equal(b.base.content.subject, EMPTY_SUBJECT);
    assert.equal(b.base.content.text, EMPTY_BODY);
    assert.equal(b.base.content.html, undefined);
  });

  test('html and text both kept; NUL removed from bodies; no CR/LF in the subject', () => {
    const b = build({ subject: 'hi\r\nBcc: victim@evil.example', text: 'a\0b', html: '<p>x</p>' });
    assert.equal(b.base.content.subject, 'hi Bcc: victim@evil.example');
    assert.equal(b.base.content.text, 'ab');
    assert.equal(b.base.content.html, '<p>x</p>');
  });

  test('header allowlist: forwarded, consumed, dropped', () => {
    const headers = [
      h('Received', 'from x'),
      h('Return-Path', '<a@x>'),
      h('DKIM-Signature', 'v=1'),
      h('From', 'a@example.com'),
      h('Sender', 'a@example.com'),
      h('To', 'b@example.net'),
      h('Cc', 'c@example.net'),
      h('Bcc', 'hidden@example.org'),
      h('Subject', 'Hello'),
      h('Date', 'Wed, 25 Nov 2026 12:00:00 +0000'),
      h('MIME-Version', '1.0'),
      h('Content-Type', 'text/plain'),
      h('Message-ID', '<m1@example.com>'),
      h('Message-ID', '<m2@example.com>'),
      h('In-Reply-To', '<p@x>'),
      h('References', '<r@x> <p@x>'),
      h('List-Unsubscribe', '<https://x/u>'),
      h('List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'),
      h('X-App', 'shop'),
      h('X-App', 'second'),
      h('X-List-Id', '3'),
      h('X-SMTPAPI', '{}'),
      h('X-Mailgun-Variables', '{"u":1}'),
      h('X-Spam-Status', 'No'),
      h('X-Sender-Envelope-From', 'spoof@x'),
      h('X-Empty', ''),
      h('Thread-Index', 'abc'),
    ];
    const b = build({ headers }, { tags: [], listId: 3 });
    assert.deepEqual(b.base.additional_headers, [
      { name: 'Message-ID', value: '<m1@example.com>' },
      { name: 'In-Reply-To', value: '<p@x>' },
      { name: 'References', value: '<r@x> <p@x>' },
      { name: 'List-Unsubscribe', value: '<https://x/u>' },
      { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' },
      { name: 'X-App', value: 'shop' },
      { name: 'X-App', value: 'second' },
      { name: 'X-Sender-Envelope-From', value: 'bounce@example.com' },
    ]);
    assert.equal(b.messageId, '<m1@example.com>');
  });

  test('a malformed Message-ID is replaced by a generated one', () => {
    const b = build({ headers: [h('Message-ID', 'not-an-id')] });
    assert.equal(b.messageId, '<uuid-1@gw.example.com>');
  });

  test('Reply-To is rebuilt from the parsed mailboxes so a decoded comma cannot split it', () => {
    const b = build({
      headers: [h('Reply-To', 'Doe, John <j@example.com>')],
      replyTo: [{ name: 'Doe, John', address: 'j@example.com' }],
    });
    assert.deepEqual(b.base.additional_headers?.[0], { name: 'Reply-To', value: '"Doe, John" <j@example.com>' });
  });

  test('header values never carry CR, LF or NUL even from a hand-built message', () => {
    const b = build({ headers: [h('X-Foo', 'a\r\nBcc: v@evil.example'), h('X-Bar', 'x\0y')] });
    for (const { value } of b.base.additional_headers ?? []) assert.doesNotMatch(value, /[\r\n\0]/);
  });

  test('attachment refusals and size limits come back as refusals', () => {
    const att = (filename: string, contentType: string, n: number) => ({
      filename,
      contentType,
      disposition: 'attachment' as const,
      contentId: null,
      content: new Uint8Array(n),
    });
    const refuse = (attachments: ReturnType<typeof att>[], policy = POLICY) =>
      buildMessage(
        { message: message({ attachments }), controls: { tags: [] }, sender: { id: 's' }, envelopeFrom: '' },
        policy,
      );
    assert.equal(
      (refuse([att('x.exe', 'application/x-msdownload', 1)]) as { refusal: { kind: string } }).refusal.kind,
      'attachment_refused',
    );
    assert.deepEqual((refuse([att('big.pdf', 'application/pdf', 2000)]) as { refusal: unknown }).refusal, {
      kind: 'too_large',
      reason: 'attachment "big.pdf" is 2.0 KiB, limit 1 KiB',
    });
    const dropped = refuse([att('x.exe', 'application/x-msdownload', 1), att('a.pdf', 'application/pdf', 4)], {
      ...POLICY,
      attachmentPolicy: 'drop',
    });
    assert.ok(dropped.ok);
    assert.equal(dropped.built.dropped.length, 1);
    assert.deepEqual(dropped.built.base.attachment, [{ filename: 'a.pdf', type: 'pdf', content: 'AAAAAA==' }]);
  });
});

describe('forRecipient', () => {
  test('adds only the envelope recipient, never mutates the base, no To/Cc/Bcc anywhere', () => {
    const built = build({
      to: [{ name: '', address: 'to@example.net' }],
      cc: [{ name: '', address: 'cc@example.net' }],
      headers: [h('Bcc', 'hidden@example.org')],
    });
    const snapshot = JSON.stringify(built.base);
    const a = forRecipient(built, 'r1@example.net');
    const b = forRecipient(built, 'r2@example.net');
    assert.equal(a.email, 'r1@example.net');
    assert.equal(b.email, 'r2@example.net');
    assert.notEqual(a, b);
    assert.equal(JSON.stringify(built.base), snapshot);
    assert.equal('email' in built.base, false);
    const json = JSON.stringify(a);
    for (const hidden of ['hidden@example.org', 'to@example.net', 'cc@example.net'])
      assert.equal(json.includes(hidden), false, hidden);
  });
});
