// "No duplicates on retry" (docs/architecture.md#semantics-that-never-bend): once Cakemail queued a message for a recipient, a
// record keyed by SHA-256 of (account, exact DATA bytes, recipient) says so for 24 h. A client
// that resends after a lost 250, or after a 451 that followed partial success, gets those
// recipients skipped. The store failing must not stop mail: it fails open (a possible
// duplicate beats refusing all mail), counted and logged (docs/threat-model.md F-23).
import { createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { StateStore } from '../state/store.ts';

export class DedupeRecords {
  readonly #store: StateStore;
  readonly #ttlS: number;
  readonly #logger: Logger;
  readonly #metrics: Metrics;

  constructor(store: StateStore, ttlS: number, logger: Logger, metrics: Metrics) {
    this.#store = store;
    this.#ttlS = ttlS;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** Key for one recipient of one message. */
  static key(accountKey: string, messageDigest: string, recipient: string): string {
    return 'dedupe:' + createHash('sha256').update(accountKey).update('\0').update(messageDigest).update('\0').update(recipient.toLowerCase()).digest('hex');
  }

  static digest(raw: Uint8Array): string {
    return createHash('sha256').update(raw).digest('hex');
  }

  /** The Cakemail id already accepted for this key, if any. */
  async accepted(key: string): Promise<string | null> {
    try {
      const id = await this.#store.get(key);
      if (id !== null) this.#metrics.dedupeHits.inc();
      return id;
    } catch (err) {
      this.#failOpen('get', err);
      return null;
    }
  }

  async remember(key: string, cakemailId: string): Promise<void> {
    try {
      await this.#store.set(key, cakemailId, this.#ttlS);
    } catch (err) {
      this.#failOpen('set', err);
    }
  }

  #failOpen(op: string, err: unknown): void {
    // Counted (state_store_errors_total) and logged once per outage by the store's monitor.
    this.#logger.debug({ op, err: (err as Error).message }, 'state store unavailable: dedupe fails open');
  }
}
