// Every relay's dialect over real SMTP: metadata reaches Cakemail as X-Metadata-<key> with its
// value exact, and a header the gateway cannot honour is refused naming it, with no API call.
// On the code before the dialect table, each metadata header was dropped and each refused header
// silently ignored (the message was sent).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const gateway = useTestGateway();

async function submit(extra: string): Promise<string> {
  const c = await RawSmtp.login(gateway().ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(
      DEMO_USER,
      ['customer@example.org'],
      `From: "Shop" <${DEMO_USER}>\r\nTo: customer@example.org\r\nSubject: order\r\n${extra}\r\nhello\r\n`,
    );
  } finally {
    c.close();
  }
}

async function sentHeaders(): Promise<{ name: string; value: string }[]> {
  const emails = await sandboxEmails(gateway());
  assert.equal(emails.length, 1, 'one email reached the API');
  return emails[0]!.payload.additional_headers as { name: string; value: string }[];
}

const metadataOf = (headers: { name: string; value: string }[]) =>
  headers.filter((h) => h.name.startsWith('X-Metadata-')).map((h) => [h.name, h.value]);

describe('metadata of every dialect reaches Cakemail as X-Metadata-<key>', () => {
  const cases: [string, string, [string, string][]][] = [
    [
      'SendGrid unique_args',
      'X-SMTPAPI: {"unique_args": {"order_id": "A-991", "user": 77}}\r\n',
      [
        ['X-Metadata-order_id', 'A-991'],
        ['X-Metadata-user', '77'],
      ],
    ],
    ['Mailgun variables', 'X-Mailgun-Variables: {"order_id": "A-991"}\r\n', [['X-Metadata-order_id', 'A-991']]],
    ['Postmark metadata', 'X-PM-Metadata-customer: c-77\r\n', [['X-Metadata-customer', 'c-77']]],
    [
      'Mandrill metadata',
      'X-MC-Metadata: {"website": "www.example.com", "nested": {"a": [1, 2]}}\r\n',
      [
        ['X-Metadata-website', 'www.example.com'],
        ['X-Metadata-nested', '{"a":[1,2]}'],
      ],
    ],
    ['Brevo custom', 'X-Mailin-custom: some_custom_value|42\r\n', [['X-Metadata-custom', 'some_custom_value|42']]],
    ['SES configuration set', 'X-SES-CONFIGURATION-SET: receipts\r\n', [['X-Metadata-configuration-set', 'receipts']]],
    ['Cakemail metadata', 'X-Metadata-Order: A-991\r\n', [['X-Metadata-Order', 'A-991']]],
  ];
  for (const [name, header, expected] of cases)
    test(name, async () => {
      assert.match(await submit(header), /^250 /);
      const headers = await sentHeaders();
      assert.deepEqual(metadataOf(headers), expected);
      // The dialect's own header is never forwarded as it is.
      const raw = header.slice(0, header.indexOf(':')).toLowerCase();
      if (!raw.startsWith('x-metadata-'))
        assert.ok(!headers.some((h) => h.name.toLowerCase() === raw), `${raw} not forwarded`);
    });

  test('values are exact: non-ASCII and punctuation kept, nothing trimmed inside JSON', async () => {
    const value = '  Café – 注文 "№ 5" ';
    assert.match(await submit(`X-Mailgun-Variables: ${JSON.stringify({ note: value })}\r\n`), /^250 /);
    assert.deepEqual(metadataOf(await sentHeaders()), [['X-Metadata-note', value]]);
  });

  test('the same key from two dialects with different values is refused naming both', async () => {
    const reply = await submit('X-PM-Metadata-order: 1\r\nX-Mailgun-Variables: {"order": "2"}\r\n');
    assert.match(
      reply,
      /^554 5\.6\.0 .*invalid X-Mailgun-Variables header: metadata "order" given twice.*X-PM-Metadata-order/,
    );
  });
});

