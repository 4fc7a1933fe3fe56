// Spool mode on Redis, one gateway over real SMTP: the admin CLI as a separate process reads and
// changes the same spool (dead letters listed with their reason, retried, delivered); and a
// private redis-server killed under the gateway: DATA answers 451 at once (never a 250 for mail
// that was not written), and once Redis is back on its append-only file, everything answered 250
// is delivered once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { SpoolEntry } from '../../src/spool/backend.ts';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, setFault, startTestGateway } from '../helpers/gateway.ts';
import { startPrivateRedis } from '../helpers/private-redis.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { skipWithout } from '../helpers/tools.ts';
import { until } from '../helpers/until.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/smtp-gateway.js', import.meta.url).pathname;
const skipRedis = await skipWithoutRedis();

function spoolEnv(redisUrl: string, prefix: string, key: string): Record<string, string> {
  return {
    DELIVERY_MODE: 'spool',
    SPOOL_BACKEND: 'redis',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    SPOOL_KEY: key,
    SPOOL_RETRY_BASE_MS: '100',
    SPOOL_RETRY_CAP_MS: '300',
    SPOOL_POLL_MS: '50',
    API_MAX_ATTEMPTS: '1',
    API_TIMEOUT_MS: '1000',
    CIRCUIT_OPEN_MS: '300',
  };
}

async function cli(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'spool', ...args], {
      env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function send(port: number, subject: string): Promise<string> {
  const c = await RawSmtp.login(port, DEMO_USER, DEMO_PASSWORD);
  try {
    return await c.transaction(
      DEMO_USER,
      ['one@example.org'],
      `From: ${DEMO_USER}\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@redis-spool.example>\r\n\r\nbody\r\n`,
    );
  } finally {
    c.close();
  }
}

test(
  'the admin CLI, another process, sees a dead letter on the Redis spool with its reason, retries it, and it is delivered',
  { skip: skipRedis },
  async () => {
    const prefix = `test:${randomUUID()}:`;
    const env = spoolEnv(TEST_REDIS_URL, prefix, randomBytes(32).toString('hex'));
    const gw = await startTestGateway(env);
    try {
      await setFault(gw, { status: 422, count: 1 });
      const subject = `dead ${randomUUID()}`;
      const reply = await send(gw.ports.smtps, subject);
      const id = /^250 2\.0\.0 Ok: spooled as ([A-Za-z0-9-]+)$/.exec(reply)?.[1];
      assert.ok(id, reply);
      const dead = await until('a dead letter listed by the CLI', async () => {
        const r = await cli(env, 'list', '--dead', '--json');
        assert.equal(r.code, 0, r.stderr);
        const list = JSON.parse(r.stdout) as SpoolEntry[];
        return list.length === 1 ? list : false;
      });
      assert.equal(dead[0]?.id, id);
      assert.equal(dead[0]?.recipients[0]?.state, 'dead');
      assert.ok(dead[0]?.recipients[0]?.last_error, 'the reason is shown');
      assert.equal((await sandboxEmails(gw)).length, 0);

      const retried = await cli(env, 'retry', '--all-dead');
      assert.equal(retried.code, 0, retried.stderr);
      await until('the retried message delivered', async () =>
        (await sandboxEmails(gw)).some((e) => e.payload.content.subject === subject),
      );
      await until('the spool empty', async () => (await cli(env, 'list', '--json')).stdout.trim() === '[]');
      assert.equal((await sandboxEmails(gw)).filter((e) => e.payload.content.subject === subject).length, 1);
    } finally {
      await gw.shutdown();
      const redis = new Redis(TEST_REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  },
);

test(
  'Redis killed under a spool-mode gateway: DATA answers 451 at once, never 250; back on its AOF, every 250 is delivered once',
  { skip: skipRedis || skipWithout('redis-server', 'redis-server'), timeout: 120_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-spool-redis-aof-'));
    let redis = await startPrivateRedis({ aofDir: dir });
    // A delivery the kill cuts short keeps its lease until it lapses: short here.
    const gw = await startTestGateway({
      ...spoolEnv(redis.url, 'gw:', randomBytes(32).toString('hex')),
      MESSAGE_DEADLINE_MS: '2000',
      SPOOL_LEASE_MS: '3000',
    });
    try {
      // The API is down too: what was accepted stays in Redis across its crash.
      await setFault(gw, { status: 503 });
      const before = `before ${randomUUID()}`;
      assert.match(await send(gw.ports.smtps, before), /^250 2\.0\.0 Ok: spooled as /);

      await redis.kill();
      const started = Date.now();
      const during = await send(gw.ports.smtps, `during ${randomUUID()}`);
      assert.match(during, /^451 4\.3\.0 /, 'nothing was written: the client keeps the message');
      assert.ok(Date.now() - started < 5000, `answered at once (${Date.now() - started} ms)`);

      redis = await startPrivateRedis({ port: redis.port, aofDir: dir });
      const after = `after ${randomUUID()}`;
      await until('a 250 again once Redis is back', async () => /^250 /.test(await send(gw.ports.smtps, after)));
      await fetch(`${gw.apiUrl}/_sandbox/faults`, { method: 'DELETE' });
      await until(
        'both messages answered 250 delivered',
        async () => {
          const got = (await sandboxEmails(gw)).map((e) => e.payload.content.subject as string);
          return got.includes(before) && got.includes(after);
          // Since message traces came in, the message spooled before the kill is sometimes
          // delivered only about 30 s after Redis is back (not lost, not duplicated: asserted
          // below); the delay is a known open defect, so the wait allows for it.
        },
        60_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      const got = (await sandboxEmails(gw)).map((e) => e.payload.content.subject as string);
      assert.equal(got.filter((s) => s === before).length, 1);
      assert.equal(got.filter((s) => s === after).length, 1, 'the 451 retries before Redis came back were not spooled');
      assert.ok(!got.some((s) => s.startsWith('during ')), 'the message answered 451 was not taken');
    } finally {
      await gw.shutdown();
      await redis.kill();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
