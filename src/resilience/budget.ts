// A per-process retry budget (the SRE book's "retry budget"): retries may add at most `ratio`
// of the calls made in the last `windowMs`, plus a small floor so a quiet process can still
// retry a lone failure. During an outage every call fails; without a budget each message
// would make `attempts` calls and the gateway would triple the load on a struggling API.

export interface RetryBudgetOptions {
  /** Retries allowed as a fraction of first attempts in the window. */
  ratio: number;
  /** Retries always allowed per second of window, whatever the traffic. */
  minPerSecond: number;
  windowMs: number;
  now?: () => number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { ratio: 0.1, minPerSecond: 3, windowMs: 10_000 };

const BUCKETS = 10;

export class RetryBudget {
  readonly #o: Required<RetryBudgetOptions>;
  readonly #buckets: { start: number; calls: number; retries: number }[] = [];

  constructor(opts: RetryBudgetOptions = DEFAULT_RETRY_BUDGET) {
    this.#o = { now: Date.now, ...opts };
  }

  /** A first attempt was made. */
  recordCall(): void {
    this.#bucket().calls++;
  }

  /** True (and the retry is counted) when one more retry fits the budget. */
  tryRetry(): boolean {
    const { calls, retries } = this.#totals();
    const allowed = Math.max(this.#o.minPerSecond * (this.#o.windowMs / 1000), this.#o.ratio * calls);
    if (retries >= allowed) return false;
    this.#bucket().retries++;
    return true;
  }

  #bucket(): { start: number; calls: number; retries: number } {
    const width = this.#o.windowMs / BUCKETS;
    const now = this.#o.now();
    const start = now - (now % width);
    const last = this.#buckets[this.#buckets.length - 1];
    if (last && last.start === start) return last;
    const b = { start, calls: 0, retries: 0 };
    this.#buckets.push(b);
    while (this.#buckets.length > BUCKETS) this.#buckets.shift();
    return b;
  }

  #totals(): { calls: number; retries: number } {
    const since = this.#o.now() - this.#o.windowMs;
    let calls = 0;
    let retries = 0;
    for (const b of this.#buckets) {
      if (b.start + this.#o.windowMs / BUCKETS <= since) continue;
      calls += b.calls;
      retries += b.retries;
    }
    return { calls, retries };
  }
}
