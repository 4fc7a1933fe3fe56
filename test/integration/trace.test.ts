// "What happened to my message?": every final reply to DATA names a trace, and the trace tells
// the story (envelope, decisions, each API attempt, each recipient's Cakemail id, the reply).
// Real SMTP over TLS against the sandbox with fault injection.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  sandboxEmails,
  setFault,
  startTestGateway,
  useTestGateway,
} from '../helpers/gateway.ts';
import { until } from '../helpers/until.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import type { TraceRecipient } from '../../src/trace/record.ts';

const gw = useTestGateway({ API_TIMEOUT_MS: '400', MESSAGE_DEADLINE_MS: '5000', API_MAX_ATTEMPTS: '3' });

function message(from: string, to: string, subject: string, extra = ''): string {
  return `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@client.example>\r\nX-Mailer: trace-test\r\nX-Spam-Status: No\r\n${extra}\r\nbody of ${subject}\r\n`;
}

async function send(rcpts: string[], body: string): Promise<string> {
  const c = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(DEMO_USER, rcpts, body);
  } finally {
    c.close();
  }
}

const TRACE = /\(trace ([0-9a-f-]{36})\)$/;

test('a 250 for two recipients: the id in the reply finds a trace holding both Cakemail ids and every attempt', async () => {
  const rcpts = ['ann@example.org', 'bob@example.net'];
  const reply = await send(rcpts, message(DEMO_USER, rcpts.join(', '), 'two recipients', 'X-Tags: welcome\r\n'));
  const id = /^250 2\.0\.0 Ok: queued as ([0-9a-f-]{36})$/.exec(reply)?.[1];
  assert.ok(id, reply);
  const trace = await gw().traces.get(id);
  assert.ok(trace, 'the gateway id of a several-recipient 250 is the trace id');
  assert.equal(trace.id, id);
  const stored = await sandboxEmails(gw());
  for (const r of rcpts) {
    const t: TraceRecipient | undefined = trace.recipients.find((x) => x.address === r);
    const email = stored.find((e) => e.payload.email === r);
    assert.ok(t, r);
    assert.ok(email, r);
    assert.equal(t.result, 'queued');
    assert.equal(t.cakemailId, email.id, 'the Cakemail id is the one the API gave');
    assert.equal(t.attempts.length, 1);
    assert.equal(t.attempts[0]!.status, 201);
    assert.equal(t.attempts[0]!.cakemailId, email.id);
  }
  assert.deepEqual(trace.envelope, { from: DEMO_USER, to: rcpts });
  assert.equal(trace.login, 'd***@example.com', 'the login is masked');
  assert.equal(trace.client, '127.0.0.1');
  assert.ok(trace.size && trace.size > 100);
  assert.equal(trace.messageId, 'tworecipients@client.example');
  assert.equal(trace.reply?.code, 250);
  const notes = trace.notes.map((n) => n.text).join('\n');
  assert.match(notes, /headers forwarded: .*Message-ID.*X-Mailer/);
  assert.match(notes, /headers not forwarded .*X-Spam-Status/);
  assert.match(notes, /control headers honoured and consumed: X-Tags/);
  assert.ok(!JSON.stringify(trace).includes('body of two recipients'), 'no body in a trace');
  assert.ok(!JSON.stringify(trace).includes(DEMO_PASSWORD), 'no password in a trace');
});

test("a one-recipient 250 names Cakemail's id, and that id finds the trace", async () => {
  const reply = await send(['solo@example.org'], message(DEMO_USER, 'solo@example.org', 'solo'));
  const id = /queued as (\S+)$/.exec(reply)![1]!;
  const trace = await gw().traces.get(id);
  assert.ok(trace);
  assert.notEqual(trace.id, id);
  assert.equal(trace.recipients[0]?.cakemailId, id);
});

test('a refusal carries (trace <id>) and its trace names the reason; codes unchanged', async () => {
  const reply = await send(['x@example.org'], message('pending@example.com', 'x@example.org', 'refused'));
  assert.match(
    reply,
    /^550 5\.7\.1 Sender <pending@example\.com> is not a confirmed sender of this Cakemail account \(trace [0-9a-f-]{36}\)$/,
  );
  const trace = await gw().traces.get(TRACE.exec(reply)![1]!);
  assert.ok(trace);
  assert.equal(trace.reply?.code, 550);
  assert.equal(trace.reply?.outcome, 'sender_not_allowed');
  assert.ok(
    trace.notes.some((n) => n.stage === 'sender' && /pending@example\.com is not a confirmed sender/.test(n.text)),
  );
  assert.equal(trace.recipients[0]?.attempts.length, 0, 'no API send');
});

