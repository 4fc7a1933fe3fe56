// Dead letters leave the spool (docs/operations.md#dead-letters-expire): after SPOOL_DEAD_TTL_S
// from when they died, or all at once by an operator (`spool drop --all-dead`). Until then they
// count against SPOOL_MAX_BYTES, so keeping them for ever would end in 452 for new mail.
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SpoolBackend } from './backend.ts';

/**
 * Drops the dead letters that died at or before `before` (Unix ms); every one when `before` is
 * omitted. Each is looked at again just before its drop, so a message retried in between stays.
 */
export async function dropDeadLetters(
  b: Pick<SpoolBackend, 'list' | 'get' | 'drop'>,
  before?: number,
): Promise<string[]> {
  const dropped: string[] = [];
  for (const listed of await b.list({ dead: true })) {
    const e = await b.get(listed.id);
    if (!e || e.state !== 'dead' || e.dead_since === null) continue;
    if (before !== undefined && Date.parse(e.dead_since) > before) continue;
    if (await b.drop(e.id)) dropped.push(e.id);
  }
  return dropped;
}

/** Runs the SPOOL_DEAD_TTL_S expiry on a timer in the gateway; a fleet's pods may all run it (drops are idempotent). */
export class DeadLetterExpiry {
  readonly #timer: NodeJS.Timeout;
  #running: Promise<void> | null = null;

  constructor(
    readonly deps: {
      backend: SpoolBackend;
      ttlS: number;
      intervalMs: number;
      logger: Logger;
      metrics: Metrics;
      /** After a drop: refresh the gauges. */
      changed(): void;
    },
  ) {
    this.#timer = setInterval(() => void this.run(), deps.intervalMs);
    this.#timer.unref();
  }

  /** One pass; resolves with the ids dropped. Never throws (a failed pass is logged and tried again). */
  async run(now = Date.now()): Promise<string[]> {
    if (this.#running) await this.#running;
    const d = this.deps;
    let dropped: string[] = [];
    this.#running = dropDeadLetters(d.backend, now - d.ttlS * 1000).then(
      (ids) => {
        dropped = ids;
      },
      (err: Error) => d.logger.warn({ err: err.message }, 'dead-letter expiry failed; tried again later'),
    );
    await this.#running;
    this.#running = null;
    if (dropped.length > 0) {
      d.metrics.spoolDeadExpired.inc(dropped.length);
      d.logger.info(
        { count: dropped.length, ids: dropped.slice(0, 100), ttlS: d.ttlS },
        `dead letters expired: ${dropped.length} removed after SPOOL_DEAD_TTL_S`,
      );
      d.changed();
    }
    return dropped;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
