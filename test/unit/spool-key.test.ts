// The spool knows its key: each sealed login carries its key's fingerprint, the spool records the
// fingerprint of its key, and a gateway that cannot open what the spool holds (a deleted
// spool.key, a changed SPOOL_KEY) refuses to start naming the key it needs, instead of turning
// every message into a dead letter. Rotation with SPOOL_KEY_PREVIOUS; the documented override.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { StartupError } from '../../src/config/startup-error.ts';
import { openDirSpool } from '../../src/spool/dir.ts';
import { SpoolKeyring } from '../../src/spool/keyring.ts';
import { openSpool } from '../../src/spool/open.ts';
import { openRedisSpool } from '../../src/spool/redis.ts';
import { keyFingerprint } from '../../src/spool/seal.ts';
import { skipWithoutRedis, TEST_REDIS_URL } from '../helpers/redis.ts';
import { testMessage } from './spool-backend-conformance.ts';

const LOGIN = { username: 'user@example.com', password: 'pw', accountId: undefined };

function config(env: Record<string, string>) {
  const c = loadConfig({ DELIVERY_MODE: 'spool', ...env });
  assert.ok(c.ok, c.ok ? '' : c.errors.join('; '));
  return c.config;
}

/** A spool directory holding `n` messages sealed with `key`. */
async function spoolWith(key: Buffer, n: number): Promise<{ dir: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'spool-key-'));
  const spool = await openDirSpool({ dir, maxBytes: 1 << 20, recover: true });
  const ring = new SpoolKeyring(key, 'SPOOL_KEY');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = testMessage();
    await spool.put({ ...m, credential: ring.seal(m.id, LOGIN) });
    ids.push(m.id);
  }
  await spool.close();
  return { dir, ids };
}

