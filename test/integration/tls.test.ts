// TLS policy (TLS 1.2+, ECDHE + AEAD only) and certificate reload without restart.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { startTestGateway } from '../helpers/gateway.ts';

function handshake(
  port: number,
  opts: tls.ConnectionOptions = {},
): Promise<{ ok: true; fingerprint: string; protocol: string | null; cipher: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
    s.once('secureConnect', () => {
      const out = {
        ok: true as const,
        fingerprint: s.getPeerCertificate().fingerprint256,
        protocol: s.getProtocol(),
        cipher: s.getCipher().name,
      };
      s.destroy();
      resolve(out);
    });
    s.once('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

test('implicit TLS: TLS 1.0/1.1 and non-AEAD or non-ECDHE ciphers are refused', async () => {
  const gw = await startTestGateway();
  try {
    const good = await handshake(gw.ports.smtps);
    assert.ok(good.ok);
    assert.equal(good.protocol, 'TLSv1.3');
    assert.equal((await handshake(gw.ports.smtps, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).ok, false);
    for (const cipher of ['AES256-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-ECDSA-AES128-SHA256']) {
      assert.equal(
        (await handshake(gw.ports.smtps, { maxVersion: 'TLSv1.2', ciphers: cipher })).ok,
        false,
        `${cipher} refused`,
      );
    }
    const tls12 = await handshake(gw.ports.smtps, { maxVersion: 'TLSv1.2' });
    assert.ok(tls12.ok && /^ECDHE-.*(GCM|CHACHA20)/.test(tls12.cipher), 'TLS 1.2 negotiates ECDHE + AEAD');
  } finally {
    await gw.shutdown();
  }
});

test('certificate files are reloaded when they change, without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  const write = async (cn: string) => {
    const p = await generate([{ name: 'commonName', value: cn }], { keyType: 'ec', algorithm: 'sha256' });
    // Write-then-rename, as a Kubernetes Secret volume update does.
    writeFileSync(`${cert}.tmp`, p.cert);
    writeFileSync(`${key}.tmp`, p.private);
    renameSync(`${key}.tmp`, key);
    renameSync(`${cert}.tmp`, cert);
  };
  await write('first.example');
  const gw = await startTestGateway({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key, TLS_RELOAD_INTERVAL_MS: '50' });
  try {
    const before = await handshake(gw.ports.smtps);
    assert.ok(before.ok);
    await write('second.example');
    let after: Awaited<ReturnType<typeof handshake>> = before;
    for (let i = 0; i < 60 && after.ok && before.ok && after.fingerprint === before.fingerprint; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await handshake(gw.ports.smtps);
    }
    assert.ok(after.ok && before.ok && after.fingerprint !== before.fingerprint, 'new certificate served');
  } finally {
    await gw.shutdown();
  }
});
