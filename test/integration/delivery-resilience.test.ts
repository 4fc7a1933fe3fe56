// Delivery under faults, over real SMTP against the sandbox: the circuit breaker at RCPT, the
// message identity rules of dedupe, ambiguous sends counted, and reconciliation through
// GET /v2/logs/emails.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  sandboxEmails,
  sandboxRequests,
  setFault,
  startTestGateway,
} from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const authed = (gw: Gateway) => RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);

function message(subject: string, opts: { messageId?: string | null } = {}): string {
  const id = opts.messageId === undefined ? `<${randomUUID()}@client.example>` : opts.messageId;
  return `From: ${DEMO_USER}\r\nTo: someone@example.org\r\nSubject: ${subject}\r\n${id ? `Message-ID: ${id}\r\n` : ''}\r\nbody of ${subject}\r\n`;
}

async function sendOnce(gw: Gateway, rcpts: string[], body: string): Promise<string> {
  const c = await authed(gw);
  try {
    return await c.transaction(DEMO_USER, rcpts, body);
  } finally {
    c.close();
  }
}

async function copies(gw: Gateway, subject: string): Promise<number> {
  return (await sandboxEmails(gw)).filter((e) => e.payload.content.subject === subject).length;
}

async function counter(gw: Gateway, name: 'apiAmbiguous' | 'dedupeHits'): Promise<number> {
  return (await gw.metrics[name].get()).values[0]?.value ?? 0;
}

