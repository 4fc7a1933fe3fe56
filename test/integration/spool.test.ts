// Spool mode over real SMTP against the sandbox: 250 spooled, then delivered once; the same
// refusals at DATA as synchronous mode; an API outage survived; dead letters (refused, expired)
// shown, retried and dropped through the CLI and the admin HTTP endpoints; 452 4.3.1 when full.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import type { SpoolEntry } from '../../src/spool/backend.ts';
import { openDirSpool } from '../../src/spool/dir.ts';
import { sealLogin } from '../../src/spool/seal.ts';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  sandboxEmails,
  sandboxRequests,
  setFault,
  startTestGateway,
} from '../helpers/gateway.ts';
import { adminRequest, TEST_ADMIN_TOKEN } from '../helpers/admin.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until } from '../helpers/until.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/smtp-gateway.js', import.meta.url).pathname;

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function spoolDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'gw-spool-'));
  dirs.push(d);
  return d;
}

/** Short waits everywhere: tests must not sit out production backoffs. */
function spoolEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DELIVERY_MODE: 'spool',
    SPOOL_DIR: dir,
    SPOOL_RETRY_BASE_MS: '100',
    SPOOL_RETRY_CAP_MS: '300',
    SPOOL_POLL_MS: '50',
    API_MAX_ATTEMPTS: '1',
    API_TIMEOUT_MS: '1000',
    MESSAGE_DEADLINE_MS: '5000',
    RECONCILE_WAIT_MS: '300',
    CIRCUIT_OPEN_MS: '200',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    ...extra,
  };
}

function message(subject: string, from = DEMO_USER, extraHeaders = ''): string {
  return `From: ${from}\r\nTo: someone@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@client.example>\r\n${extraHeaders}\r\nbody of ${subject}\r\n`;
}

async function send(gw: Gateway, rcpts: string[], body: string): Promise<string> {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    const mail = await c.cmd(`MAIL FROM:<${DEMO_USER}>`);
    if (!mail.startsWith('250')) return mail;
    for (const r of rcpts) {
      const rcpt = await c.cmd(`RCPT TO:<${r}>`);
      if (!rcpt.startsWith('250')) return rcpt;
    }
    const data = await c.cmd('DATA');
    if (!data.startsWith('354')) return data;
    c.write(body.replace(/\r\n\./g, '\r\n..') + '\r\n.\r\n');
    // On a loaded machine a fresh gateway's first message (TLS, login, sender lookup) takes a while.
    return await c.reply(30_000);
  } finally {
    c.close();
  }
}

function admin(gw: Gateway, path: string, method = 'GET'): Promise<{ status: number; body: any }> {
  return adminRequest(gw.ports.admin, path, method);
}

