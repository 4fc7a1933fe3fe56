// Control headers of every dialect, tag normalisation, and the From checks of inspectMessage.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONTROL_HEADER_NAMES, readControls, type ControlsResult } from '../../src/delivery/controls.ts';
import { inspectMessage } from '../../src/delivery/inspect.ts';
import { normalizeTag } from '../../src/delivery/tags.ts';
import type { HeaderField, ParsedMessage } from '../../src/mime/types.ts';

const h = (name: string, value: string): HeaderField => ({ name, value });
const ok = (r: ControlsResult) => {
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.controls;
};
const bad = (r: ControlsResult) => {
  assert.equal(r.ok, false);
  return (r as { reason: string }).reason;
};

describe('tag normalisation', () => {
  const cases: [string, string | null][] = [
    ['newsletter', 'newsletter'],
    ['  Order Confirmation ', 'Order-Confirmation'],
    ['café crème', 'cafe-creme'],
    ['a..b//c', 'a-b-c'],
    ['promo_fr', 'promo_fr'],
    ['--x--', 'x'],
    ['!!!', null],
    ['注文', null],
    ['', null],
  ];
  for (const [raw, expected] of cases) test(JSON.stringify(raw), () => assert.equal(normalizeTag(raw), expected));
  test('cut at 255 characters', () => assert.equal(normalizeTag('a'.repeat(300))?.length, 255));
});

describe('Cakemail dialect', () => {
  test('all headers', () => {
    const c = ok(
      readControls([
        h('X-Sender-Id', 'snd-1'),
        h('X-List-Id', ' 42 '),
        h('X-Email-Api-Type', 'Marketing'),
        h('X-Tags', 'a, b ,,A'),
        h('X-Track-Opens', 'false'),
        h('X-Track-Clicks-Html', 'yes'),
        h('X-Track-Clicks-Text', '0'),
        h('X-Account-Id', '7'),
      ]),
    );
    assert.deepEqual(c, {
      senderId: 'snd-1',
      listId: 42,
      emailType: 'marketing',
      accountId: 7,
      tags: ['a', 'b'],
      tracking: { opens: false, clicks_html: true, clicks_text: false },
    });
  });
  test('no control headers → empty controls', () =>
    assert.deepEqual(ok(readControls([h('Subject', 'x'), h('X-Other', '1')])), { tags: [] }));
  const invalid: [string, string, RegExp][] = [
    ['X-List-Id', 'abc', /^invalid X-List-Id header: not a positive list id$/],
    ['X-List-Id', '0', /X-List-Id/],
    ['X-List-Id', '99999999999', /X-List-Id/],
    ['X-Email-Api-Type', 'bulk', /^invalid X-Email-Api-Type header: expected "transactional" or "marketing"$/],
    ['X-Tags', 'ok, !!!', /^invalid X-Tags header: tag "!!!" has no letters/],
    ['X-Track-Opens', 'maybe', /X-Track-Opens.*yes\/no/],
    ['X-Sender-Id', 'a b', /X-Sender-Id/],
  ];
  for (const [name, value, reason] of invalid)
    test(`${name}: ${value} is refused`, () => assert.match(bad(readControls([h(name, value)])), reason));
  test('two different X-List-Id values are refused, equal ones are fine', () => {
    assert.match(bad(readControls([h('X-List-Id', '1'), h('X-List-Id', '2')])), /conflicting values "1" and "2"/);
    assert.equal(ok(readControls([h('X-List-Id', '3'), h('x-list-id', '3')])).listId, 3);
  });
});

describe('SendGrid X-SMTPAPI', () => {
  test('category string and array, open and click tracking', () => {
    assert.deepEqual(ok(readControls([h('X-SMTPAPI', '{"category":"Weekly News"}')])), { tags: ['Weekly-News'] });
    const c = ok(
      readControls([
        h(
          'X-SMTPAPI',
          JSON.stringify({
            category: ['a', 'b'],
            filters: {
              opentrack: { settings: { enable: 1 } },
              clicktrack: { settings: { enable: 1, enable_text: true } },
            },
          }),
        ),
      ]),
    );
    assert.deepEqual(c, { tags: ['a', 'b'], tracking: { opens: true, clicks_html: true, clicks_text: true } });
    assert.deepEqual(
      ok(readControls([h('X-SMTPAPI', '{"filters":{"clicktrack":{"settings":{"enable":0}}}}')])).tracking,
      { clicks_html: false, clicks_text: false },
    );
  });
  test('malformed JSON, wrong shapes and recipient fan-out are refused', () => {
    assert.equal(bad(readControls([h('X-SMTPAPI', '{"category": [')])), 'invalid X-SMTPAPI header: not valid JSON');
    assert.match(bad(readControls([h('X-SMTPAPI', '[1]')])), /JSON object/);
    assert.match(bad(readControls([h('X-SMTPAPI', '{"category": [1]}')])), /category/);
    assert.match(
      bad(readControls([h('X-SMTPAPI', '{"to": ["x@y.example"]}')])),
      /^X-SMTPAPI header refused: "to" not supported: recipients come only from the SMTP envelope/,
    );
    assert.match(
      bad(readControls([h('X-SMTPAPI', '{"filters":{"opentrack":{"settings":{"enable":"sometimes"}}}}')])),
      /opentrack/,
    );
  });
});

