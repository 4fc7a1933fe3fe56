// The spool gauges, from the backend's usage(): refreshed shortly after each put and settle
// (coalesced, so a burst costs one read) and on a timer for changes made by other processes.
import type { Metrics } from '../observability/metrics.ts';
import type { SpoolBackend, SpoolUsage } from './backend.ts';

const COALESCE_MS = 250;

export class SpoolGauges {
  readonly #backend: SpoolBackend;
  readonly #metrics: Metrics;
  readonly #timer: NodeJS.Timeout;
  #pending: NodeJS.Timeout | null = null;
  #last: SpoolUsage | null = null;

  constructor(backend: SpoolBackend, metrics: Metrics, maxBytes: number, intervalMs: number) {
    this.#backend = backend;
    this.#metrics = metrics;
    metrics.spoolMaxBytes.set(maxBytes);
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
    this.#timer.unref();
  }

  /** The last usage read (null before the first). */
  get last(): SpoolUsage | null {
    return this.#last;
  }

  changed(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      void this.refresh();
    }, COALESCE_MS);
    this.#pending.unref();
  }

  async refresh(): Promise<void> {
    const u = await this.#backend.usage().catch(() => null);
    if (!u) return;
    this.#last = u;
    const m = this.#metrics;
    for (const state of ['queued', 'retrying', 'dead'] as const) m.spoolMessages.set({ state }, u.messages[state]);
    m.spoolBytes.set(u.bytes);
    m.spoolQuarantinedMessages.set(u.quarantined);
    m.spoolOldestAge.set(u.oldestReceivedAt === null ? 0 : Math.max(0, (Date.now() - u.oldestReceivedAt) / 1000));
  }

  stop(): void {
    clearInterval(this.#timer);
    if (this.#pending) clearTimeout(this.#pending);
  }
}
