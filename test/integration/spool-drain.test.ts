// SIGTERM in spool mode: the workers stop taking messages, and a delivery under way finishes
// within the drain budget instead of being cut (and left to reconcile at the next start).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startSandbox } from '../../src/sandbox/server.ts';
import { DEMO_PASSWORD, DEMO_USER, startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

test('shutdown lets an in-flight spooled delivery finish, and leaves the spool consistent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-spool-drain-'));
  // Its own sandbox, so that it still answers while (and after) the gateway shuts down.
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 100 });
  try {
    const gw = await startTestGateway({
      CAKEMAIL_API_URL: sandbox.url,
      DELIVERY_MODE: 'spool',
      SPOOL_DIR: dir,
      SPOOL_POLL_MS: '50',
      SHUTDOWN_TIMEOUT_MS: '10000',
    });
    const fault = await fetch(`${sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latencyMs: 1500 }),
    });
    assert.equal(fault.status, 200);
    const subject = `drain ${randomUUID()}`;
    const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    const reply = await c.transaction(
      DEMO_USER,
      ['d@example.org'],
      `From: ${DEMO_USER}\r\nTo: d@example.org\r\nSubject: ${subject}\r\n\r\nbody\r\n`,
    );
    c.close();
    assert.match(reply, /^250 2\.0\.0 Ok: spooled as /);
    // The worker is woken at once; give it time to be inside the slow send.
    const end = Date.now() + 10_000;
    while (
      ((await (await fetch(`${sandbox.url}/_sandbox/requests`)).json()) as Record<string, number>)[
        'POST /v2/emails'
      ] === undefined
    ) {
      assert.ok(Date.now() < end, 'the send started');
      await new Promise((r) => setTimeout(r, 20));
    }
    await gw.shutdown();
    assert.equal(
      sandbox.emails().filter((e) => e.payload.content.subject === subject).length,
      1,
      'the send under way finished',
    );
    assert.deepEqual(await readdir(join(dir, 'msg')), [], 'delivered, so removed from the spool');
  } finally {
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  }
});
