// smtp_gateway_tls_certificate_expiry_timestamp_seconds follows the certificate being served:
// the alert on certificate expiry is only as good as this gauge after a rotation.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { certificateNotAfter } from '../../src/smtp/tls.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const DAY = 86_400_000;

async function expiryGauge(adminPort: number): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = /^smtp_gateway_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(body);
  assert.ok(m, 'gauge exposed');
  return Number(m[1]);
}

test('certificateNotAfter reads the leaf certificate notAfter in Unix seconds', async () => {
  const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * DAY);
  const p = await generate([{ name: 'commonName', value: 'leaf.example' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: notAfter,
  });
  assert.equal(certificateNotAfter(p.cert), notAfter.getTime() / 1000);
});

test('expiry gauge: set from the self-signed certificate at start', async () => {
  const gw = await startTestGateway();
  try {
    assert.equal(await expiryGauge(gw.ports.admin), certificateNotAfter(gw.tls.cert));
    assert.ok(certificateNotAfter(gw.tls.cert) * 1000 > Date.now());
  } finally {
    await gw.shutdown();
  }
});

test('expiry gauge: moves to the new notAfter when the certificate files are rotated', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-expiry-'));
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  const write = async (days: number) => {
    const notAfterDate = new Date(Math.floor(Date.now() / 1000) * 1000 + days * DAY);
    const p = await generate([{ name: 'commonName', value: `in-${days}-days.example` }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notAfterDate,
    });
    writeFileSync(`${cert}.tmp`, p.cert);
    writeFileSync(`${key}.tmp`, p.private);
    renameSync(`${key}.tmp`, key);
    renameSync(`${cert}.tmp`, cert);
    return notAfterDate.getTime() / 1000;
  };
  const first = await write(5);
  const gw = await startTestGateway({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key, TLS_RELOAD_INTERVAL_MS: '50' });
  try {
    assert.equal(await expiryGauge(gw.ports.admin), first);
    const second = await write(90);
    let seen = first;
    for (let i = 0; i < 60 && seen !== second; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await expiryGauge(gw.ports.admin);
    }
    assert.equal(seen, second);
  } finally {
    await gw.shutdown();
  }
});
