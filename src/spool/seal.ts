// The SMTP login kept with a spooled message (docs/security.md, "Spooled credentials"). Delivery
// happens after the session is gone, so the gateway must be able to get a bearer again: it keeps
// the login sealed with AES-256-GCM under SPOOL_KEY, bound to the message id (the id is the
// additional data: a sealed login copied into another message does not open). Never logged.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { parseSpoolKey } from '../config/spool-key.ts';

export interface SpoolLogin {
  username: string;
  password: string;
  accountId: number | undefined;
}

const VERSION = 'v1';

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
  return [VERSION, iv.toString('base64url'), body.toString('base64url'), c.getAuthTag().toString('base64url')].join(
    '.',
  );
}

/** null when the seal does not open (another key, another message, tampered). */
export function unsealLogin(key: Buffer, spoolId: string, sealed: string): SpoolLogin | null {
  const [v, iv, body, tag] = sealed.split('.');
  if (v !== VERSION || !iv || !body || !tag) return null;
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
