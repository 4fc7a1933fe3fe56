// Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
// Jitter"): the n-th wait is a random time up to base × 2^(n-1), capped, so clients that failed
// together do not retry together. One formula for the API retry (cakemail/retry.ts) and the
// spool's redelivery (spool/worker.ts).

/** The wait before retry `n` (n ≥ 1), in whole ms; `random` returns [0, 1) (injectable for tests). */
export function fullJitterMs(n: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  // The exponent is held at 30: past it the cap has long applied, and 2^n would overflow.
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(n - 1, 30)));
  return Math.floor(random() * ceiling);
}
