// Test mode over real SMTP (X-Mailgun-Drop-Message: yes, X-Sib-Sandbox: drop, X-Cakemail-Test:
// yes): every stage runs but the API call; 250 says "not sent (test mode)" with an id; counted;
// shown in the sandbox inbox. On the code before test mode, these messages were sent for real.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import type { Gateway } from '../../src/app.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

interface Stored {
  id: string;
  status: string;
  payload: Record<string, any>;
}

async function stored(gw: Gateway): Promise<Stored[]> {
  return (await (await fetch(`${gw.apiUrl}/_sandbox/emails`)).json()) as Stored[];
}

async function submit(
  gw: Gateway,
  header: string,
  from = DEMO_USER,
  messageId: string = randomUUID(),
): Promise<string> {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(
      DEMO_USER,
      ['customer@example.org'],
      `From: ${from}\r\nTo: customer@example.org\r\nSubject: CI run\r\nMessage-ID: <${messageId}@app.example>\r\n${header}\r\n\r\nhello\r\n`,
    );
  } finally {
    c.close();
  }
}

async function metric(gw: Gateway, name: string): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

const ID = /^250 2\.0\.0 Ok: not sent \(test mode\), id ([0-9a-f-]{36})$/;

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

for (const mode of ['sync', 'spool'] as const) {
  describe(`test mode (${mode} mode)`, () => {
    const gateway = useTestGateway(
      mode === 'sync'
        ? {}
        : { DELIVERY_MODE: 'spool', SPOOL_DIR: join(tmpdir(), `gw-test-mode-${process.pid}`), SPOOL_POLL_MS: '50' },
    );
    after(() => dirs.push(join(tmpdir(), `gw-test-mode-${process.pid}`)));

    for (const header of ['X-Mailgun-Drop-Message: yes', 'X-Sib-Sandbox: drop', 'X-Cakemail-Test: yes'])
      test(`${header}: 250 not sent, no API call, shown in the inbox, counted`, async () => {
        const gw = gateway();
        const reply = await submit(gw, header);
        const id = ID.exec(reply)?.[1];
        assert.ok(id, reply);
        assert.equal((await sandboxRequests(gw))['POST /v2/emails'], undefined, 'no API call');
        const [email, ...more] = await stored(gw);
        assert.equal(more.length, 0);
        assert.equal(email!.id, id, 'the inbox shows it under the id of the reply');
        assert.equal(email!.status, 'not_sent_test_mode');
        assert.equal(email!.payload.email, 'customer@example.org');
        const inbox = await (await fetch(`${gw.apiUrl}/`)).text();
        assert.match(inbox, /test mode: not sent/);
        const name = header.slice(0, header.indexOf(':')).toLowerCase();
        assert.match(await metric(gw, 'smtp_gateway_test_mode_messages_total'), new RegExp(`header="${name}"} [1-9]`));
        // Nothing for a reconcile to find: the API never saw it.
        assert.equal((await sandboxRequests(gw))['POST /v2/emails'], undefined);
      });

    test('the sender check still runs: an unconfirmed From is refused as it would be', async () => {
      const reply = await submit(gateway(), 'X-Cakemail-Test: yes', 'nobody@unconfirmed.example');
      assert.match(reply, /^550 5\.7\.1 Sender <nobody@unconfirmed\.example> is not a confirmed sender/);
      assert.equal((await stored(gateway())).length, 0);
    });

    test('dedupe still runs: the same test message again is "already accepted", still not sent', async () => {
      const first = ID.exec(await submit(gateway(), 'X-Mailgun-Drop-Message: yes', DEMO_USER, 'same'))?.[1];
      const again = await submit(gateway(), 'X-Mailgun-Drop-Message: yes', DEMO_USER, 'same');
      assert.equal(again, `250 2.0.0 Ok: not sent (test mode), id ${first} (already accepted earlier)`);
      assert.equal((await sandboxRequests(gateway()))['POST /v2/emails'], undefined);
    });

    test('X-Mailgun-Drop-Message: no sends for real; a bad value is refused by name', async () => {
      assert.match(await submit(gateway(), 'X-Mailgun-Drop-Message: no'), /^250 2\.0\.0 Ok: (queued|spooled) as /);
      assert.match(
        await submit(gateway(), 'X-Sib-Sandbox: keep'),
        /^554 5\.6\.0 Message refused: invalid X-Sib-Sandbox header: expected "drop"/,
      );
    });
  });
}

describe('test mode with nodemailer', () => {
  const gateway = useTestGateway();
  test('a nodemailer CI job with Mailgun test mode gets the not-sent reply', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: gateway().ports.smtps,
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: DEMO_USER, pass: DEMO_PASSWORD },
    });
    try {
      const info = await transport.sendMail({
        from: DEMO_USER,
        to: 'customer@example.org',
        subject: 'order shipped',
        text: 'hi',
        headers: { 'X-Mailgun-Drop-Message': 'yes' },
      });
      assert.match(info.response, /^250 2\.0\.0 Ok: not sent \(test mode\), id /);
      assert.equal((await sandboxRequests(gateway()))['POST /v2/emails'], undefined);
    } finally {
      transport.close();
    }
  });
});
