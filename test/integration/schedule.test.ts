// Scheduled sending over real SMTP. Spool mode holds a message until its send time
// (X-SMTPAPI send_at, X-Mailgun-Deliver-By, X-MC-SendAt, X-Cakemail-Send-At), across a restart,
// shows the due time in the spool listing and sends it within seconds after; sync mode refuses
// naming the header and pointing to spool mode; past 72 h ahead is refused by name. On the code
// before scheduling, X-Mailgun-Deliver-By and X-MC-SendAt were sent at once in both modes.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import { adminRequest, TEST_ADMIN_TOKEN } from '../helpers/admin.ts';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  sandboxEmails,
  sandboxRequests,
  startTestGateway,
  useTestGateway,
} from '../helpers/gateway.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until } from '../helpers/until.ts';

async function submit(gw: Gateway, header: string, subject = randomUUID()): Promise<string> {
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(
      DEMO_USER,
      ['customer@example.org'],
      `From: ${DEMO_USER}\r\nTo: customer@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@app.example>\r\n${header}\r\n\r\nreminder\r\n`,
    );
  } finally {
    c.close();
  }
}

/** The headers of each dialect asking for `at` (whole seconds: every format has them). */
const HEADERS: [string, (at: Date) => string][] = [
  ['X-SMTPAPI send_at', (at) => `X-SMTPAPI: {"send_at": ${Math.floor(at.getTime() / 1000)}}`],
  ['X-Mailgun-Deliver-By', (at) => `X-Mailgun-Deliver-By: ${at.toUTCString()}`],
  ['X-MC-SendAt', (at) => `X-MC-SendAt: ${at.toISOString().slice(0, 19).replace('T', ' ')}`],
  ['X-Cakemail-Send-At', (at) => `X-Cakemail-Send-At: ${at.toISOString().slice(0, 19)}Z`],
];

const inSeconds = (s: number): Date => new Date(Math.ceil((Date.now() + s * 1000) / 1000) * 1000);
const posts = async (gw: Gateway): Promise<number> => (await sandboxRequests(gw))['POST /v2/emails'] ?? 0;

describe('sync mode refuses a scheduled send naming the header and pointing to spool mode', () => {
  const gateway = useTestGateway();
  for (const [name, header] of HEADERS)
    test(name, async () => {
      const reply = await submit(gateway(), header(inSeconds(25)));
      assert.match(reply, /^554 5\.6\.0 Message refused: /);
      assert.ok(reply.includes(`${name} asks to send at`), reply);
      assert.match(reply, /scheduled sending needs spool mode \(DELIVERY_MODE=spool\)/);
      assert.equal(await posts(gateway()), 0, 'nothing sent early');
    });
});

describe('FUTURERELEASE (RFC 4865) is not offered: its MAIL parameters are refused by name', () => {
  const gateway = useTestGateway();
  for (const param of ['HOLDFOR=60', 'holduntil=2030-01-01T00:00:00Z'])
    test(param, async () => {
      const c = await RawSmtp.login(gateway().ports.smtps, DEMO_USER, DEMO_PASSWORD);
      try {
        const ehlo = await c.cmd('EHLO client.example');
        assert.doesNotMatch(ehlo, /FUTURERELEASE/);
        const reply = await c.cmd(`MAIL FROM:<${DEMO_USER}> ${param}`);
        assert.match(reply, /^555 5\.5\.4 MAIL parameter HOLD(FOR|UNTIL) not supported: FUTURERELEASE is not offered/);
      } finally {
        c.close();
      }
    });
});

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function spoolEnv(dir: string): Record<string, string> {
  return { DELIVERY_MODE: 'spool', SPOOL_DIR: dir, SPOOL_POLL_MS: '200', ADMIN_TOKEN: TEST_ADMIN_TOKEN };
}

