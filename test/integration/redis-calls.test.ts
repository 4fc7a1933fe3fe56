// What the fleet state costs in Redis round trips, counted on a real Redis with MONITOR: a
// client's connection, login and first message, then each further message on the same session.
// Every decision (the AUTH limits, the claim and dedupe record of a recipient) is one Lua script
// or one command: the login limits alone used to take about 11 calls and a session with one
// message 29.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, DEMO_USER, sandboxEmails, startTestGateway } from '../helpers/gateway.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { settled } from '../helpers/until.ts';

/** Round trips from the gateway's connections: commands a Lua script ran inside are not counted, a MULTI … EXEC is one. */
class CallCounter {
  readonly lines: string[] = [];
  readonly #sources = new Set<string>();
  readonly #inMulti = new Set<string>();
  #count = 0;

  constructor(private readonly prefix: string) {}

  seen(args: string[], source: string): void {
    if (source === 'lua') return;
    if (!this.#sources.has(source)) {
      // The gateway's connections are the ones that name its key prefix.
      if (!args.some((a) => a.includes(this.prefix))) return;
      this.#sources.add(source);
    }
    const cmd = (args[0] ?? '').toUpperCase();
    this.lines.push(args.map((a) => (a.length > 60 ? a.slice(0, 60) + '…' : a)).join(' '));
    if (this.#inMulti.has(source)) {
      if (cmd === 'EXEC' || cmd === 'DISCARD') this.#inMulti.delete(source);
      return;
    }
    if (cmd === 'MULTI') this.#inMulti.add(source);
    this.#count++;
  }

  /** Calls since the last take(), once no new one has come for a moment. */
  async take(): Promise<{ calls: number; lines: string[] }> {
    let last = -1;
    await settled(
      async () => {
        const stable = this.#count === last;
        last = this.#count;
        await new Promise((r) => setTimeout(r, 150));
        return stable;
      },
      (stable) => stable,
      5000,
    );
    const out = { calls: this.#count, lines: this.lines.splice(0) };
    this.#count = 0;
    return out;
  }
}

function body(subject: string): string {
  return `From: ${DEMO_USER}\r\nTo: one@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@client.example>\r\n\r\ncounted\r\n`;
}

test('Redis round trips: at most 3 for each further message on a session (one claim-and-check, one record-and-release)', async (t) => {
  const skip = await skipWithoutRedis();
  if (skip) return t.skip(skip);
  const prefix = `test:${randomUUID()}:`;
  const client = new Redis(TEST_REDIS_URL);
  const monitor = await client.monitor();
  const counter = new CallCounter(prefix);
  monitor.on('monitor', (_time: string, args: string[], source: string) => counter.seen(args, source));
  const gw = await startTestGateway({ REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix });
  try {
    // One session first, from another address: the process loads its scripts and the fleet's
    // HMAC key once, not per login.
    const warm = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD, '127.0.0.2');
    assert.match(await warm.transaction(DEMO_USER, ['warm@example.org'], body('warm-up')), /^250 /);
    warm.close();
    await counter.take();

    // A client never seen before: its address has no record of a good login for this user.
    const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD, '127.0.0.3');
    const subject = `counted ${randomUUID()}`;
    assert.match(await c.transaction(DEMO_USER, ['one@example.org'], body(subject)), /^250 2\.0\.0 Ok: queued/);
    const first = await counter.take();
    const further: number[] = [];
    for (let i = 0; i < 3; i++) {
      assert.match(await c.transaction(DEMO_USER, ['one@example.org'], body(`${subject} ${i}`)), /^250 /);
      const n = await counter.take();
      further.push(n.calls);
      assert.ok(n.calls <= 3, `message ${i + 2} on the session took ${n.calls} Redis calls:\n${n.lines.join('\n')}`);
    }
    c.close();
    t.diagnostic(`connection + login + 1 message: ${first.calls} Redis calls; further messages: ${further.join(', ')}`);
    assert.equal((await sandboxEmails(gw)).filter((e) => e.payload.content.subject.startsWith(subject)).length, 4);
  } finally {
    await gw.shutdown();
    monitor.disconnect();
    client.disconnect();
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
});