describe('metadata over the documented size is refused by name, nothing sent', () => {
  const cases: [string, string, RegExp][] = [
    [
      'a value over 1000 bytes',
      `X-PM-Metadata-note: ${'é'.repeat(501)}\r\n`,
      /^554 5\.6\.0 Message refused: invalid X-PM-Metadata-note header: metadata "note" is 1002 bytes, limit 1000 bytes/,
    ],
    [
      'more than 10,000 bytes in all',
      Array.from({ length: 12 }, (_, i) => `X-PM-Metadata-k${i}: ${'v'.repeat(900)}\r\n`).join(''),
      /^554 5\.6\.0 Message refused: invalid X-PM-Metadata-k11 header: metadata over 10000 bytes in all \(keys and values\) at "k11"/,
    ],
    [
      'a line break a header cannot carry',
      'X-MC-Metadata: {"note": "two\\nlines"}\r\n',
      /^554 5\.6\.0 .*invalid X-MC-Metadata header: metadata "note" holds a line break/,
    ],
    [
      'a key that cannot be a header name',
      'X-Mailgun-Variables: {"order id": "1"}\r\n',
      /^554 5\.6\.0 .*invalid X-Mailgun-Variables header: metadata key "order id" cannot be a header name/,
    ],
  ];
  for (const [name, header, reply] of cases)
    test(name, async () => {
      assert.match(await submit(header), reply);
      assert.equal((await sandboxRequests(gateway()))['POST /v2/emails'], undefined, 'no API call');
    });
});

describe('a header the gateway cannot honour is refused naming it, one per dialect', () => {
  const cases: [string, RegExp][] = [
    [
      'X-SMTPAPI: {"ip_pool": "marketing"}',
      /X-SMTPAPI header refused: "ip_pool" not supported: Cakemail chooses the sending IPs/,
    ],
    [
      'X-SMTPAPI: {"filters": {"footer": {"settings": {"enable": 1}}}}',
      /X-SMTPAPI header refused: "filters\.footer" not supported/,
    ],
    ['X-SMTPAPI: {"catgory": "typo"}', /X-SMTPAPI header refused: "catgory" is not an X-SMTPAPI key/],
    [
      'X-Mailgun-Template-Name: welcome',
      /X-Mailgun-Template-Name header refused: Mailgun's templates are not reachable/,
    ],
    ['X-Mailgun-Dkim: no', /X-Mailgun-Dkim header refused: Cakemail signs every message/],
    [
      'X-Mailgun-Recipient-Variables: {}',
      /X-Mailgun-Recipient-Variables header refused: no per-recipient substitutions/,
    ],
    [
      'X-PM-Message-Stream: my-custom-stream',
      /X-PM-Message-Stream header refused: stream "my-custom-stream" has no Cakemail equivalent/,
    ],
    ['X-MC-BccAddress: audit@example.org', /X-MC-BccAddress header refused: would add a recipient/],
    ['X-MC-Template: welcome', /X-MC-Template header refused/],
    [
      'X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly',
      /X-SES-LIST-MANAGEMENT-OPTIONS header refused: Cakemail handles unsubscribes per list/,
    ],
    ['X-Mailin-IP: 192.0.2.1', /X-Mailin-IP header refused: Cakemail chooses the sending IPs/],
    ['X-Mailgun-Deliver-Time: tomorrow', /X-Mailgun-Deliver-Time header refused: unknown Mailgun header/],
    ['X-Cakemail-Tset: yes', /X-Cakemail-Tset header refused: unknown Cakemail header/],
  ];
  for (const [header, reply] of cases)
    test(header, async () => {
      const got = await submit(`${header}\r\n`);
      assert.match(got, /^554 5\.6\.0 Message refused: /);
      assert.match(got, reply);
      assert.equal((await sandboxRequests(gateway()))['POST /v2/emails'], undefined, 'no API call');
    });
});

describe('honoured headers of every dialect change what Cakemail receives', () => {
  test('Postmark stream, Mailgun DKIM yes, Mandrill autotext, SES ARNs: accepted and sent', async () => {
    const reply = await submit(
      [
        'X-PM-Message-Stream: broadcast',
        'X-Mailgun-Dkim: yes',
        'X-MC-Autotext: true',
        'X-SES-SOURCE-ARN: arn:aws:ses:us-east-1:123456789012:identity/example.com',
        'X-Mailin-Tag: Welcome Series',
        'X-Mailin-Track-Opens: 0',
        '',
      ].join('\r\n'),
    );
    assert.match(reply, /^250 /);
    const [email] = await sandboxEmails(gateway());
    assert.equal(email!.payload.content.type, 'marketing');
    // The gateway's own reconcile tag (gw-…) rides along with RECONCILE=on.
    assert.deepEqual(
      (email!.payload.tags as string[]).filter((t) => !t.startsWith('gw-')),
      ['Welcome-Series'],
    );
    assert.deepEqual(email!.payload.tracking, { opens: false });
  });
});
