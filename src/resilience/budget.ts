// A per-process retry budget (the SRE book's "retry budget"): retries may add at most `ratio`
// of the calls made in the last `windowMs`, plus a small floor so a quiet process can still
// retry a lone failure. During an outage every call fails; without a budget each message
// would make `attempts` calls and the gateway would triple the load on a struggling API.
import { SlidingCounts } from './window.ts';

export interface RetryBudgetOptions {
  /** Retries allowed as a fraction of first attempts in the window. */
  ratio: number;
  /** Retries always allowed per second of window, whatever the traffic. */
  minPerSecond: number;
  windowMs: number;
  now?: () => number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { ratio: 0.1, minPerSecond: 3, windowMs: 10_000 };

export class RetryBudget {
  readonly #o: Required<RetryBudgetOptions>;
  /** a = first attempts, b = retries. */
  readonly #counts: SlidingCounts;

  constructor(opts: RetryBudgetOptions = DEFAULT_RETRY_BUDGET) {
    this.#o = { now: Date.now, ...opts };
    this.#counts = new SlidingCounts(this.#o.windowMs, this.#o.now);
  }

  /** A first attempt was made. */
  recordCall(): void {
    this.#counts.add(1, 0);
  }

  /** True (and the retry is counted) when one more retry fits the budget. */
  tryRetry(): boolean {
    const { a: calls, b: retries } = this.#counts.totals();
    const allowed = Math.max(this.#o.minPerSecond * (this.#o.windowMs / 1000), this.#o.ratio * calls);
    if (retries >= allowed) return false;
    this.#counts.add(0, 1);
    return true;
  }
}
