// Opens the configured spool backend and its sealing key (docs/architecture.md#spool-mode): the
// one place that knows which backends exist. The gateway and the `spool` admin commands both
// come through here, so they always read the same spool.
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { StartupError } from '../config/startup-error.ts';
import type { KeyIdCounts, SpoolBackend } from './backend.ts';
import { openDirSpool, type QuarantineEvent } from './dir.ts';
import { openRedisSpool } from './redis.ts';
import { parseSpoolKey } from '../config/spool-key.ts';
import { checkSpoolKey } from './key-check.ts';
import { SpoolKeyring } from './keyring.ts';
import { dirSpoolKey, keyFingerprint, readDirSpoolKey } from './seal.ts';

export interface OpenedSpool {
  backend: SpoolBackend;
  /** The keys new logins are sealed with and old ones opened with. */
  keys: SpoolKeyring;
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

/**
 * The gateway's spool: the backend (crash leftovers recovered), its keys, and the check that the
 * keys open what the spool holds; a spool it cannot open refuses the start (StartupError).
 */
export async function openSpool(config: Config, events: SpoolEvents = {}): Promise<OpenedSpool> {
  const { backend, location, warnings } = await openSpoolBackend(config, true, events);
  try {
    const counts = await backend.keyIds();
    const meta = await backend.keyMeta();
    const keys = await keyring(config, counts, meta);
    const check = checkSpoolKey(counts, meta, keys, config.spoolAllowKeyMismatch);
    if (!check.ok)
      throw new StartupError(keys.source === 'SPOOL_KEY' ? 'SPOOL_KEY' : 'SPOOL_DIR', check.problem, check.fix);
    if (meta !== keys.currentId) await backend.setKeyMeta(keys.currentId);
    return { backend, keys, location, warnings: [...warnings, ...check.warnings] };
  } catch (err) {
    await backend.close();
    throw err;
  }
}

type Opened = { backend: SpoolBackend; location: string; warnings: string[] };
type Opener = (config: Config, owner: boolean, events: SpoolEvents) => Promise<Opened>;

/**
 * Every backend, by its SPOOL_BACKEND name. Keyed by the config schema's enum, so a name added
 * there without an opener here does not compile; a name that reaches this point some other way
 * stops the start instead of quietly opening some other spool.
 */
const BACKENDS: Readonly<Record<Config['spoolBackend'], Opener>> = { dir: openDir, redis: openRedis };

/** The spool alone, for the admin commands (`owner` false: nothing a running put may need is removed). */
export async function openSpoolBackend(config: Config, owner: boolean, events: SpoolEvents = {}): Promise<Opened> {
  const open = Object.hasOwn(BACKENDS, config.spoolBackend) ? BACKENDS[config.spoolBackend] : undefined;
  if (!open)
    throw new StartupError(
      'SPOOL_BACKEND',
      `unknown spool backend ${JSON.stringify(config.spoolBackend)}`,
      `set SPOOL_BACKEND to one of: ${Object.keys(BACKENDS).join(', ')}`,
    );
  return open(config, owner, events);
}

async function openDir(config: Config, owner: boolean, events: SpoolEvents): Promise<Opened> {
  const dir = resolve(config.spoolDir);
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
  return { backend, location: dir, warnings: [] };
}

/** Config validation made REDIS_URL and SPOOL_KEY required with SPOOL_BACKEND=redis. */
async function openRedis(config: Config): Promise<Opened> {
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
  return { backend, location: `${config.redisKeyPrefix}spool:`, warnings };
}

/**
 * SPOOL_KEY, else SPOOL_DIR/spool.key, generated only for a spool that holds no sealed message:
 * a key file that went missing under messages is never silently replaced by a new key.
 */
async function keyring(config: Config, counts: KeyIdCounts, meta: string | null): Promise<SpoolKeyring> {
  const previous = config.spoolKeyPrevious !== undefined ? parseSpoolKey(config.spoolKeyPrevious) : null;
  if (config.spoolKey !== undefined)
    return new SpoolKeyring(parseSpoolKey(config.spoolKey) as Buffer, 'SPOOL_KEY', previous);
  const dir = resolve(config.spoolDir);
  const path = join(dir, 'spool.key');
  const problem = (err: Error) =>
    new StartupError(
      'SPOOL_KEY',
      `no SPOOL_KEY and none could be kept in ${dir}: ${err.message}`,
      'set SPOOL_KEY (openssl rand -hex 32) or make SPOOL_DIR writable',
      err,
    );
  const existing = await readDirSpoolKey(dir).catch((err: Error) => {
    throw problem(err);
  });
  if (existing) return new SpoolKeyring(existing, path, previous);
  // Messages no key at hand opens: generating a key now would turn every one into a dead letter.
  const prevId = previous ? keyFingerprint(previous) : null;
  const needed = [...counts.byKey].filter(([id]) => id !== prevId);
  const stranded = needed.reduce((n, [, c]) => n + c, 0) + counts.legacy;
  if (stranded > 0 && !config.spoolAllowKeyMismatch) {
    const which = needed[0]?.[0] ?? meta;
    const named = which ? `key fingerprint ${which}` : 'the missing key';
    throw new StartupError(
      'SPOOL_DIR',
      `${path} is missing, and the spool holds ${stranded} messages sealed with ${named}: no new key was generated (it could not open them)`,
      `restore ${path} (${named}) from a backup, or set SPOOL_KEY to that key; SPOOL_ALLOW_KEY_MISMATCH=true starts with a new key anyway and makes those messages dead letters (docs/operations.md#the-spool-key)`,
    );
  }
  const key = await dirSpoolKey(dir).catch((err: Error) => {
    throw problem(err);
  });
  return new SpoolKeyring(key, path, previous);
}