describe('spool mode holds a scheduled message until it is due', () => {
  for (const [name, header] of HEADERS)
    test(`${name}: held, listed with its due time, sent within seconds after it`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gw-schedule-'));
      dirs.push(dir);
      const gw = await startTestGateway(spoolEnv(dir));
      try {
        const due = inSeconds(4);
        const reply = await submit(gw, header(due));
        assert.equal(
          reply.replace(/as \S+,/, 'as <id>,'),
          `250 2.0.0 Ok: spooled as <id>, held until ${due.toISOString()}`,
        );
        const [entry] = (await adminRequest(gw.ports.admin, '/spool')).body as { next_attempt_at: string }[];
        assert.equal(entry!.next_attempt_at, due.toISOString(), 'the listing shows the due time');
        await until('the message to be due', async () => Date.now() >= due.getTime() - 500, 10_000);
        assert.equal(await posts(gw), 0, 'not sent before its time');
        await until('delivery after the due time', async () => (await posts(gw)) === 1, 10_000);
        const sentAt = Date.now();
        assert.ok(sentAt >= due.getTime(), 'not before the due time');
        assert.ok(sentAt - due.getTime() < 5000, `sent ${sentAt - due.getTime()} ms after the due time`);
      } finally {
        await gw.shutdown();
      }
    });

  test('a held message survives a restart and is sent after its time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-schedule-'));
    dirs.push(dir);
    const first = await startTestGateway(spoolEnv(dir));
    const due = inSeconds(5);
    try {
      assert.match(await submit(first, `X-Mailgun-Deliver-By: ${due.toUTCString()}`), /held until/);
    } finally {
      await first.shutdown();
    }
    const second = await startTestGateway(spoolEnv(dir));
    try {
      const [entry] = (await adminRequest(second.ports.admin, '/spool')).body as { next_attempt_at: string }[];
      assert.equal(entry!.next_attempt_at, due.toISOString(), 'still held after the restart');
      assert.equal(await posts(second), 0);
      await until('delivery after the restart', async () => (await posts(second)) === 1, 15_000);
      assert.ok(Date.now() >= due.getTime());
    } finally {
      await second.shutdown();
    }
  });

  test('a time already past sends now; more than 72 h ahead is refused by name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-schedule-'));
    dirs.push(dir);
    const gw = await startTestGateway(spoolEnv(dir));
    try {
      assert.match(await submit(gw, `X-MC-SendAt: 2020-01-01 00:00:00`), /^250 2\.0\.0 Ok: spooled as \S+$/);
      await until('the past-due message to be sent', async () => (await posts(gw)) === 1);
      const far = new Date(Date.now() + 73 * 3600 * 1000);
      const reply = await submit(gw, `X-SMTPAPI: {"send_at": ${Math.floor(far.getTime() / 1000)}}`);
      assert.match(reply, /^554 5\.6\.0 Message refused: X-SMTPAPI send_at asks to send at .*, more than 72 h ahead/);
      assert.equal((await sandboxEmails(gw)).length, 1);
    } finally {
      await gw.shutdown();
    }
  });
});

const skipRedis = await skipWithoutRedis();

describe('the Redis spool holds a scheduled message too', { skip: skipRedis }, () => {
  test('X-Mailgun-Deliver-By: held in the delay set, sent after its time', async () => {
    const gw = await startTestGateway({
      DELIVERY_MODE: 'spool',
      SPOOL_BACKEND: 'redis',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `sched-${randomUUID()}:`,
      SPOOL_KEY: randomBytes(32).toString('hex'),
      SPOOL_POLL_MS: '200',
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    });
    try {
      const due = inSeconds(4);
      assert.match(await submit(gw, `X-Mailgun-Deliver-By: ${due.toUTCString()}`), /held until/);
      const [entry] = (await adminRequest(gw.ports.admin, '/spool')).body as { next_attempt_at: string }[];
      assert.equal(entry!.next_attempt_at, due.toISOString());
      await until('the message to be due', async () => Date.now() >= due.getTime() - 500, 10_000);
      assert.equal(await posts(gw), 0, 'not sent before its time');
      await until('delivery after the due time', async () => (await posts(gw)) === 1, 10_000);
    } finally {
      await gw.shutdown();
    }
  });
});
