// Two counts over a sliding window, kept in ten buckets so memory stays constant however busy
// the process is. Shared by the circuit breaker (requests, failures) and the retry budget
// (calls, retries): both need "how many of each in the last windowMs".
const BUCKETS = 10;

interface Bucket {
  start: number;
  a: number;
  b: number;
}

export class SlidingCounts {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #buckets: Bucket[] = [];

  constructor(windowMs: number, now: () => number) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  add(a: number, b: number): void {
    const bucket = this.#bucket();
    bucket.a += a;
    bucket.b += b;
  }

  /** The sums of both counts over the buckets still inside the window. */
  totals(): { a: number; b: number } {
    const width = this.#windowMs / BUCKETS;
    const since = this.#now() - this.#windowMs;
    let a = 0;
    let b = 0;
    for (const bucket of this.#buckets) {
      if (bucket.start + width <= since) continue;
      a += bucket.a;
      b += bucket.b;
    }
    return { a, b };
  }

  clear(): void {
    this.#buckets.length = 0;
  }

  #bucket(): Bucket {
    const width = this.#windowMs / BUCKETS;
    const now = this.#now();
    const start = now - (now % width);
    const last = this.#buckets[this.#buckets.length - 1];
    if (last && last.start === start) return last;
    const bucket = { start, a: 0, b: 0 };
    this.#buckets.push(bucket);
    while (this.#buckets.length > BUCKETS) this.#buckets.shift();
    return bucket;
  }
}
