// Crash safety of the directory spool with real processes: a gateway child in spool mode, sending
// to a sandbox running as its own process, is SIGKILLed twice while it delivers (and while
// clients are still submitting), then restarted on the same SPOOL_DIR. Every message answered
// 250 must arrive, and no recipient twice: attempts cut by the kill are reconciled through the
// API's logs by their tag before anything is sent again.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until as waitUntil } from '../helpers/until.ts';

const BIN = new URL('../../bin/smtp-gateway.js', import.meta.url).pathname;

interface Child {
  proc: ChildProcess;
  /** Resolves with the first capture of `pattern` on stderr. */
  line: Promise<string>;
}

function start(args: string[], env: Record<string, string>, pattern: RegExp): Child {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const line = new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m) resolve(m[1] as string);
    });
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before it was ready:\n${text}`)));
  });
  return { proc, line };
}

async function killed(c: Child, signal: NodeJS.Signals): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill(signal);
  await exited;
}

/** Child processes start slowly on a loaded machine: 30 s rather than the helper's 20 s. */
const until = (what: string, fn: () => Promise<boolean>, timeoutMs = 30_000) => waitUntil(what, fn, timeoutMs);

test(
  'SIGKILL during delivery, twice: every message answered 250 is delivered, no recipient twice',
  { timeout: 90_000 },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-spool-crash-'));
    const sandbox = start(['sandbox'], { SANDBOX_PORT: '0', LOG_LEVEL: 'silent' }, /sandbox: (http:\/\/[0-9.]+:\d+)/);
    let gateway: Child | undefined;
    try {
      const api = await sandbox.line;
      // Every send takes a while, so that kills land in the middle of sends.
      const fault = await fetch(`${api}/_sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ latencyMs: 150 }),
      });
      assert.equal(fault.status, 200, await fault.text());
      const env = {
        CAKEMAIL_API_URL: api,
        DELIVERY_MODE: 'spool',
        SPOOL_DIR: dir,
        SMTP_SUBMISSION_PORT: '0',
        SMTP_SMTPS_PORT: '0',
        SMTP_ALT_SUBMISSION_PORT: '0',
        ADMIN_PORT: '0',
        LOG_LEVEL: 'silent',
        SPOOL_CONCURRENCY: '4',
        SPOOL_POLL_MS: '50',
        SPOOL_RETRY_BASE_MS: '100',
        SPOOL_RETRY_CAP_MS: '300',
        RECONCILE_WAIT_MS: '1000',
      };
      const boot = () => start(['serve'], env, /SMTPS \(implicit TLS\):\s+[0-9.]+:(\d+)/);

      const accepted = new Set<string>();
      const attempted = new Set<string>();
      const recipients = ['one@example.org', 'two@example.org'];
      let port = 0;
      let sending = true;
      // Clients keep submitting across the kills; only a 250 is a promise to deliver.
      const submitter = (async () => {
        let n = 0;
        while (sending) {
          if (port === 0) {
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          const subject = `crash ${n++} ${randomUUID()}`;
          attempted.add(subject);
          try {
            const c = await RawSmtp.login(port, DEMO_USER, DEMO_PASSWORD);
            try {
              const reply = await c.transaction(
                DEMO_USER,
                recipients,
                `From: ${DEMO_USER}\r\nTo: one@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@crash.example>\r\n\r\nbody\r\n`,
              );
              if (reply.startsWith('250 2.0.0 Ok: spooled as ')) accepted.add(subject);
            } finally {
              c.close();
            }
          } catch {
            // The gateway died under this session: no 250, the client would retry.
          }
        }
      })();

      const emails = async (): Promise<{ subject: string; to: string; at: string; tags: string[] }[]> => {
        const res = await fetch(`${api}/_sandbox/emails`);
        return (
          (await res.json()) as {
            receivedAt: string;
            payload: { email: string; tags?: string[]; content: { subject: string } };
          }[]
        ).map((e) => ({
          subject: e.payload.content.subject,
          to: e.payload.email,
          at: e.receivedAt,
          tags: e.payload.tags ?? [],
        }));
      };

      for (const threshold of [6, 20]) {
        gateway = boot();
        port = Number(await gateway.line);
        await until(`${threshold} deliveries`, async () => (await emails()).length >= threshold);
        port = 0;
        await killed(gateway, 'SIGKILL');
      }
      sending = false;
      await submitter;

      gateway = boot();
      await gateway.line;
      const expected = accepted.size * recipients.length;
      await until(
        `all ${expected} recipients of the ${accepted.size} messages answered 250`,
        async () => {
          const got = await emails();
          return [...accepted].every((s) => got.filter((e) => e.subject === s).length >= recipients.length);
        },
        45_000,
      );
      // Every email can be in before the restarted gateway has settled what the kills cut short (it
      // may still be reconciling those sends): duplicates are counted once the spool is empty.
      await until('the spool emptied', async () => (await readdir(join(dir, 'msg'))).every((n) => !n.endsWith('.msg')));
      // Let anything still in flight land before counting duplicates.
      await new Promise((r) => setTimeout(r, 1500));
      const got = await emails();
      const counts = new Map<string, number>();
      for (const e of got) counts.set(`${e.subject} → ${e.to}`, (counts.get(`${e.subject} → ${e.to}`) ?? 0) + 1);
      const twice = [...counts.entries()].filter(([, n]) => n > 1);
      t.diagnostic(
        `kills: 2, messages answered 250: ${accepted.size} of ${attempted.size} submitted, recipients delivered: ${got.length}, duplicated: ${twice.length}`,
      );
      // On failure, each copy's arrival time and attempt tag tell which attempts were resent.
      const detail = twice
        .map(([k]) =>
          got.filter((e) => `${e.subject} → ${e.to}` === k).map((e) => `${k} at ${e.at} tags ${e.tags.join(',')}`),
        )
        .flat();
      assert.deepEqual(twice, [], `no recipient twice:\n${detail.join('\n')}`);
      const lost = [...accepted].filter((s) => got.filter((e) => e.subject === s).length !== recipients.length);
      assert.deepEqual(lost, [], 'every 250 delivered');
      assert.ok(accepted.size >= 10, `enough messages went through the kills (${accepted.size} of ${attempted.size})`);
    } finally {
      if (gateway) await killed(gateway, 'SIGKILL');
      await killed(sandbox, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    }
  },
);
