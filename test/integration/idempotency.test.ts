// Idempotency keys over real SMTP: a job-queue retry rebuilds the message (new Message-ID, new
// Date, so new bytes); with the same Idempotency-Key (or X-Idempotency-Key, or Resend's
// Resend-Idempotency-Key) it is answered "already accepted" and not sent again, per account and
// recipient, in sync and spool mode. On the code before idempotency keys, it was sent twice.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import { adminRequest, TEST_ADMIN_TOKEN } from '../helpers/admin.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, sandboxRequests, useTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until } from '../helpers/until.ts';

/** A message as a job queue builds it on each try: a new Message-ID and Date every time. */
function rebuilt(keyHeader: string, subject: string): string {
  return (
    `From: ${DEMO_USER}\r\nTo: customer@example.org\r\nSubject: ${subject}\r\n` +
    `Date: ${new Date(Date.now() - Math.floor(Math.random() * 1e6)).toUTCString()}\r\n` +
    `Message-ID: <${randomUUID()}@worker-${randomUUID().slice(0, 4)}.example>\r\n${keyHeader}\r\n\r\nyour order shipped\r\n`
  );
}

async function submit(gw: Gateway, rcpts: string[], data: string): Promise<string> {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(DEMO_USER, rcpts, data);
  } finally {
    c.close();
  }
}

const posts = async (gw: Gateway): Promise<number> => (await sandboxRequests(gw))['POST /v2/emails'] ?? 0;

describe('idempotency keys (sync mode)', () => {
  const gateway = useTestGateway();

  for (const name of ['Idempotency-Key', 'X-Idempotency-Key', 'Resend-Idempotency-Key'])
    test(`${name}: a rebuilt message with the same key is already accepted, no second call`, async () => {
      const gw = gateway();
      const key = `order-shipped/${randomUUID()}`;
      const first = await submit(gw, ['customer@example.org'], rebuilt(`${name}: ${key}`, 'shipped'));
      const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(first)?.[1];
      assert.ok(id, first);
      const second = await submit(gw, ['customer@example.org'], rebuilt(`${name}: ${key}`, 'shipped'));
      assert.equal(second, `250 2.0.0 Ok: queued as ${id} (already accepted earlier, not sent again)`);
      assert.equal(await posts(gw), 1, 'one API call');
    });

  test('the three names are one key: X-Idempotency-Key then Resend-Idempotency-Key', async () => {
    const gw = gateway();
    const key = randomUUID();
    assert.match(await submit(gw, ['a@example.org'], rebuilt(`X-Idempotency-Key: ${key}`, 's')), /^250 .*queued as/);
    assert.match(
      await submit(gw, ['a@example.org'], rebuilt(`Resend-Idempotency-Key: ${key}`, 's')),
      /already accepted earlier/,
    );
    assert.equal(await posts(gw), 1);
  });

  test('per recipient: a retry with one more recipient sends only the new one', async () => {
    const gw = gateway();
    const key = `Idempotency-Key: ${randomUUID()}`;
    assert.match(await submit(gw, ['a@example.org'], rebuilt(key, 'fan')), /^250 /);
    const reply = await submit(gw, ['a@example.org', 'b@example.org'], rebuilt(key, 'fan'));
    assert.match(reply, /^250 2\.0\.0 Ok: queued as \S+; 1 of 2 recipients already accepted earlier, not sent again$/);
    assert.deepEqual((await sandboxEmails(gw)).map((e) => e.payload.email).sort(), ['a@example.org', 'b@example.org']);
  });

  test('a different key is a different message, even with the same Message-ID and bytes', async () => {
    const gw = gateway();
    const base = `From: ${DEMO_USER}\r\nSubject: same\r\nMessage-ID: <fixed-${randomUUID()}@app.example>\r\n`;
    assert.match(await submit(gw, ['a@example.org'], `${base}Idempotency-Key: one\r\n\r\nx\r\n`), /^250 .*queued as/);
    assert.match(await submit(gw, ['a@example.org'], `${base}Idempotency-Key: two\r\n\r\nx\r\n`), /^250 .*queued as/);
    assert.equal(await posts(gw), 2);
  });

  test('a test-mode run with a key does not stop the real send with that key', async () => {
    const gw = gateway();
    const key = `Idempotency-Key: ${randomUUID()}`;
    assert.match(
      await submit(gw, ['a@example.org'], rebuilt(`${key}\r\nX-Cakemail-Test: yes`, 't')),
      /not sent \(test mode\)/,
    );
    assert.match(await submit(gw, ['a@example.org'], rebuilt(key, 't')), /^250 2\.0\.0 Ok: queued as [^(]+$/);
    assert.equal(await posts(gw), 1);
  });

  test('two different keys in one message are refused naming both headers', async () => {
    const reply = await submit(
      gateway(),
      ['a@example.org'],
      rebuilt('Idempotency-Key: one\r\nX-Idempotency-Key: two', 'c'),
    );
    assert.match(
      reply,
      /^554 5\.6\.0 Message refused: invalid X-Idempotency-Key header: conflicts with Idempotency-Key "one"/,
    );
  });

  test('a key with a space is refused by name', async () => {
    const reply = await submit(gateway(), ['a@example.org'], rebuilt('Idempotency-Key: two words', 'c'));
    assert.match(reply, /^554 5\.6\.0 Message refused: invalid Idempotency-Key header: expected 1-256 printable ASCII/);
  });
});

describe('idempotency keys (spool mode)', () => {
  const dir = join(tmpdir(), `gw-idem-${process.pid}`);
  after(() => rm(dir, { recursive: true, force: true }));
  const gateway = useTestGateway({
    DELIVERY_MODE: 'spool',
    SPOOL_DIR: dir,
    SPOOL_POLL_MS: '50',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
  });

  test('two rebuilt copies spooled before delivery are sent once', async () => {
    const gw = gateway();
    await gw.spoolWorker!.stop(1000);
    const key = `Idempotency-Key: ${randomUUID()}`;
    assert.match(await submit(gw, ['a@example.org'], rebuilt(key, 'spooled twice')), /^250 2\.0\.0 Ok: spooled as /);
    assert.match(await submit(gw, ['a@example.org'], rebuilt(key, 'spooled twice')), /^250 2\.0\.0 Ok: spooled as /);
    gw.spoolWorker!.start();
    await until(
      'the spool to empty',
      async () => ((await adminRequest(gw.ports.admin, '/spool')).body as unknown[]).length === 0,
    );
    assert.equal(await posts(gw), 1, 'one API call for both copies');
  });

  test('a copy arriving after delivery is answered already accepted, not spooled', async () => {
    const gw = gateway();
    const key = `Idempotency-Key: ${randomUUID()}`;
    assert.match(await submit(gw, ['a@example.org'], rebuilt(key, 'late copy')), /^250 2\.0\.0 Ok: spooled as /);
    await until('delivery', async () => (await posts(gw)) === 1);
    const [email] = await sandboxEmails(gw);
    assert.equal(
      await submit(gw, ['a@example.org'], rebuilt(key, 'late copy')),
      `250 2.0.0 Ok: queued as ${email!.id} (already accepted earlier, not sent again)`,
    );
    assert.equal(await posts(gw), 1);
  });
});
