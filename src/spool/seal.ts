// The SMTP login kept with a spooled message (docs/security.md, "Spooled credentials"). Delivery
// happens after the session is gone, so the gateway must be able to get a bearer again: it keeps
// the login sealed with AES-256-GCM under SPOOL_KEY, bound to the message id (the id is the
// additional data: a sealed login copied into another message does not open). Never logged.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { parseSpoolKey } from '../config/spool-key.ts';

export interface SpoolLogin {
  username: string;
  password: string;
  accountId: number | undefined;
}

/** v2 carries the sealing key's fingerprint (v1, from before it was kept, does not). */
const VERSION = 'v2';

/**
 * A key's fingerprint: 16 hex digits of SHA-256 over a fixed label and the key. It names a key in
 * logs, errors and the spool's metadata without revealing it (2^64 keys share each fingerprint).
 */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('cakemail-smtp-gateway spool key\0').update(key).digest('hex').slice(0, 16);
}

/** The fingerprint of the key a login was sealed with; null for a v1 seal (or no seal at all). */
export function sealedKeyId(sealed: string): string | null {
  const [v, fp] = sealed.split('.');
  return v === 'v2' && fp && /^[0-9a-f]{16}$/.test(fp) ? fp : null;
}

/** `<dir>/spool.key` as it is; null when there is no such file (a key is never generated here). */
export async function readDirSpoolKey(dir: string): Promise<Buffer | null> {
  const path = join(dir, 'spool.key');
  const text = await fs.readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  const key = parseSpoolKey(text);
  if (!key) throw new Error(`${path} does not hold a 32-byte key (64 hex digits)`);
  return key;
}

/**
 * The directory backend's key when SPOOL_KEY is unset: generated once into `<dir>/spool.key`
 * (0600), then read back. It is written whole to a temporary file and linked into place: a
 * crash mid-write must not leave an empty key file that stops every later start, and `link`
 * fails if the file exists, so two starts cannot each put their own key there.
 */
export async function dirSpoolKey(dir: string): Promise<Buffer> {
  const path = join(dir, 'spool.key');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `spool.key.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.write(randomBytes(32).toString('hex') + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.link(tmp, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const d = await fs.open(dir, 'r');
    await d.sync().finally(() => d.close());
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const key = parseSpoolKey(await fs.readFile(path, 'utf8'));
  if (!key) throw new Error(`${path} does not hold a 32-byte key (64 hex digits)`);
  return key;
}

export function sealLogin(key: Buffer, spoolId: string, login: SpoolLogin): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(spoolId));
  const body = Buffer.concat([
    c.update(JSON.stringify({ u: login.username, p: login.password, a: login.accountId ?? null })),
    c.final(),
  ]);
  return [
    VERSION,
    keyFingerprint(key),
    iv.toString('base64url'),
    body.toString('base64url'),
    c.getAuthTag().toString('base64url'),
  ].join('.');
}

/** null when the seal does not open (another key, another message, tampered). */
export function unsealLogin(key: Buffer, spoolId: string, sealed: string): SpoolLogin | null {
  const parts = sealed.split('.');
  // v1: version.iv.body.tag; v2: version.fingerprint.iv.body.tag (the fingerprint is not trusted
  // for anything but choosing a key: GCM's tag decides).
  if (parts[0] === 'v2') parts.splice(1, 1);
  else if (parts[0] !== 'v1') return null;
  const [, iv, body, tag] = parts;
  if (parts.length !== 4 || !iv || !body || !tag) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(spoolId));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    const text = Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
    const o = JSON.parse(text) as { u: string; p: string; a: number | null };
    return { username: o.u, password: o.p, accountId: o.a ?? undefined };
  } catch {
    return null;
  }
}
