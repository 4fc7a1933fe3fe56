// Health of the state store, seen from every operation and (for Redis) from the connection
// itself: `smtp_gateway_state_store_up` (1/0), `smtp_gateway_state_store_errors_total{op}`,
// and ONE log line per change of state, never one per failed operation: with Redis down,
// every SMTP command would otherwise log a line.
//
// Errors are rethrown: each caller decides what a failure means. All of them fail open for
// sending (docs/security.md, "State store unavailable"): dedupe records, auth counters and
// blocks, and rate limits are simply not enforced while the store is away.
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { BeginSend, EndSend, IndexedWrite, StateStore } from './store.ts';

export class StoreHealth {
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  #up: boolean | undefined;

  constructor(metrics: Metrics, logger: Logger, initiallyUp?: boolean) {
    this.#metrics = metrics;
    this.#logger = logger;
    this.#up = initiallyUp;
    metrics.stateStoreUp.set(initiallyUp ? 1 : 0);
  }

  get up(): boolean {
    return this.#up === true;
  }

  /** A state seen (connection event or operation result); logs only when it changes. */
  report(up: boolean, detail: string): void {
    if (this.#up === up) return;
    const first = this.#up === undefined;
    this.#up = up;
    this.#metrics.stateStoreUp.set(up ? 1 : 0);
    if (up)
      this.#logger.info(
        { detail },
        first ? 'state store reachable' : 'state store reachable again: limits, blocks and dedupe enforced',
      );
    else
      this.#logger.warn(
        { detail },
        'state store unreachable: failing open (no dedupe, auth limits or rate limits) until it is back',
      );
  }

  failed(op: string, err: unknown): void {
    this.#metrics.stateStoreErrors.inc({ op });
    this.report(false, `${op}: ${(err as Error).message}`);
  }
}

/** A StateStore whose every operation reports to a StoreHealth. */
export class MonitoredStore implements StateStore {
  readonly #inner: StateStore;
  readonly #health: StoreHealth;

  constructor(inner: StateStore, health: StoreHealth) {
    this.#inner = inner;
    this.#health = health;
  }

  get = (key: string) => this.#run('get', () => this.#inner.get(key));
  set = (key: string, value: string, ttlSeconds: number) =>
    this.#run('set', () => this.#inner.set(key, value, ttlSeconds));
  setIfAbsent = (key: string, value: string, ttlSeconds: number) =>
    this.#run('setIfAbsent', () => this.#inner.setIfAbsent(key, value, ttlSeconds));
  delete = (key: string) => this.#run('delete', () => this.#inner.delete(key));
  increment = (key: string, ttlSeconds: number, by?: number) =>
    this.#run('increment', () => this.#inner.increment(key, ttlSeconds, by));
  ttlMs = (key: string) => this.#run('ttlMs', () => this.#inner.ttlMs(key));
  takeToken = (key: string, capacity: number, refillPerMinute: number) =>
    this.#run('takeToken', () => this.#inner.takeToken(key, capacity, refillPerMinute));
  deleteAll = (keys: readonly string[]) => this.#run('delete', () => this.#inner.deleteAll(keys));
  writeIndexed = (w: IndexedWrite) => this.#run('writeIndexed', () => this.#inner.writeIndexed(w));
  beginSend = (req: BeginSend) => this.#run('beginSend', () => this.#inner.beginSend(req));
  endSend = (req: EndSend) => this.#run('endSend', () => this.#inner.endSend(req));

  windowAdd = (key: string, id: string, windowMs: number, limit: number) =>
    this.#run('windowAdd', () => this.#inner.windowAdd(key, id, windowMs, limit));
  windowRemove = (key: string, id: string) => this.#run('windowRemove', () => this.#inner.windowRemove(key, id));

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      const value = await fn();
      this.#health.report(true, op);
      return value;
    } catch (err) {
      this.#health.failed(op, err);
      throw err;
    }
  }
}