async function refusal(p: Promise<unknown>): Promise<StartupError> {
  const err = await p.then(
    () => assert.fail('the start must be refused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StartupError, String(err));
  return err;
}

test('a deleted spool.key under spooled messages refuses the start, naming the file and the fingerprint; no new key is made', async () => {
  const first = await mkdtemp(join(tmpdir(), 'spool-key-'));
  try {
    const opened = await openSpool(config({ SPOOL_DIR: first }));
    const fp = opened.keys.currentId;
    const m = testMessage();
    await opened.backend.put({ ...m, credential: opened.keys.seal(m.id, LOGIN) });
    await opened.backend.close();
    assert.deepEqual(JSON.parse(await readFile(join(first, 'spool.meta.json'), 'utf8')), { key_fingerprint: fp });

    await rm(join(first, 'spool.key'));
    const err = await refusal(openSpool(config({ SPOOL_DIR: first })));
    assert.equal(err.setting, 'SPOOL_DIR');
    assert.match(err.message, new RegExp(`${join(first, 'spool.key')} is missing`));
    assert.match(err.message, new RegExp(`1 messages sealed with key fingerprint ${fp}`));
    assert.match(err.fix, /restore .*spool\.key/);
    assert.equal(existsSync(join(first, 'spool.key')), false, 'no key was generated over the stranded messages');
  } finally {
    await rm(first, { recursive: true, force: true });
  }
});

test('a changed SPOOL_KEY refuses the start, naming SPOOL_KEY and the fingerprint the spool needs', async () => {
  const old = randomBytes(32);
  const { dir } = await spoolWith(old, 3);
  try {
    const err = await refusal(openSpool(config({ SPOOL_DIR: dir, SPOOL_KEY: randomBytes(32).toString('hex') })));
    assert.equal(err.setting, 'SPOOL_KEY');
    assert.match(err.message, new RegExp(`3 sealed with key fingerprint ${keyFingerprint(old)}`));
    assert.match(err.message, /SPOOL_KEY has fingerprint [0-9a-f]{16}/);
    assert.match(err.fix, new RegExp(`fingerprint ${keyFingerprint(old)} as SPOOL_KEY`));
    assert.match(err.fix, /SPOOL_KEY_PREVIOUS/);
    assert.match(err.fix, /SPOOL_ALLOW_KEY_MISMATCH=true/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rotation: the new SPOOL_KEY seals new messages while SPOOL_KEY_PREVIOUS still opens the old ones', async () => {
  const old = randomBytes(32);
  const next = randomBytes(32);
  const { dir, ids } = await spoolWith(old, 2);
  try {
    const opened = await openSpool(
      config({ SPOOL_DIR: dir, SPOOL_KEY: next.toString('hex'), SPOOL_KEY_PREVIOUS: old.toString('hex') }),
    );
    assert.equal(opened.keys.currentId, keyFingerprint(next));
    const leased = await opened.backend.lease({ owner: 'w', max: 10, leaseMs: 60_000 });
    assert.deepEqual(leased.map((l) => l.message.id).sort(), [...ids].sort());
    for (const l of leased)
      assert.deepEqual(opened.keys.unseal(l.message.id, l.message.credential), { ok: true, login: LOGIN });
    const id = `n-${randomUUID()}`;
    const sealed = opened.keys.seal(id, LOGIN);
    assert.equal(new SpoolKeyring(next, 'SPOOL_KEY').unseal(id, sealed).ok, true, 'new messages: the new key');
    assert.equal(new SpoolKeyring(old, 'SPOOL_KEY').unseal(id, sealed).ok, false);
    for (const l of leased)
      await opened.backend.settle(l.lease, {
        recipients: l.recipients.map((r) => ({ address: r.address, state: 'delivered' as const, cakemailId: 'c' })),
        nextAttemptAt: Date.now(),
      });
    await opened.backend.close();
    // Once nothing needs the old key, the start says it can go.
    const again = await openSpool(
      config({ SPOOL_DIR: dir, SPOOL_KEY: next.toString('hex'), SPOOL_KEY_PREVIOUS: old.toString('hex') }),
    );
    assert.ok(again.warnings.some((w) => /SPOOL_KEY_PREVIOUS .* opens no spooled message: it can be removed/.test(w)));
    await again.backend.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the override starts anyway, and a login that does not open names the key it needs', async () => {
  const old = randomBytes(32);
  const { dir } = await spoolWith(old, 1);
  try {
    const opened = await openSpool(
      config({ SPOOL_DIR: dir, SPOOL_KEY: randomBytes(32).toString('hex'), SPOOL_ALLOW_KEY_MISMATCH: 'true' }),
    );
    assert.ok(opened.warnings.some((w) => /Started anyway \(SPOOL_ALLOW_KEY_MISMATCH=true\)/.test(w)));
    const [l] = await opened.backend.lease({ owner: 'w', max: 1, leaseMs: 60_000 });
    const u = opened.keys.unseal(l!.message.id, l!.message.credential);
    assert.equal(u.ok, false);
    assert.match(u.ok ? '' : u.reason, new RegExp(`sealed with the spool key fingerprint ${keyFingerprint(old)}`));
    await opened.backend.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an empty spool whose key file went missing starts with a new key, and says the key changed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-key-'));
  try {
    const first = await openSpool(config({ SPOOL_DIR: dir }));
    const oldId = first.keys.currentId;
    await first.backend.close();
    await rm(join(dir, 'spool.key'));
    const second = await openSpool(config({ SPOOL_DIR: dir }));
    assert.notEqual(second.keys.currentId, oldId);
    assert.ok(second.warnings.some((w) => w.includes(`fingerprint ${oldId} → ${second.keys.currentId}`)));
    await second.backend.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Redis spool: a gateway with another SPOOL_KEY refuses to start on a spool sealed with the fleet key', async (t) => {
  const skip = await skipWithoutRedis();
  if (skip) return t.skip(skip);
  const prefix = `t-${randomUUID().slice(0, 8)}:`;
  const fleet = randomBytes(32);
  const spool = await openRedisSpool({ url: TEST_REDIS_URL, prefix, maxBytes: 1 << 20 });
  try {
    const m = testMessage();
    await spool.put({ ...m, credential: new SpoolKeyring(fleet, 'SPOOL_KEY').seal(m.id, LOGIN) });
    const env = { SPOOL_BACKEND: 'redis', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix };
    const err = await refusal(openSpool(config({ ...env, SPOOL_KEY: randomBytes(32).toString('hex') })));
    assert.equal(err.setting, 'SPOOL_KEY');
    assert.match(err.message, new RegExp(`1 sealed with key fingerprint ${keyFingerprint(fleet)}`));
    const ok = await openSpool(config({ ...env, SPOOL_KEY: fleet.toString('hex') }));
    assert.equal(await ok.backend.keyMeta(), keyFingerprint(fleet));
    await ok.backend.close();
  } finally {
    await spool.drop((await spool.list())[0]?.id ?? 'none');
    const { Redis } = await import('ioredis');
    const r = new Redis(TEST_REDIS_URL);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
    await spool.close();
  }
});