describe('Mailgun, Postmark, Mandrill, SES', () => {
  test('X-Mailgun-Tag repeats; X-Mailgun-Track values', () => {
    assert.deepEqual(ok(readControls([h('X-Mailgun-Tag', 'a'), h('X-Mailgun-Tag', 'b c')])).tags, ['a', 'b-c']);
    assert.deepEqual(ok(readControls([h('X-Mailgun-Track', 'yes')])).tracking, {
      opens: true,
      clicks_html: true,
      clicks_text: true,
    });
    assert.deepEqual(ok(readControls([h('X-Mailgun-Track', 'false')])).tracking, {
      opens: false,
      clicks_html: false,
      clicks_text: false,
    });
    assert.deepEqual(ok(readControls([h('X-Mailgun-Track', 'htmlonly')])).tracking, {
      opens: true,
      clicks_html: true,
      clicks_text: false,
    });
    assert.deepEqual(
      ok(readControls([h('X-Mailgun-Track-Clicks', 'htmlonly'), h('X-Mailgun-Track-Opens', 'no')])).tracking,
      { clicks_html: true, clicks_text: false, opens: false },
    );
    assert.match(bad(readControls([h('X-Mailgun-Track', 'sometimes')])), /X-Mailgun-Track/);
  });
  test('Postmark tag, opens and links', () => {
    assert.deepEqual(
      ok(readControls([h('X-PM-Tag', 'welcome'), h('X-PM-TrackOpens', 'true'), h('X-PM-TrackLinks', 'TextOnly')])),
      { tags: ['welcome'], tracking: { opens: true, clicks_html: false, clicks_text: true } },
    );
    assert.match(bad(readControls([h('X-PM-TrackLinks', 'All')])), /X-PM-TrackLinks/);
  });
  test('Mandrill tags and track list (unlisted is off)', () => {
    assert.deepEqual(ok(readControls([h('X-MC-Tags', 'a,b'), h('X-MC-Track', 'opens, clicks_textonly')])), {
      tags: ['a', 'b'],
      tracking: { opens: true, clicks_html: false, clicks_text: true },
    });
    assert.deepEqual(ok(readControls([h('X-MC-Track', 'clicks_all')])).tracking, {
      opens: false,
      clicks_html: true,
      clicks_text: true,
    });
    assert.match(bad(readControls([h('X-MC-Track', 'everything')])), /unknown value "everything"/);
  });
  test('SES message tags become name-value', () => {
    assert.deepEqual(ok(readControls([h('X-SES-MESSAGE-TAGS', 'campaign=spring, stage=prod')])).tags, [
      'campaign-spring',
      'stage-prod',
    ]);
    assert.match(bad(readControls([h('X-SES-MESSAGE-TAGS', 'campaign')])), /name=value/);
  });
  test('tags from all dialects merge in header order, deduplicated case-insensitively', () => {
    const c = ok(
      readControls([h('X-Tags', 'News'), h('X-PM-Tag', 'news'), h('X-MC-Tags', 'promo'), h('X-Mailgun-Tag', 'Promo')]),
    );
    assert.deepEqual(c.tags, ['News', 'promo']);
  });
  test('every handled header is in the stripped list', () => {
    for (const n of [
      'x-smtpapi',
      'x-mailgun-tag',
      'x-mailgun-track',
      'x-pm-tag',
      'x-mc-track',
      'x-ses-message-tags',
      'x-list-id',
      'x-sender-id',
      'x-account-id',
    ]) {
      assert.ok(CONTROL_HEADER_NAMES.includes(n), n);
    }
  });
});

function message(over: Partial<ParsedMessage>): ParsedMessage {
  return {
    from: [{ name: 'A', address: 'a@example.com' }],
    fromHeaderCount: 1,
    senderHeaderCount: 0,
    to: [],
    cc: [],
    subject: 's',
    text: 't',
    html: null,
    headers: [],
    attachments: [],
    ...over,
  };
}

describe('inspectMessage', () => {
  test('one From mailbox → ok with controls', () => {
    const r = inspectMessage(message({ headers: [h('X-List-Id', '5')] }));
    assert.ok(r.ok);
    assert.deepEqual(r.from, { name: 'A', address: 'a@example.com' });
    assert.equal(r.controls.listId, 5);
  });
  const refusals: [string, Partial<ParsedMessage>, string][] = [
    ['no From', { from: [], fromHeaderCount: 0 }, 'missing From header'],
    [
      'two From headers',
      {
        fromHeaderCount: 2,
        from: [
          { name: '', address: 'a@x.example' },
          { name: '', address: 'b@y.example' },
        ],
      },
      'duplicate From header',
    ],
    ['two Sender headers', { senderHeaderCount: 2 }, 'duplicate Sender header'],
    ['From with no address', { from: [] }, 'From header has no address'],
    [
      'From with two mailboxes',
      {
        from: [
          { name: '', address: 'a@x.example' },
          { name: '', address: 'b@y.example' },
        ],
      },
      'From header holds 2 addresses; Cakemail sends from exactly one sender',
    ],
    [
      'From not an address',
      { from: [{ name: '', address: 'nobody' }] },
      'From address "nobody" is not an email address',
    ],
    [
      'invalid control',
      { headers: [h('X-Email-Api-Type', 'bulk')] },
      'invalid X-Email-Api-Type header: expected "transactional" or "marketing"',
    ],
  ];
  for (const [name, over, reason] of refusals) {
    test(name, () =>
      assert.deepEqual(inspectMessage(message(over)), { ok: false, refusal: { kind: 'content_invalid', reason } }),
    );
  }
});
