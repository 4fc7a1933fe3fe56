// Opens the configured spool backend and its sealing key (docs/architecture.md#spool-mode): the
// one place that knows which backends exist. The gateway and the `spool` admin commands both
// come through here, so they always read the same spool.
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { StartupError } from '../config/startup-error.ts';
import type { SpoolBackend } from './backend.ts';
import { openDirSpool, type QuarantineEvent } from './dir.ts';
import { openRedisSpool } from './redis.ts';
import { parseSpoolKey } from '../config/spool-key.ts';
import { dirSpoolKey } from './seal.ts';

export interface OpenedSpool {
  backend: SpoolBackend;
  key: Buffer;
  /** Where it is, for logs and the admin tools: a directory or a Redis key prefix. */
  location: string;
  /** Said once at start (a Redis that keeps no append-only file loses the spool when it restarts). */
  warnings: string[];
}

/** What the spool tells its opener as it happens. */
export interface SpoolEvents {
  /** A message that could not be read or verified was moved out of delivery. */
  quarantined?: (q: QuarantineEvent) => void;
}

type Opener = (config: Config, owner: boolean, events: SpoolEvents) => Promise<OpenedSpool>;

/**
 * Every backend, by its SPOOL_BACKEND name. Keyed by the config schema's enum, so a name added
 * there without an opener here does not compile; a name that reaches this point some other way
 * stops the start instead of quietly opening some other spool.
 */
const BACKENDS: Readonly<Record<Config['spoolBackend'], Opener>> = { dir: openDir, redis: openRedis };

/** `owner`: the gateway that delivers from it (recovers crash leftovers); false for admin tools. */
export async function openSpool(config: Config, owner: boolean, events: SpoolEvents = {}): Promise<OpenedSpool> {
  const open = Object.hasOwn(BACKENDS, config.spoolBackend) ? BACKENDS[config.spoolBackend] : undefined;
  if (!open)
    throw new StartupError(
      'SPOOL_BACKEND',
      `unknown spool backend ${JSON.stringify(config.spoolBackend)}`,
      `set SPOOL_BACKEND to one of: ${Object.keys(BACKENDS).join(', ')}`,
    );
  return open(config, owner, events);
}

async function openDir(config: Config, owner: boolean, events: SpoolEvents): Promise<OpenedSpool> {
  const dir = resolve(config.spoolDir);
  const key = config.spoolKey !== undefined ? (parseSpoolKey(config.spoolKey) as Buffer) : await dirKey(dir);
  const backend = await openDirSpool({
    dir,
    maxBytes: config.spoolMaxBytes,
    recover: owner,
    ...(events.quarantined ? { onQuarantine: events.quarantined } : {}),
  }).catch((err: NodeJS.ErrnoException) => {
    throw new StartupError(
      'SPOOL_DIR',
      `spool directory ${dir} cannot be used: ${err.message}`,
      'point SPOOL_DIR at a writable directory on a persistent volume',
      err,
    );
  });
  return { backend, key, location: dir, warnings: [] };
}

/** Config validation made REDIS_URL and SPOOL_KEY required with SPOOL_BACKEND=redis. */
async function openRedis(config: Config): Promise<OpenedSpool> {
  const url = config.redisUrl as string;
  const backend = await openRedisSpool({ url, prefix: config.redisKeyPrefix, maxBytes: config.spoolMaxBytes }).catch(
    (err: Error) => {
      throw new StartupError(
        'REDIS_URL',
        `the Redis spool cannot be opened: ${err.message}`,
        'start Redis (with appendonly yes) or point REDIS_URL at it; SPOOL_BACKEND=redis needs it at start',
        err,
      );
    },
  );
  const warnings: string[] = [];
  // INFO may be refused by a managed Redis's ACLs: then nothing is said, the docs say what is needed.
  if ((await backend.appendOnly().catch(() => true)) === false) {
    warnings.push(
      'Redis keeps no append-only file (appendonly no): messages answered 250 are lost if Redis restarts; see docs/operations.md#spool-on-redis',
    );
  }
  return {
    backend,
    key: parseSpoolKey(config.spoolKey as string) as Buffer,
    location: `${config.redisKeyPrefix}spool:`,
    warnings,
  };
}

async function dirKey(dir: string): Promise<Buffer> {
  return dirSpoolKey(dir).catch((err: Error) => {
    throw new StartupError(
      'SPOOL_KEY',
      `no SPOOL_KEY and none could be kept in ${dir}: ${err.message}`,
      'set SPOOL_KEY (openssl rand -hex 32) or make SPOOL_DIR writable',
      err,
    );
  });
}
