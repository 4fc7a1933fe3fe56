import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reduceRecipients, type RecipientResult } from '../../src/delivery/outcome.ts';
import { clean, outcomeReply, refusalReply, tempFailureReply } from '../../src/delivery/replies.ts';

test('accepted names the Cakemail id with 250 2.0.0', () => {
  const r = outcomeReply({ kind: 'accepted', id: 'abc-123', recipients: 1, duplicate: false, skipped: 0 });
  assert.deepEqual([r.code, r.enhanced, r.label], [250, '2.0.0', 'accepted']);
  assert.match(r.text, /queued as abc-123/);
});

test('permanent refusals are 5xx with the reason, temporary failures 451 with their enhanced code', () => {
  const cases: [ReturnType<typeof outcomeReply>, number, string][] = [
    [refusalReply({ kind: 'sender_not_allowed', address: 'x@y.example' }), 550, '5.7.1'],
    [refusalReply({ kind: 'content_invalid', reason: 'duplicate From header' }), 554, '5.6.0'],
    [refusalReply({ kind: 'attachment_refused', reason: 'a.exe' }), 554, '5.6.1'],
    [refusalReply({ kind: 'too_large', reason: 'big' }), 552, '5.3.4'],
    [
      outcomeReply({ kind: 'api_refused', apiKind: 'api_invalid', reason: 'content.subject: field required' }),
      554,
      '5.6.0',
    ],
    [outcomeReply({ kind: 'api_refused', apiKind: 'api_rejected', reason: 'rejected' }), 550, '5.7.1'],
    [tempFailureReply({ kind: 'api_unavailable', reason: 'HTTP 503' }), 451, '4.4.1'],
    [tempFailureReply({ kind: 'api_timeout', reason: 't' }), 451, '4.4.2'],
    [tempFailureReply({ kind: 'api_dns', reason: 'ENOTFOUND' }), 451, '4.4.3'],
    [tempFailureReply({ kind: 'api_rate_limited', reason: '429', retryAfterS: 2 }), 451, '4.4.5'],
    [tempFailureReply({ kind: 'api_auth', reason: '401' }), 451, '4.3.5'],
    [tempFailureReply({ kind: 'parse_timeout', reason: 'deadline' }), 451, '4.3.0'],
    [tempFailureReply({ kind: 'circuit_open', reason: 'open', retryInS: 17 }), 451, '4.4.1'],
    [tempFailureReply({ kind: 'in_progress', reason: 'claimed' }), 451, '4.3.0'],
  ];
  for (const [reply, code, enhanced] of cases)
    assert.deepEqual([reply.code, reply.enhanced], [code, enhanced], reply.label);
  assert.match(cases[0]![0].text, /<x@y\.example>/);
  assert.match(cases[4]![0].text, /content\.subject: field required/);
  assert.match(cases[9]![0].text, /retry after 2 s/);
  assert.match(cases[12]![0].text, /next try in 17 s/);
  assert.match(cases[13]![0].text, /being delivered in another session/);
});

test('a 250 says when recipients were skipped as already accepted', () => {
  const all = outcomeReply({ kind: 'accepted', id: 'x', recipients: 2, duplicate: true, skipped: 2 });
  assert.deepEqual([all.code, all.label], [250, 'duplicate']);
  assert.match(all.text, /already accepted earlier, not sent again/);
  const some = outcomeReply({ kind: 'accepted', id: 'gw', recipients: 3, duplicate: false, skipped: 1 });
  assert.equal(some.text, 'Ok: queued as gw; 1 of 3 recipients already accepted earlier, not sent again');
});

test('API text is cleaned of control characters before it reaches a reply line', () => {
  const r = outcomeReply({ kind: 'api_refused', apiKind: 'api_invalid', reason: 'bad\r\n250 2.0.0 fake\u0000' });
  assert.ok(!/[\r\n\u0000]/.test(r.text));
  assert.equal(clean('a'.repeat(400)).length, 300);
});

const q = (recipient: string, id: string, duplicate = false): RecipientResult => ({
  recipient,
  status: 'queued',
  id,
  duplicate,
});

test('reduction: all queued → 250 with the Cakemail id for one recipient, the gateway id for several', () => {
  assert.deepEqual(reduceRecipients([q('a@x', 'id-a')], 'gw'), {
    kind: 'accepted',
    id: 'id-a',
    recipients: 1,
    duplicate: false,
    skipped: 0,
  });
  assert.deepEqual(reduceRecipients([q('a@x', 'id-a'), q('b@x', 'id-b')], 'gw'), {
    kind: 'accepted',
    id: 'gw',
    recipients: 2,
    duplicate: false,
    skipped: 0,
  });
  assert.equal(reduceRecipients([q('a@x', 'id-a', true)], 'gw').kind, 'accepted');
});

test('reduction: any transient failure → 451; some refused → 250 with the count; all refused → the API reason', () => {
  const refused: RecipientResult = {
    recipient: 'b@x',
    status: 'refused',
    kind: 'api_invalid',
    reason: 'email: not valid',
  };
  const failed: RecipientResult = {
    recipient: 'c@x',
    status: 'failed',
    failure: { kind: 'api_unavailable', reason: 'HTTP 503' },
  };
  assert.deepEqual(reduceRecipients([q('a@x', 'id-a'), refused, failed], 'gw'), {
    kind: 'temp_failure',
    failure: failed.failure,
  });
  const partial = reduceRecipients([q('a@x', 'id-a'), refused], 'gw');
  assert.deepEqual(partial, { kind: 'accepted_partial', id: 'gw', recipients: 2, refused: 1 });
  assert.match(outcomeReply(partial).text, /1 of 2 recipients refused/);
  assert.deepEqual(reduceRecipients([refused], 'gw'), {
    kind: 'api_refused',
    reason: 'email: not valid',
    apiKind: 'api_invalid',
  });
});

test('test mode is a 250 that says the message was not sent, with its id', () => {
  const r = outcomeReply({ kind: 'test_mode', id: 'abc', duplicate: false });
  assert.deepEqual(
    [r.code, r.enhanced, r.label, r.text],
    [250, '2.0.0', 'test_mode', 'Ok: not sent (test mode), id abc'],
  );
  assert.match(outcomeReply({ kind: 'test_mode', id: 'abc', duplicate: true }).text, /\(already accepted earlier\)$/);
});
