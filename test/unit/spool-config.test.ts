// Spool settings: the combinations that cannot work are refused at start, naming the settings.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeConfig, loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { isStartupError } from '../../src/config/startup-error.ts';
import { openSpool } from '../../src/spool/open.ts';

const KEY = 'ab'.repeat(32);

function errors(env: Record<string, string>): string[] {
  const r = loadConfig(env);
  return r.ok ? [] : r.errors;
}

test('spool defaults: sync mode, a ./spool directory, 1 GiB, a day', () => {
  const r = loadConfig({});
  assert.ok(r.ok);
  assert.equal(r.config.deliveryMode, 'sync');
  assert.equal(r.config.spoolBackend, 'dir');
  assert.equal(r.config.spoolDir, './spool');
  assert.equal(r.config.spoolMaxBytes, 1024 ** 3);
  assert.equal(r.config.spoolMaxAgeS, 86400);
});

test('SPOOL_BACKEND=redis needs REDIS_URL and SPOOL_KEY, and says so', () => {
  const e = errors({ DELIVERY_MODE: 'spool', SPOOL_BACKEND: 'redis' });
  assert.ok(
    e.some((x) => x.includes('SPOOL_BACKEND=redis needs REDIS_URL')),
    e.join('\n'),
  );
  assert.ok(
    e.some((x) => x.includes('needs SPOOL_KEY')),
    e.join('\n'),
  );
  assert.deepEqual(
    errors({ DELIVERY_MODE: 'spool', SPOOL_BACKEND: 'redis', REDIS_URL: 'redis://127.0.0.1:6379', SPOOL_KEY: KEY }),
    [],
  );
});

test('a directory spool belongs to one process; leases must outlast a delivery; a bad key is refused without showing it', () => {
  assert.ok(
    errors({ DELIVERY_MODE: 'spool', WORKERS: '2', CAKEMAIL_API_URL: 'https://api.example' }).some((x) =>
      x.includes('WORKERS=1'),
    ),
  );
  assert.ok(
    errors({ DELIVERY_MODE: 'spool', SPOOL_LEASE_MS: '1000', MESSAGE_DEADLINE_MS: '60000' }).some((x) =>
      x.startsWith('SPOOL_LEASE_MS must exceed'),
    ),
  );
  const bad = errors({ SPOOL_KEY: 'not-a-key-secret-value' });
  assert.equal(bad.length, 1);
  assert.ok(bad[0]?.startsWith('SPOOL_KEY=<redacted>'));
  assert.ok(!bad[0]?.includes('not-a-key-secret-value'));
});

test('SPOOL_KEY is redacted by `config`', () => {
  const r = loadConfig({ SPOOL_KEY: KEY });
  assert.ok(r.ok);
  const line = describeConfig(r.config).find((l) => l.startsWith('SPOOL_KEY='));
  assert.ok(line && !line.includes(KEY), line);
});

test('an unknown SPOOL_BACKEND is refused at load, naming the setting', () => {
  const e = errors({ DELIVERY_MODE: 'spool', SPOOL_BACKEND: 'postgres' });
  assert.ok(
    e.some((x) => x.includes('SPOOL_BACKEND')),
    e.join('\n'),
  );
});

test('a backend name without an opener stops the start instead of opening a directory spool', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'spool-open-')), 'spool');
  const r = loadConfig({ DELIVERY_MODE: 'spool', SPOOL_DIR: dir });
  assert.ok(r.ok);
  const config = { ...r.config, spoolBackend: 'postgres' } as unknown as Config;
  await assert.rejects(
    openSpool(config),
    (err: unknown) => isStartupError(err) && err.setting === 'SPOOL_BACKEND' && /dir, redis/.test(err.fix),
  );
  assert.equal(existsSync(dir), false, 'no directory spool was created');
});
