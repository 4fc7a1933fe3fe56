// A fleet sharing one Redis spool, with real processes: two gateway children in spool mode
// (SPOOL_BACKEND=redis, the same REDIS_URL, key prefix and SPOOL_KEY) and the sandbox as a
// third process. Mail is submitted to ONE gateway while the API refuses every send, so it stays
// spooled; once the API is back both gateways deliver from the shared stream, and the second is
// SIGKILLed in the middle of it. Every message answered 250 must arrive once per recipient:
// the survivor takes over the dead one's leases when they lapse, and reconciles the sends the
// kill cut short before sending anything again.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, DEMO_USER } from '../helpers/gateway.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { settled, until as waitUntil } from '../helpers/until.ts';

const BIN = new URL('../../bin/smtp-gateway.js', import.meta.url).pathname;
const MESSAGES = 24;
const RECIPIENTS = ['one@example.org', 'two@example.org'];

interface Child {
  proc: ChildProcess;
  /** Resolves with the first capture of `pattern` on stderr. */
  ready: Promise<string>;
  /** JSON log lines from stdout. */
  logs: Record<string, unknown>[];
}

function start(args: string[], env: Record<string, string>, pattern: RegExp): Child {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let partial = '';
  proc.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  const ready = new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m) resolve(m[1] as string);
    });
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before it was ready:\n${text}`)));
  });
  return { proc, ready, logs };
}

/** Kills and waits for 'close': its last log lines are read by then ('exit' can come before). */
async function killed(c: Child, signal: NodeJS.Signals): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const closed = new Promise((r) => c.proc.once('close', r));
  c.proc.kill(signal);
  await closed;
}

/** Child processes start slowly on a loaded machine: 30 s rather than the helper's 20 s. */
const until = (what: string, fn: () => Promise<boolean>, timeoutMs = 30_000) => waitUntil(what, fn, timeoutMs);

/** Spool ids a gateway logged as delivered. */
function deliveredBy(c: Child): Set<string> {
  return new Set(c.logs.filter((l) => l.msg === 'spooled message delivered').map((l) => l.spoolId as string));
}

test(
  'two gateways on one Redis spool share the deliveries after an outage; one SIGKILLed mid-run: every 250 delivered once per recipient',
  { skip: await skipWithoutRedis(), timeout: 90_000 },
  async (t) => {
    const prefix = `test:${randomUUID()}:`;
    const sandbox = start(['sandbox'], { SANDBOX_PORT: '0', LOG_LEVEL: 'silent' }, /sandbox: (http:\/\/[0-9.]+:\d+)/);
    const gateways: Child[] = [];
    const cleanups: (() => void)[] = [];
    try {
      const api = await sandbox.ready;
      const fault = (body: unknown) =>
        fetch(`${api}/_sandbox/faults`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      // The outage: every send refused with 503 (logins and sender lists still answer).
      assert.equal((await fault({ status: 503, paths: ['/v2/emails'] })).status, 200);
      const env = {
        CAKEMAIL_API_URL: api,
        DELIVERY_MODE: 'spool',
        SPOOL_BACKEND: 'redis',
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        SPOOL_KEY: randomBytes(32).toString('hex'),
        SMTP_SUBMISSION_PORT: '0',
        SMTP_SMTPS_PORT: '0',
        SMTP_ALT_SUBMISSION_PORT: '0',
        ADMIN_PORT: '0',
        LOG_LEVEL: 'info',
        SPOOL_CONCURRENCY: '3',
        SPOOL_POLL_MS: '50',
        SPOOL_RETRY_BASE_MS: '100',
        SPOOL_RETRY_CAP_MS: '400',
        // Short, so that the killed gateway's leases lapse within the test.
        MESSAGE_DEADLINE_MS: '2000',
        SPOOL_LEASE_MS: '3000',
        RECONCILE_WAIT_MS: '1000',
        API_MAX_ATTEMPTS: '1',
        // The outage opens each gateway's circuit; it must not stay open long after recovery.
        CIRCUIT_OPEN_MS: '300',
      };
      const boot = () => start(['serve'], env, /SMTPS \(implicit TLS\):\s+[0-9.]+:(\d+)/);
      const redis = new Redis(TEST_REDIS_URL);
      redis.on('error', () => {});
      cleanups.push(() => redis.disconnect());
      const consumers = async () =>
        ((await redis.xinfo('CONSUMERS', `${prefix}spool:stream`, 'delivery').catch(() => [])) as string[][]).map(
          (c) => c[1] as string,
        );
      const a = boot();
      gateways.push(a);
      const port = Number(await a.ready);

      // Submitted to gateway A only: B gets its share through the Redis stream.
      const accepted = new Map<string, string>();
      for (let n = 0; n < MESSAGES; n++) {
        const subject = `fleet ${n} ${randomUUID()}`;
        const c = await RawSmtp.login(port, DEMO_USER, DEMO_PASSWORD);
        try {
          const reply = await c.transaction(
            DEMO_USER,
            RECIPIENTS,
            `From: ${DEMO_USER}\r\nTo: one@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@fleet.example>\r\n\r\nbody\r\n`,
          );
          const m = /^250 2\.0\.0 Ok: spooled as ([A-Za-z0-9-]+)$/.exec(reply);
          assert.ok(m, `spooled during the outage: ${reply}`);
          accepted.set(m[1] as string, subject);
        } finally {
          c.close();
        }
      }

      const emails = async (): Promise<{ subject: string; to: string }[]> => {
        const res = await fetch(`${api}/_sandbox/emails`);
        return ((await res.json()) as { payload: { email: string; content: { subject: string } } }[]).map((e) => ({
          subject: e.payload.content.subject,
          to: e.payload.email,
        }));
      };
      assert.equal((await emails()).length, 0, 'nothing delivered during the outage');

      // B starts once A has read the stream (and failed its sends), so that each one's consumer
      // name in the group is known: a consumer appears when it first reads an entry.
      await until('A reading the stream', async () => (await consumers()).length === 1);
      const [ownerA] = await consumers();
      const b = boot();
      gateways.push(b);
      await b.ready;
      await until('B reading the stream', async () => (await consumers()).length === 2);
      const ownerB = (await consumers()).find((c) => c !== ownerA) as string;
      assert.equal((await emails()).length, 0, 'nothing delivered during the outage');

      // The API is back, slowly: sends take a while, so the kill lands in the middle of some.
      assert.equal((await fetch(`${api}/_sandbox/faults`, { method: 'DELETE' })).status < 300, true);
      assert.equal((await fault({ latencyMs: 500, paths: ['/v2/emails'] })).status, 200);
      await until('both gateways delivering', async () => deliveredBy(a).size > 0 && deliveredBy(b).size > 0, 30_000);
      // B is killed while it holds messages with a send out (an attempt opened, no result yet).
      let heldByB: string[] = [];
      await until(
        'B in the middle of a send',
        async () => {
          const held: string[] = [];
          let sending = false;
          for (const id of await redis.zrange(`${prefix}spool:leased`, '0', '-1')) {
            if ((await redis.hget(`${prefix}spool:m:${id}`, 'owner')) !== ownerB) continue;
            held.push(id);
            const records = (await redis.lrange(`${prefix}spool:j:${id}`, 0, -1)).map(
              (r) => JSON.parse(r) as { type: string; tag?: string; at: number },
            );
            const results = new Set(records.filter((r) => r.type === 'result').map((r) => r.tag));
            // Opened less than 200 ms ago: its answer (500 ms) cannot arrive before the kill lands.
            if (records.some((r) => r.type === 'open' && !results.has(r.tag) && r.at > Date.now() - 200))
              sending = true;
          }
          heldByB = held;
          return sending;
        },
        20_000,
      );
      const journalsAtKill = new Map<string, string[]>();
      await killed(b, 'SIGKILL');
      for (const id of heldByB) journalsAtKill.set(id, await redis.lrange(`${prefix}spool:j:${id}`, '0', '-1'));
      const byBBeforeKill = deliveredBy(b);

      const expected = accepted.size * RECIPIENTS.length;
      await until(
        `all ${expected} recipients of the ${accepted.size} messages answered 250`,
        async () => {
          const got = await emails();
          return [...accepted.values()].every((s) => got.filter((e) => e.subject === s).length >= RECIPIENTS.length);
        },
        45_000,
      );
      // A takes B's messages over only once their leases lapse (SPOOL_LEASE_MS after B took them),
      // which can be after every email has arrived: the sandbox keeps a send whose client died. So
      // nothing is counted before the spool is empty (A has settled every one of them), and A's log
      // lines, which come through a pipe, get a moment more.
      await until('the spool emptied', async () => (await redis.zcard(`${prefix}spool:all`)) === 0, 15_000);
      const reconciledLines = () =>
        a.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('unanswered send')).length;
      await settled(reconciledLines, (n) => n > 0, 5000);
      // Anything still in flight lands before duplicates are counted.
      await new Promise((r) => setTimeout(r, 1500));
      const got = await emails();
      const counts = new Map<string, number>();
      for (const e of got) counts.set(`${e.subject} → ${e.to}`, (counts.get(`${e.subject} → ${e.to}`) ?? 0) + 1);
      const twice = [...counts.entries()].filter(([, n]) => n > 1);
      const byA = deliveredBy(a);
      // Sends B had open when it died, looked up in the API's logs by A once B's leases lapsed.
      // Held by B and not settled by it: finished after B died, by A (settled and logged by A, or,
      // when every recipient's queued result was already journalled, removed when A leased it).
      const takenOver = heldByB.filter((id) => !byBBeforeKill.has(id));
      const reconciled = reconciledLines();
      t.diagnostic(
        `messages answered 250: ${accepted.size}; settled as delivered by A: ${byA.size}, by B before its SIGKILL: ${byBBeforeKill.size}; held by B when killed: ${heldByB.length}, of which finished by A: ${takenOver.length} (${takenOver.filter((id) => byA.has(id)).length} delivered, the rest already delivered and removed); sends cut by the kill reconciled by A: ${reconciled}; recipients delivered: ${got.length}, duplicated: ${twice.length}`,
      );
      assert.deepEqual(twice, [], 'no recipient twice');
      assert.equal(got.length, expected, 'every recipient of every 250 delivered, nothing else');
      assert.ok(byA.size > 0 && byBBeforeKill.size > 0, 'both gateways delivered from the shared spool');
      const why = () =>
        JSON.stringify({
          journalsAtKill: Object.fromEntries(journalsAtKill),
          a: a.logs.filter((l) => heldByB.includes(l.spoolId as string)).map((l) => [l.time, l.spoolId, l.msg]),
        });
      assert.ok(takenOver.length > 0, `A took over what B held with a send out: ${why()}`);
      assert.ok(reconciled > 0, `the sends the kill cut short were looked up before anything was sent again: ${why()}`);
      for (const id of byBBeforeKill) assert.ok(accepted.has(id));

      // The spool is empty again (above) and its byte count back to zero.
      assert.equal(await redis.get(`${prefix}spool:bytes`), '0');
    } finally {
      for (const c of cleanups) c();
      for (const g of gateways) await killed(g, 'SIGKILL');
      await killed(sandbox, 'SIGTERM');
      const redis = new Redis(TEST_REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  },
);