test('a 451 after API faults: the trace shows each attempt with its status, latency and error', async () => {
  await setFault(gw(), { status: 503, paths: ['/v2/emails'], body: { detail: 'maintenance window' } });
  const reply = await send(['retry@example.org'], message(DEMO_USER, 'retry@example.org', 'api down'));
  assert.match(reply, /^451 4\.4\.1 Cakemail API unavailable .* \(trace [0-9a-f-]{36}\)$/);
  const trace = await gw().traces.get(TRACE.exec(reply)![1]!);
  assert.ok(trace);
  const r = trace.recipients[0]!;
  assert.equal(r.result, 'failed');
  assert.equal(r.attempts.length, 3, JSON.stringify(r.attempts));
  for (const a of r.attempts) {
    assert.equal(a.kind, 'send');
    assert.equal(a.status, 503);
    assert.match(a.error!, /HTTP 503: maintenance window/);
    assert.ok(a.latencyMs >= 0);
  }
  assert.equal(trace.reply?.code, 451);
});

test('a message refused for its size at DATA still gets a trace id', async () => {
  const big = message(DEMO_USER, 'x@example.org', 'big', `X-Pad: ${'a'.repeat(900)}\r\n`);
  const c = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    assert.match(await c.cmd(`MAIL FROM:<${DEMO_USER}>`), /^250 /);
    assert.match(await c.cmd('RCPT TO:<x@example.org>'), /^250 /);
    assert.match(await c.cmd('DATA'), /^354 /);
    c.write(`${big.repeat(11_000)}.\r\n`);
    const reply = await c.reply(60_000);
    assert.match(
      reply,
      /^552 5\.3\.4 Message refused: message is \d+ bytes, the limit is 10485760 bytes \(trace [0-9a-f-]{36}\)$/,
    );
    const trace = await gw().traces.get(TRACE.exec(reply)![1]!);
    assert.match(trace!.notes[0]!.text, /too_large/);
  } finally {
    c.close();
  }
});

test('spool mode: the spool id in the 250 finds the trace, which gains every delivery pass and the dead-letter reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-trace-spool-'));
  const spool = await startTestGateway({
    DELIVERY_MODE: 'spool',
    SPOOL_DIR: dir,
    SPOOL_RETRY_BASE_MS: '100',
    SPOOL_RETRY_CAP_MS: '300',
    SPOOL_POLL_MS: '50',
    API_MAX_ATTEMPTS: '1',
    MESSAGE_DEADLINE_MS: '5000',
    CIRCUIT_OPEN_MS: '200',
  });
  try {
    // The first send of the first pass fails; the rest goes through on later passes.
    await setFault(spool, { status: 503, paths: ['/v2/emails'], count: 1 });
    const c = await RawSmtp.login(spool.ports.smtps, DEMO_USER, DEMO_PASSWORD);
    const rcpts = ['ok@example.org', 'no@rejected.example'];
    const reply = await c.transaction(DEMO_USER, rcpts, message(DEMO_USER, rcpts.join(', '), 'spooled trace'));
    c.close();
    const spoolId = /^250 2\.0\.0 Ok: spooled as (\S+)$/.exec(reply)?.[1];
    assert.ok(spoolId, reply);
    const done = await until('every recipient delivered or dead in the trace', async () => {
      const t = await spool.traces.get(spoolId);
      return t && t.recipients.every((r) => r.result === 'delivered' || r.result === 'dead') ? t : undefined;
    });
    assert.equal(done.spool?.id, spoolId);
    assert.ok(done.spool!.deliveries.length >= 2, 'the failed pass and the later one');
    const ok = done.recipients.find((r) => r.address === 'ok@example.org')!;
    const no = done.recipients.find((r) => r.address === 'no@rejected.example')!;
    assert.equal(ok.result, 'delivered');
    assert.equal(ok.cakemailId, (await sandboxEmails(spool)).find((e) => e.payload.email === 'ok@example.org')?.id);
    assert.equal(no.result, 'dead');
    assert.match(no.reason!, /Cakemail refused it: .*rejected/);
    const statuses = done.recipients.flatMap((r) => r.attempts.map((a) => a.status));
    assert.ok(statuses.includes(503), `the faulted attempt is in the trace: ${statuses.join(',')}`);
    assert.ok(done.spool!.deliveries.some((d) => d.result === 'rescheduled' && d.nextAttemptAt));
  } finally {
    await spool.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
});
