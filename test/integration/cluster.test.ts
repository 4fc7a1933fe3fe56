// WORKERS > 1: several gateway processes share the SMTP ports; the primary serves readiness and
// the summed metrics, says at start that state is per process without Redis, and drains every
// worker on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { parseLoadOptions } from '../../src/loadtest/options.ts';
import { runLoad } from '../../src/loadtest/run.ts';
import { startApiStandin, type ApiStandin } from '../../scripts/bench/api-standin.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('WORKERS > 1', () => {
  let api: ApiStandin;
  before(async () => {
    api = await startApiStandin({ latencyMs: 1 });
  });
  after(() => api.close());

  it('needs CAKEMAIL_API_URL: the embedded sandbox is one process', () => {
    const r = loadConfig({ WORKERS: '2' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.errors.join('\n'), /WORKERS > 1 needs CAKEMAIL_API_URL/);
    assert.equal(loadConfig({ WORKERS: '2', CAKEMAIL_API_URL: api.url }).ok, true);
  });

  it('serves from two processes sharing the ports, counts every message once, says state is per process, and drains on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        WORKERS: '2',
        CAKEMAIL_API_URL: api.url,
        SMTP_SUBMISSION_PORT: '0',
        SMTP_SMTPS_PORT: '0',
        SMTP_ALT_SUBMISSION_PORT: '0',
        ADMIN_PORT: '0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    try {
      // The banner goes to stderr at once; the log line goes to stdout through pino's
      // asynchronous destination and can arrive a few ms later: wait for both.
      for (
        let i = 0;
        i < 1200 && !(stderr.includes('Shared state') && stdout.includes('WORKERS > 1 without REDIS_URL'));
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      assert.match(stderr, /running \(2 worker processes\)/);
      assert.match(stderr, /Shared state:\s+none: dedupe records are per worker process \(set REDIS_URL/);
      assert.match(stdout, /WORKERS > 1 without REDIS_URL/);
      const port = Number(/STARTTLS\): [^\s]+:(\d+)/.exec(stderr)?.[1]);
      const admin = /(http:\/\/[^\s]+)\/metrics/.exec(stderr)?.[1];
      assert.equal((await fetch(`${admin}/health/ready`)).status, 200);

      const parsed = parseLoadOptions([
        '--port',
        String(port),
        '--insecure',
        '--no-progress',
        '--messages',
        '40',
        '--concurrency',
        '8',
        '--per-connection',
        '5',
      ]);
      assert.equal(parsed.ok, true);
      if (parsed.ok !== true) return;
      const r = await runLoad(parsed.options);
      assert.equal(r.accepted, 40);
      assert.equal(api.counts().emails, 40);
      // Two worker processes started their listeners; the primary's /metrics adds them up.
      assert.equal(stdout.match(/"msg":"gateway ready"/g)?.length, 2);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      assert.match(metrics, /^smtp_gateway_messages_total\{outcome="accepted"\} 40$/m);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
  });
});
