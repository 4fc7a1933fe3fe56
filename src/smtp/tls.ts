// TLS material and policy (docs/architecture.md#smtp-surface, docs/threat-model.md T-18): TLS 1.2+ with ECDHE key exchange
// and AEAD ciphers only; certificate and key from files, re-read when they change (cert-manager
// rotates Kubernetes Secrets in place); a self-signed certificate when none is configured.
import { X509Certificate } from 'node:crypto';
import { readFileSync, watchFile, unwatchFile, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { tlsFileError, tlsPairError } from '../config/startup-error.ts';
import type { Logger } from '../observability/logger.ts';

/** ECDHE + AEAD only for TLS 1.2 (no TLS_RSA_*, no CBC); TLS 1.3 suites are all AEAD. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface TlsMaterial {
  key: string;
  cert: string;
  /** 'files' or 'self-signed', for the start-up banner. */
  source: string;
}

/** Options every listener's TLS context gets. */
export function tlsPolicy(material: TlsMaterial) {
  return {
    key: material.key,
    cert: material.cert,
    minVersion: 'TLSv1.2' as const,
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
  };
}

export async function loadTlsMaterial(
  certFile: string | undefined,
  keyFile: string | undefined,
  serverName: string,
): Promise<TlsMaterial> {
  if (certFile && keyFile) return readTlsFiles(certFile, keyFile);
  const names = [...new Set([serverName, 'localhost'])];
  const pems = await generate([{ name: 'commonName', value: serverName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...names.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
          { type: 7 as const, ip: '::1' },
        ],
      },
    ],
  });
  return {
    cert: pems.cert,
    key: pems.private,
    source: 'self-signed (development only: set TLS_CERT_FILE/TLS_KEY_FILE)',
  };
}

/** The configured files, checked at start: a missing file or a bad pair names its setting. */
function readTlsFiles(certFile: string, keyFile: string): TlsMaterial {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw tlsFileError(err, certFile, keyFile);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw tlsPairError(err, certFile, keyFile);
  }
  return { cert, key, source: `files ${certFile}` };
}

/**
 * notAfter of the first (leaf) certificate of a PEM chain, in Unix seconds. X509Certificate
 * reads the first certificate of the PEM; `validTo` is the string form Node 20 and 24 share.
 */
export function certificateNotAfter(certPem: string): number {
  return Math.floor(Date.parse(new X509Certificate(certPem).validTo) / 1000);
}

/**
 * Watch the certificate files and call `apply` with new material when both are readable and
 * form a pair. A half-written rotation (new cert, old key) is skipped until it completes.
 */
export function watchTlsFiles(
  certFile: string,
  keyFile: string,
  intervalMs: number,
  apply: (m: TlsMaterial) => void,
  logger: Logger,
): () => void {
  let last = signature(certFile, keyFile);
  const check = () => {
    const now = signature(certFile, keyFile);
    if (now === last) return;
    try {
      const material = {
        cert: readFileSync(certFile, 'utf8'),
        key: readFileSync(keyFile, 'utf8'),
        source: `files ${certFile}`,
      };
      apply(material);
      last = now;
      logger.info({ certFile }, 'TLS certificate reloaded');
    } catch (err) {
      logger.warn(
        { certFile, err: (err as Error).message },
        'TLS certificate change not applied yet (keeping the current one)',
      );
    }
  };
  watchFile(certFile, { interval: intervalMs, persistent: false }, check);
  watchFile(keyFile, { interval: intervalMs, persistent: false }, check);
  return () => {
    unwatchFile(certFile, check);
    unwatchFile(keyFile, check);
  };
}

function signature(...files: string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
