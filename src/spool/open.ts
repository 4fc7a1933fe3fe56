// Opens the configured spool backend and its sealing key (docs/architecture.md#spool-mode): the
// one place that knows which backends exist. The gateway and the `spool` admin commands both
// come through here, so they always read the same spool.
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { StartupError } from '../config/startup-error.ts';
import type { SpoolBackend } from './backend.ts';
import { openDirSpool } from './dir.ts';
import { dirSpoolKey, parseSpoolKey } from './seal.ts';

export interface OpenedSpool {
  backend: SpoolBackend;
  key: Buffer;
  /** Where it is, for logs and the admin tools: a directory or a Redis key prefix. */
  location: string;
}

/** `owner`: the gateway that delivers from it (recovers crash leftovers); false for admin tools. */
export async function openSpool(config: Config, owner: boolean): Promise<OpenedSpool> {
  if (config.spoolBackend === 'redis') {
    throw new StartupError('SPOOL_BACKEND', 'SPOOL_BACKEND=redis: the Redis Streams spool is not part of this build', 'set SPOOL_BACKEND=dir (one gateway process) or use a build with the Redis spool');
  }
  const dir = resolve(config.spoolDir);
  const key = config.spoolKey !== undefined ? (parseSpoolKey(config.spoolKey) as Buffer) : await dirKey(dir);
  const backend = await openDirSpool({ dir, maxBytes: config.spoolMaxBytes, recover: owner }).catch((err: NodeJS.ErrnoException) => {
    throw new StartupError('SPOOL_DIR', `spool directory ${dir} cannot be used: ${err.message}`, 'point SPOOL_DIR at a writable directory on a persistent volume', err);
  });
  return { backend, key, location: dir };
}

async function dirKey(dir: string): Promise<Buffer> {
  return dirSpoolKey(dir).catch((err: Error) => {
    throw new StartupError('SPOOL_KEY', `no SPOOL_KEY and none could be kept in ${dir}: ${err.message}`, 'set SPOOL_KEY (openssl rand -hex 32) or make SPOOL_DIR writable', err);
  });
}