async function scrape(gw: Gateway): Promise<string> {
  return (await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`)).text();
}

async function copies(gw: Gateway, subject: string): Promise<{ to: string }[]> {
  return (await sandboxEmails(gw))
    .filter((e) => e.payload.content.subject === subject)
    .map((e) => ({ to: e.payload.email as string }));
}

const spooledId = (reply: string): string => {
  const m = /^250 2\.0\.0 Ok: spooled as ([A-Za-z0-9-]+)$/.exec(reply);
  assert.ok(m, `expected a spooled 250, got: ${reply}`);
  return m[1] as string;
};

async function cli(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'spool', ...args], {
      env: { ...process.env, SPOOL_DIR: dir, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('spool mode', () => {
  test('answers 250 spooled after the durable write, then delivers each recipient once and empties the spool', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir));
    try {
      const subject = `spooled ${randomUUID()}`;
      const id = spooledId(await send(gw, ['a@example.org', 'b@example.org', 'A@example.org'], message(subject)));
      await until('delivery', async () => (await copies(gw, subject)).length === 2);
      await until('the spool to empty', async () => (await admin(gw, '/spool')).body.length === 0);
      assert.equal((await admin(gw, `/spool/${id}`)).status, 404);
      assert.deepEqual((await copies(gw, subject)).map((c) => c.to.toLowerCase()).sort(), [
        'a@example.org',
        'b@example.org',
      ]);
      // The entry is gone from disk before its removal returns and the counter moves (the
      // directory fsync comes between): wait for the counter rather than read it at once.
      await until('the delivered counter', async () => (await gw.metrics.spoolDelivered.get()).values[0]?.value === 1);
      const outcomes = (await gw.metrics.messages.get()).values.find((v) => v.labels.outcome === 'spooled');
      assert.equal(outcomes?.value, 1);
    } finally {
      await gw.shutdown();
    }
  });

  test('refuses at DATA exactly what synchronous mode refuses, with the same replies, and spools nothing', async () => {
    const limits = { MAX_MESSAGE_BYTES: '20000', MIME_MAX_DEPTH: '3' };
    const dir = await spoolDir();
    const spool = await startTestGateway(spoolEnv(dir, limits));
    const sync = await startTestGateway(limits);
    try {
      let nested = 'Content-Type: text/plain\r\n\r\ndeep\r\n';
      for (let i = 0; i < 5; i++)
        nested = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${nested}--b${i}--\r\n`;
      const cases: [string, string][] = [
        ['unknown sender', message('unknown sender', 'nobody@not-confirmed.example')],
        ['over size', message('too big') + 'x'.repeat(25_000) + '\r\n'],
        [
          'attachment policy',
          `From: ${DEMO_USER}\r\nTo: a@example.org\r\nSubject: exe\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\nContent-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename="run.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--x--\r\n`,
        ],
        ['MIME depth', `From: ${DEMO_USER}\r\nTo: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n${nested}`],
      ];
      for (const [what, body] of cases) {
        const viaSync = await send(sync, ['a@example.org'], body);
        const viaSpool = await send(spool, ['a@example.org'], body);
        assert.match(viaSync, /^5\d\d /, `${what}: refused in sync mode`);
        // Each reply names its own trace; everything before it is the same.
        const withoutTrace = (r: string) => r.replace(/ \(trace [0-9a-f-]{36}\)$/, '');
        assert.match(viaSpool, / \(trace [0-9a-f-]{36}\)$/, `${what}: the spool-mode refusal names its trace`);
        assert.equal(withoutTrace(viaSpool), withoutTrace(viaSync), `${what}: the same reply in spool mode`);
      }
      assert.deepEqual((await admin(spool, '/spool')).body, []);
    } finally {
      await spool.shutdown();
      await sync.shutdown();
    }
  });

  test('API down: 250 spooled (RCPT not refused with the circuit open), shown retrying with attempts and errors, then each recipient delivered exactly once', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir, { CIRCUIT_MIN_REQUESTS: '2', CIRCUIT_OPEN_MS: '300' }));
    try {
      await setFault(gw, { status: 503 });
      const subjects = [0, 1, 2].map((i) => `outage ${i} ${randomUUID()}`);
      const ids: string[] = [];
      for (const s of subjects) ids.push(spooledId(await send(gw, ['x@example.org', 'y@example.org'], message(s))));
      const retrying = await until('attempts recorded', async () => {
        const list = (await admin(gw, '/spool')).body as SpoolEntry[];
        const attempts = list.reduce((n, e) => n + e.recipients.reduce((k, r) => k + r.attempts, 0), 0);
        return (
          list.length === 3 &&
          attempts >= 2 &&
          list.every((e) => e.state === 'retrying' && e.recipients.every((r) => r.last_error)) &&
          list
        );
      });
      assert.match(retrying[0]?.recipients[0]?.last_error ?? '', /HTTP 503|circuit/);
      // Once the circuit opens, later tries fail before a send and journal no attempt: the
      // message whose send reached the API may be any of the three.
      const first = await until('an attempt with its answer in spool show', async () => {
        for (const id of ids) {
          const shown = (await admin(gw, `/spool/${id}`)).body as SpoolEntry;
          const closed = shown.recipients.flatMap((r) => r.history).find((h) => h.result !== null);
          if (closed) return closed;
        }
        return false;
      });
      assert.deepEqual(
        first.result,
        { kind: 'failed', reason: 'HTTP 503' },
        'spool show carries each attempt with the API answer',
      );
      // With the circuit open, synchronous mode refuses RCPT; spool mode still takes mail.
      await until('the circuit to open', async () => (await gw.metrics.circuitState.get()).values[0]?.value === 2);
      const late = `outage late ${randomUUID()}`;
      subjects.push(late);
      spooledId(await send(gw, ['x@example.org'], message(late)));

      await fetch(`${gw.apiUrl}/_sandbox/faults`, { method: 'DELETE' });
      for (const s of subjects)
        await until(`delivery of ${s}`, async () => (await copies(gw, s)).length === (s === late ? 1 : 2));
      await until('the spool to empty', async () => (await admin(gw, '/spool')).body.length === 0);
      // Exactly once: one copy per recipient, however many attempts failed before.
      await new Promise((r) => setTimeout(r, 300));
      for (const s of subjects) {
        const got = (await copies(gw, s)).map((c) => c.to).sort();
        assert.deepEqual(got, s === late ? ['x@example.org'] : ['x@example.org', 'y@example.org'], s);
      }
      const attempts = (await gw.metrics.spoolAttempts.get()).values;
      assert.ok((attempts.find((v) => v.labels.result === 'failed')?.value ?? 0) >= 2, 'failed attempts counted');
    } finally {
      await gw.shutdown();
    }
  });

  test('sender lookup down at DATA: spooled anyway; delivered once it answers, a dead letter if the sender is not confirmed', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir));
    try {
      await setFault(gw, { status: 503, paths: ['/brands/default/senders'] });
      const good = `sender later ${randomUUID()}`;
      spooledId(await send(gw, ['s@example.org'], message(good)));
      const badId = spooledId(
        await send(gw, ['s@example.org'], message(`bad sender ${randomUUID()}`, 'stranger@not-confirmed.example')),
      );
      await until('attempts while the sender lookup is down', async () => {
        const list = (await admin(gw, '/spool')).body as SpoolEntry[];
        return (
          list.length === 2 && list.every((e) => /confirmed sender not checked/.test(e.recipients[0]?.last_error ?? ''))
        );
      });
      assert.equal((await copies(gw, good)).length, 0);
      await fetch(`${gw.apiUrl}/_sandbox/faults`, { method: 'DELETE' });
      await until('delivery', async () => (await copies(gw, good)).length === 1);
      const dead = await until('the dead letter', async () => {
        const list = (await admin(gw, '/spool?dead=1')).body as SpoolEntry[];
        return list.length === 1 && list;
      });
      assert.equal(dead[0]?.id, badId);
      assert.match(
        dead[0]?.recipients[0]?.last_error ?? '',
        /^550 5\.7\.1 Sender <stranger@not-confirmed\.example> is not a confirmed sender/,
      );
    } finally {
      await gw.shutdown();
    }
  });

  test('a hung sender lookup holds DATA no longer than SPOOL_SENDER_CHECK_MS: the message is spooled, checked at delivery', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(
      spoolEnv(dir, { SPOOL_SENDER_CHECK_MS: '300', API_TIMEOUT_MS: '20000', MESSAGE_DEADLINE_MS: '30000' }),
    );
    try {
      await setFault(gw, { latencyMs: 15_000, paths: ['/brands/default/senders'], count: 1 });
      const subject = `hung sender ${randomUUID()}`;
      const started = Date.now();
      spooledId(await send(gw, ['h@example.org'], message(subject)));
      // The lookup hangs 15 s; a fresh gateway's first message (TLS, login) can take seconds on a
      // loaded machine, so the bound sits well between the two.
      assert.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms, not after the 15 s hang`);
      await until('delivery', async () => (await copies(gw, subject)).length === 1, 30_000);
    } finally {
      await gw.shutdown();
    }
  });

  test('a lost answer (the API committed, then hung) is reconciled through the logs: delivered once, not twice', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir, { API_TIMEOUT_MS: '300' }));
    try {
      await setFault(gw, { mode: 'commit_then_hang', count: 1 });
      const subject = `lost answer ${randomUUID()}`;
      spooledId(await send(gw, ['once@example.org'], message(subject)));
      await until('the spool to empty', async () => (await admin(gw, '/spool')).body.length === 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await copies(gw, subject)).length, 1);
      const reconciled = (await gw.metrics.spoolAttempts.get()).values.find((v) => v.labels.result === 'reconciled');
      assert.equal(reconciled?.value, 1);
    } finally {
      await gw.shutdown();
    }
  });

  test('a message with nothing left to send (one recipient delivered, the other past SPOOL_MAX_AGE_S) is settled without a login, a parse or any API call', async () => {
    const dir = await spoolDir();
    const key = randomBytes(32);
    const id = `nothing-left-${randomUUID()}`;
    const before = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
    await before.put({
      id,
      receivedAt: Date.now() - 2 * 86_400_000,
      envelopeFrom: DEMO_USER,
      recipients: ['a@example.org', 'b@example.org'],
      raw: Buffer.from(message('nothing left')),
      credential: sealLogin(key, id, { username: DEMO_USER, password: DEMO_PASSWORD, accountId: undefined }),
      sessionId: 'long-ago',
    });
    const [held] = await before.lease({ owner: 'long-gone', max: 1, leaseMs: 60_000 });
    assert.ok(held);
    await before.journal(held.lease, { type: 'open', recipient: 'a@example.org', tag: 'gw-a', at: Date.now() });
    await before.journal(held.lease, {
      type: 'result',
      recipient: 'a@example.org',
      tag: 'gw-a',
      at: Date.now(),
      result: { kind: 'queued', cakemailId: 'cm-a', apiStatus: 201 },
    });
    await before.close();

    const gw = await startTestGateway(spoolEnv(dir, { SPOOL_KEY: key.toString('hex') }));
    try {
      const dead = await until('the dead letter', async () => {
        const list = (await admin(gw, '/spool?dead=1')).body as SpoolEntry[];
        return list.length === 1 && list[0];
      });
      assert.deepEqual(
        dead.recipients.map((r) => [r.address, r.state]),
        [
          ['a@example.org', 'delivered'],
          ['b@example.org', 'dead'],
        ],
      );
      assert.match(dead.recipients[1]?.last_error ?? '', /^expired/);
      assert.deepEqual(await sandboxRequests(gw), {}, 'no token request, no sender lookup, no send');
    } finally {
      await gw.shutdown();
    }
  });

  test('a permanent refusal is a dead letter with its reason; retry delivers it; drop removes one (admin HTTP)', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir));
    try {
      await setFault(gw, { status: 422, count: 1 });
      const subject = `refused ${randomUUID()}`;
      const id = spooledId(await send(gw, ['r@example.org'], message(subject)));
      const dead = await until('a dead letter', async () => {
        const list = (await admin(gw, '/spool?dead=1')).body as SpoolEntry[];
        return list.length === 1 && list;
      });
      assert.equal(dead[0]?.id, id);
      assert.equal(dead[0]?.recipients[0]?.state, 'dead');
      assert.match(dead[0]?.recipients[0]?.last_error ?? '', /^Cakemail refused it: /);
      assert.equal(
        (await gw.metrics.spoolDeadLetters.get()).values.find((v) => v.labels.reason === 'refused')?.value,
        1,
      );
      // The gauges the alerts and dashboard use follow the spool.
      await until('the dead-letter gauge', async () =>
        (await scrape(gw)).includes('smtp_gateway_spool_messages{state="dead"} 1'),
      );
      const text = await scrape(gw);
      for (const name of [
        'spool_messages',
        'spool_bytes',
        'spool_max_bytes',
        'spool_oldest_age_seconds',
        'spool_attempts_total',
        'spool_dead_letters_total',
        'spool_delivered_total',
        'spool_full_total',
        'spool_write_seconds_count',
      ]) {
        assert.match(text, new RegExp(`^smtp_gateway_${name}`, 'm'), name);
      }
      assert.match(text, /^smtp_gateway_spool_max_bytes 1073741824$/m);
      assert.match(text, /^smtp_gateway_spool_bytes [1-9]\d*$/m);

      assert.deepEqual((await admin(gw, `/spool/${id}/retry`, 'POST')).body, { retried: [id] });
      await until('delivery after retry', async () => (await copies(gw, subject)).length === 1);
      await until('the spool to empty', async () => (await admin(gw, '/spool')).body.length === 0);

      await setFault(gw, { status: 422 });
      const other = spooledId(await send(gw, ['r@example.org'], message(`dropped ${randomUUID()}`)));
      await until('a dead letter', async () => (await admin(gw, '/spool?dead=1')).body.length === 1);
      assert.equal((await admin(gw, `/spool/${other}`, 'DELETE')).status, 200);
      assert.equal((await admin(gw, `/spool/${other}`)).status, 404);
      assert.equal((await admin(gw, `/spool/${other}`, 'DELETE')).status, 404);
      assert.equal((await admin(gw, '/spool/..%2F..%2Fetc')).status, 404);
    } finally {
      await gw.shutdown();
    }
  });

  test('expired messages become dead letters; the CLI lists, shows, retries and drops them while the gateway runs', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir, { SPOOL_MAX_AGE_S: '1' }));
    try {
      await setFault(gw, { status: 503 });
      const subject = `expired ${randomUUID()}`;
      const id = spooledId(await send(gw, ['late@example.org'], message(subject)));
      const second = spooledId(await send(gw, ['late@example.org'], message(`expired too ${randomUUID()}`)));
      await until('both expired', async () => (await admin(gw, '/spool?dead=1')).body.length === 2);

      const listed = await cli(dir, 'list', '--dead', '--json');
      assert.equal(listed.code, 0, listed.stderr);
      const entries = JSON.parse(listed.stdout) as SpoolEntry[];
      assert.deepEqual(
        entries.map((e) => e.id),
        [id, second],
      );
      const e = entries[0] as SpoolEntry;
      assert.deepEqual(
        Object.keys(e)
          .filter((k) => ['id', 'state', 'received_at', 'envelope_from', 'recipients'].includes(k))
          .sort(),
        ['envelope_from', 'id', 'received_at', 'recipients', 'state'],
      );
      assert.equal(e.state, 'dead');
      assert.equal(e.envelope_from, DEMO_USER);
      assert.equal(e.recipients[0]?.address, 'late@example.org');
      assert.match(e.recipients[0]?.last_error ?? '', /^expired: not delivered within SPOOL_MAX_AGE_S \(1 s\)/);
      assert.ok((e.recipients[0]?.attempts ?? 0) >= 1);
      assert.equal(
        (await gw.metrics.spoolDeadLetters.get()).values.find((v) => v.labels.reason === 'expired')?.value,
        2,
      );

      // Each CLI run is a process start: the independent ones run side by side.
      const [table, shown, missing, dropped] = await Promise.all([
        cli(dir, 'list'),
        cli(dir, 'show', id),
        cli(dir, 'show', 'nope'),
        cli(dir, 'drop', second),
      ]);
      assert.match(table.stdout, new RegExp(`${id}\\s+dead`));
      assert.equal(shown.code, 0);
      assert.equal((JSON.parse(shown.stdout) as SpoolEntry).recipients[0]?.history[0]?.result?.kind, 'failed');
      assert.equal(missing.code, 1);
      assert.equal(dropped.stdout, `dropped ${second}\n`);
      await fetch(`${gw.apiUrl}/_sandbox/faults`, { method: 'DELETE' });
      const retried = await cli(dir, 'retry', '--all-dead');
      assert.equal(retried.stdout, `retried ${id}\n`);
      await until('delivery after the CLI retry', async () => (await copies(gw, subject)).length === 1);
      await until('the spool to empty', async () => (await admin(gw, '/spool')).body.length === 0);
      assert.equal((await cli(dir, 'retry', id)).code, 1);
    } finally {
      await gw.shutdown();
    }
  });

  test('spool full: 452 4.3.1 at DATA (then at RCPT), nothing lost of what was answered 250', async () => {
    const dir = await spoolDir();
    const gw = await startTestGateway(spoolEnv(dir, { SPOOL_MAX_BYTES: '2500' }));
    try {
      await setFault(gw, { status: 503 });
      const accepted: string[] = [];
      let refused = '';
      for (let i = 0; i < 10 && !refused; i++) {
        const subject = `full ${i} ${randomUUID()}`;
        const reply = await send(gw, ['f@example.org'], message(subject) + 'y'.repeat(400) + '\r\n');
        if (reply.startsWith('250')) accepted.push(subject);
        else refused = reply;
      }
      assert.match(
        refused ?? '',
        /^452 4\.3\.1 Insufficient system storage: the delivery spool is full \(SPOOL_MAX_BYTES\), try again later \(trace [0-9a-f-]{36}\)$/,
      );
      assert.ok(accepted.length >= 1);
      // A client that declares its SIZE at MAIL learns it at RCPT, before uploading the body.
      await until('RCPT refused', async () => {
        const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
        try {
          assert.match(await c.cmd(`MAIL FROM:<${DEMO_USER}> SIZE=1000`), /^250 /);
          return /^452 4\.3\.1 /.test(await c.cmd('RCPT TO:<f@example.org>'));
        } finally {
          c.close();
        }
      });
      assert.ok(((await gw.metrics.spoolFull.get()).values[0]?.value ?? 0) >= 2);
      await fetch(`${gw.apiUrl}/_sandbox/faults`, { method: 'DELETE' });
      for (const s of accepted) await until(`delivery of ${s}`, async () => (await copies(gw, s)).length === 1);
    } finally {
      await gw.shutdown();
    }
  });
});