async function withGateway(env: Record<string, string>, fn: (gw: Gateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway(env);
  try {
    await fn(gw);
  } finally {
    await gw.shutdown();
  }
}

describe('circuit breaker', () => {
  const env = {
    API_MAX_ATTEMPTS: '1',
    CIRCUIT_MIN_REQUESTS: '4',
    CIRCUIT_OPEN_MS: '60000',
    MESSAGE_DEADLINE_MS: '5000',
  };

  test('after CIRCUIT_MIN_REQUESTS transient failures, RCPT answers 451 4.4.1 with the seconds until the probe and no API call is made', async () => {
    await withGateway(env, async (gw) => {
      await setFault(gw, { status: 503 });
      for (let i = 0; i < 4; i++)
        assert.match(await sendOnce(gw, ['r@example.org'], message(`cb ${i}`)), /^451 4\.4\.1 /);
      assert.equal((await gw.metrics.circuitState.get()).values[0]?.value, 2, 'gauge says open');
      const posts = (await sandboxRequests(gw))['POST /v2/emails'];
      assert.equal(posts, 4);

      const c = await authed(gw);
      assert.match(await c.cmd(`MAIL FROM:<${DEMO_USER}>`), /^250 /);
      const rcpt = await c.cmd('RCPT TO:<r@example.org>');
      assert.match(
        rcpt,
        /^451 4\.4\.1 Cakemail API unavailable \(circuit open after repeated failures\), next try in (59|60) s$/,
      );
      assert.match(await c.cmd('DATA'), /^503 /, 'no recipient accepted, so no body is uploaded');
      c.close();
      assert.equal((await sandboxRequests(gw))['POST /v2/emails'], posts, 'zero API calls while open');
    });
  });

  test("400/422 answers are the sender's problem and never open the circuit", async () => {
    await withGateway(env, async (gw) => {
      await setFault(gw, { status: 422 });
      for (let i = 0; i < 6; i++)
        assert.match(await sendOnce(gw, ['r@example.org'], message(`cb422 ${i}`)), /^554 5\.6\.0 /);
      assert.equal((await gw.metrics.circuitState.get()).values[0]?.value, 0);
      const c = await authed(gw);
      await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
      assert.match(await c.cmd('RCPT TO:<r@example.org>'), /^250 /);
      c.close();
    });
  });

  test('after CIRCUIT_OPEN_MS a probe goes through and a success closes the circuit; one log line per transition', async () => {
    const lines: { msg: string; from?: string; to?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const loaded = loadConfig({
      SMTP_SUBMISSION_PORT: '0',
      SMTP_SMTPS_PORT: '0',
      SMTP_ALT_SUBMISSION_PORT: '0',
      ADMIN_PORT: '0',
      SANDBOX_PORT: '0',
      API_RETRY_BASE_MS: '20',
      API_RETRY_CAP_MS: '100',
      ...env,
      CIRCUIT_OPEN_MS: '300',
    });
    assert.ok(loaded.ok);
    const gw = await startGateway(loaded.config, logger);
    try {
      await setFault(gw, { status: 503, count: 4 });
      for (let i = 0; i < 4; i++) await sendOnce(gw, ['r@example.org'], message(`cbp ${i}`));
      assert.equal((await gw.metrics.circuitState.get()).values[0]?.value, 2);
      await new Promise((r) => setTimeout(r, 350));
      assert.match(await sendOnce(gw, ['r@example.org'], message('cbp probe')), /^250 /);
      assert.equal((await gw.metrics.circuitState.get()).values[0]?.value, 0);
    } finally {
      await gw.shutdown();
    }
    const transitions = lines.filter((l) => l.msg.startsWith('circuit breaker')).map((l) => `${l.from}->${l.to}`);
    assert.deepEqual(transitions, ['closed->open', 'open->half_open', 'half_open->closed']);
  });
});

describe('retry budget', () => {
  test('during an outage retries stop at the process budget instead of tripling the calls', async () => {
    // The circuit is kept out of the way (it would stop the calls even sooner).
    await withGateway({ API_MAX_ATTEMPTS: '3', CIRCUIT_MIN_REQUESTS: '100000' }, async (gw) => {
      await setFault(gw, { status: 503 });
      const messages = 40;
      for (let i = 0; i < messages; i++)
        assert.match(await sendOnce(gw, ['r@example.org'], message(`storm ${i}`)), /^451 4\.4\.1 /);
      const posts = (await sandboxRequests(gw))['POST /v2/emails'] ?? 0;
      // 40 first attempts + a floor of 3 retries/s over the 10 s window; without the budget: 120.
      assert.ok(posts <= messages + 30, `${posts} calls`);
      assert.ok(((await gw.metrics.retriesDenied.get()).values[0]?.value ?? 0) >= messages - 30);
    });
  });
});

describe('message identity and dedupe', () => {
  test("a message without Message-ID sent three times is delivered three times (the cron job's static alert was swallowed)", async () => {
    await withGateway({}, async (gw) => {
      const body = message(`cron ${randomUUID()}`, { messageId: null });
      for (let i = 0; i < 3; i++)
        assert.match(await sendOnce(gw, ['oncall@example.org'], body), /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
      assert.equal((await sandboxEmails(gw)).length, 3);
    });
  });

  test('same Message-ID and bytes: the resend is answered 250 without an API call; other bytes under that Message-ID are sent', async () => {
    await withGateway({}, async (gw) => {
      const subject = `resend ${randomUUID()}`;
      const body = message(subject);
      assert.match(await sendOnce(gw, ['a@example.org'], body), /^250 /);
      assert.match(
        await sendOnce(gw, ['a@example.org'], body),
        /^250 2\.0\.0 .*already accepted earlier, not sent again/,
      );
      assert.equal(await copies(gw, subject), 1);
      assert.equal(await counter(gw, 'dedupeHits'), 1);
      assert.match(
        await sendOnce(gw, ['a@example.org'], body.replace('body of', 'corrected body of')),
        /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/,
      );
      assert.equal(await copies(gw, subject), 2);
    });
  });

  test('no Message-ID, 451 after partial success: the retry skips the accepted recipient and says so; a later repeat is sent in full', async () => {
    await withGateway({ API_MAX_ATTEMPTS: '1', SEND_CONCURRENCY: '1' }, async (gw) => {
      const subject = `partial ${randomUUID()}`;
      const body = message(subject, { messageId: null });
      await setFault(gw, { status: 503, count: 1 });
      // SEND_CONCURRENCY=1: a@ goes first and gets the 503, b@ is queued.
      assert.match(await sendOnce(gw, ['a@example.org', 'b@example.org'], body), /^451 4\.4\.1 /);
      assert.equal(await copies(gw, subject), 1);
      assert.match(
        await sendOnce(gw, ['a@example.org', 'b@example.org'], body),
        /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}; 1 of 2 recipients already accepted earlier, not sent again$/,
      );
      assert.deepEqual(
        (await sandboxEmails(gw))
          .filter((e) => e.payload.content.subject === subject)
          .map((e) => e.payload.email)
          .sort(),
        ['a@example.org', 'b@example.org'],
      );
      assert.match(
        await sendOnce(gw, ['a@example.org', 'b@example.org'], body),
        /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/,
        'finished, so the same bytes again are a new message',
      );
      assert.equal(await copies(gw, subject), 4);
    });
  });
});

describe('ambiguous sends', () => {
  const env = { API_TIMEOUT_MS: '300', MESSAGE_DEADLINE_MS: '5000' };

  for (const mode of ['commit_then_reset', 'commit_then_hang'] as const) {
    test(`RECONCILE=off, ${mode}: 451, counted as ambiguous; the client's retry is sent again (the documented duplicate)`, async () => {
      await withGateway({ ...env, RECONCILE: 'off' }, async (gw) => {
        const subject = `amb-off ${mode} ${randomUUID()}`;
        const body = message(subject);
        await setFault(gw, { mode, count: 1 });
        assert.match(await sendOnce(gw, ['x@example.org'], body), /^451 4\.4\.[12] /);
        assert.equal(await counter(gw, 'apiAmbiguous'), 1);
        assert.match(await sendOnce(gw, ['x@example.org'], body), /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
        assert.equal(await copies(gw, subject), 2);
        assert.equal((await sandboxRequests(gw))['GET /v2/logs/emails'], undefined, 'no log lookups when off');
      });
    });

    test(`RECONCILE on by default, ${mode}: the retry finds the committed send in the logs and is answered 250 without sending again`, async () => {
      // RECONCILE is not set: exactly-once under lost answers is the default.
      await withGateway(env, async (gw) => {
        const subject = `amb-on ${mode} ${randomUUID()}`;
        const body = message(subject);
        await setFault(gw, { mode, count: 1 });
        assert.match(await sendOnce(gw, ['x@example.org'], body), /^451 4\.4\.[12] /);
        assert.equal(await counter(gw, 'apiAmbiguous'), 1);
        const first = (await sandboxEmails(gw)).find((e) => e.payload.content.subject === subject);
        assert.ok(
          first?.payload.tags?.some((t: string) => /^gw-[0-9a-f]{32}$/.test(t)),
          'the send carried its attempt tag',
        );
        assert.match(
          await sendOnce(gw, ['x@example.org'], body),
          /^250 2\.0\.0 .*already accepted earlier, not sent again/,
        );
        assert.equal(await copies(gw, subject), 1);
        const req = await sandboxRequests(gw);
        assert.equal(req['POST /v2/emails'], 1);
        assert.equal(req['GET /v2/logs/emails'], 1);
      });
    });
  }

  test('RECONCILE=on, hang_before_commit: absent from the logs, the retry waits out RECONCILE_WAIT_MS (looked up twice, not per retry), then sends it once', async () => {
    // The wait is long enough for the second session (TLS, login, DATA) to fall inside it on a
    // loaded machine; the third is sent once it is over (attempts are stamped in whole seconds).
    const waitMs = 4000;
    await withGateway({ ...env, RECONCILE: 'on', RECONCILE_WAIT_MS: String(waitMs) }, async (gw) => {
      const subject = `amb-none ${randomUUID()}`;
      const body = message(subject);
      await setFault(gw, { mode: 'hang_before_commit', count: 1 });
      assert.match(await sendOnce(gw, ['x@example.org'], body), /^451 4\.4\.2 /);
      const firstAnswered = Date.now();
      assert.equal(await copies(gw, subject), 0);
      assert.match(
        await sendOnce(gw, ['x@example.org'], body),
        /^451 4\.4\.2 .*too recent to rule out/,
        'a slow API might still commit it',
      );
      assert.equal(await copies(gw, subject), 0);
      assert.equal((await sandboxRequests(gw))['GET /v2/logs/emails'], 1, 'looked up at the first retry');
      assert.match(await sendOnce(gw, ['x@example.org'], body), /^451 4\.4\.2 .*too recent to rule out/);
      assert.equal(
        (await sandboxRequests(gw))['GET /v2/logs/emails'],
        1,
        'a retry while the send is still young is not looked up again (one lookup per send, not per retry)',
      );
      await new Promise((r) => setTimeout(r, Math.max(0, firstAnswered + waitMs + 1100 - Date.now())));
      assert.match(await sendOnce(gw, ['x@example.org'], body), /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
      assert.equal(await copies(gw, subject), 1);
      assert.equal((await sandboxRequests(gw))['GET /v2/logs/emails'], 2, 'and once more when old enough');
    });
  });

  test('RECONCILE=on, the log lookup fails: 451 and nothing sent', async () => {
    await withGateway({ ...env, RECONCILE: 'on', API_MAX_ATTEMPTS: '1' }, async (gw) => {
      const subject = `amb-lookup ${randomUUID()}`;
      const body = message(subject);
      await setFault(gw, { mode: 'commit_then_reset', count: 1 });
      assert.match(await sendOnce(gw, ['x@example.org'], body), /^451 /);
      await setFault(gw, { status: 503, paths: ['/v2/logs/emails'], count: 1 });
      assert.match(
        await sendOnce(gw, ['x@example.org'], body),
        /^451 4\.4\.1 .*could not check an earlier unanswered send/,
      );
      assert.equal(await copies(gw, subject), 1);
      assert.match(await sendOnce(gw, ['x@example.org'], body), /^250 .*already accepted earlier/);
      assert.equal(await copies(gw, subject), 1);
    });
  });
});
