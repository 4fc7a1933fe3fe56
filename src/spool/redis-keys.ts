// Where the Redis spool keeps things (docs/architecture.md#spool-on-redis). Every key starts
// with REDIS_KEY_PREFIX then `spool:`, so the spool shares a Redis with the state store without
// a name of one ever meaning something to the other, and one prefix's spool can be listed or
// removed on its own. Spool ids are checked against SPOOL_ID before they become part of a key.

/** The consumer group every gateway process reads the stream in. */
export const SPOOL_GROUP = 'delivery';

export interface SpoolKeys {
  /** What the per-message key names start with (`m:` and `j:` are appended in the scripts). */
  base: string;
  /** Stream of messages due now; one entry per due message, field `id`. Read in SPOOL_GROUP. */
  stream: string;
  /** Sorted set: id → when it is next due (Unix ms), for messages waiting out a backoff. */
  delayed: string;
  /** Sorted set: id → when its lease lapses (Unix ms), for messages held by a worker. */
  leased: string;
  /** Sorted set: id → received (Unix ms): every message, the listing order. */
  all: string;
  /** Sorted sets by message state, id → received: counts and the oldest message for the gauges. */
  queued: string;
  retrying: string;
  dead: string;
  /** Bytes of stored messages, against SPOOL_MAX_BYTES. */
  bytes: string;
  /** Hash: the spool's own facts (`key_fingerprint`: the key new messages are sealed with). */
  meta: string;
}

export function spoolKeys(prefix: string): SpoolKeys {
  const base = `${prefix}spool:`;
  return {
    base,
    stream: `${base}stream`,
    delayed: `${base}delayed`,
    leased: `${base}leased`,
    all: `${base}all`,
    queued: `${base}state:queued`,
    retrying: `${base}state:retrying`,
    dead: `${base}state:dead`,
    bytes: `${base}bytes`,
    meta: `${base}meta`,
  };
}

/** The message hash: its header, bytes, state, place (ready, delayed, dead) and current lease. */
export function messageKey(keys: SpoolKeys, id: string): string {
  return `${keys.base}m:${id}`;
}

/** The message's journal: a list of JSON records, appended only (src/spool/journal.ts). */
export function journalKey(keys: SpoolKeys, id: string): string {
  return `${keys.base}j:${id}`;
}
