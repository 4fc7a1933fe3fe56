// Spooled logins: sealed under SPOOL_KEY and bound to their message; the generated key file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSpoolKey } from '../../src/config/spool-key.ts';
import { dirSpoolKey, sealLogin, unsealLogin } from '../../src/spool/seal.ts';
import { fullJitterMs } from '../../src/lib/backoff.ts';

const login = { username: 'user@example.com', password: 'correct horse battery staple', accountId: 42 };

test('a sealed login opens with its key and message id only, and does not show the password', () => {
  const key = randomBytes(32);
  const sealed = sealLogin(key, 'msg-1', login);
  assert.ok(
    !sealed.includes('horse') && !sealed.includes(Buffer.from(login.password).toString('base64')),
    'no plaintext or plain base64 password',
  );
  assert.deepEqual(unsealLogin(key, 'msg-1', sealed), login);
  assert.equal(unsealLogin(randomBytes(32), 'msg-1', sealed), null, 'another key');
  assert.equal(unsealLogin(key, 'msg-2', sealed), null, 'copied into another message');
  const [v, iv, body, tag] = sealed.split('.');
  const flipped = Buffer.from(body as string, 'base64url');
  flipped[0] = (flipped[0] as number) ^ 1;
  assert.equal(unsealLogin(key, 'msg-1', [v, iv, flipped.toString('base64url'), tag].join('.')), null, 'tampered');
  assert.equal(unsealLogin(key, 'msg-1', 'garbage'), null);
  assert.notEqual(sealLogin(key, 'msg-1', login), sealed, 'a fresh nonce each time');
  assert.deepEqual(unsealLogin(key, 'm', sealLogin(key, 'm', { ...login, accountId: undefined })), {
    ...login,
    accountId: undefined,
  });
});

test('SPOOL_KEY: 64 hex digits or base64 of 32 bytes, nothing else', () => {
  const raw = randomBytes(32);
  assert.deepEqual(parseSpoolKey(raw.toString('hex')), raw);
  assert.deepEqual(parseSpoolKey(raw.toString('base64')), raw);
  assert.deepEqual(parseSpoolKey(raw.toString('base64url')), raw);
  assert.equal(parseSpoolKey('too short'), null);
  assert.equal(parseSpoolKey(randomBytes(16).toString('hex')), null);
});

test('without SPOOL_KEY the directory spool generates one key, 0600, and keeps it across starts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-key-'));
  try {
    const [a, b] = await Promise.all([dirSpoolKey(dir), dirSpoolKey(dir)]);
    assert.deepEqual(a, b, 'two starts at once agree on one key');
    assert.deepEqual(await dirSpoolKey(dir), a);
    assert.equal((await stat(join(dir, 'spool.key'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(dir, 'spool.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('redelivery backoff: full jitter under base × 2^(n-1), capped', () => {
  assert.equal(
    fullJitterMs(1, 1000, 60_000, () => 0.999),
    999,
  );
  assert.equal(
    fullJitterMs(3, 1000, 60_000, () => 0.5),
    2000,
  );
  assert.equal(
    fullJitterMs(50, 1000, 60_000, () => 0.5),
    30_000,
    'capped',
  );
  assert.equal(
    fullJitterMs(2, 1000, 60_000, () => 0),
    0,
  );
});
