// Counts of API requests received, keyed "METHOD /path" (no query string). Tests read them to
// prove that the gateway made, or did not make, an API call.

/** Distinct keys kept; a client probing random paths cannot grow the map without bound. */
const MAX_KEYS = 1000;

export class RequestCounters {
  private readonly counts = new Map<string, number>();

  hit(method: string, path: string): void {
    const key = `${method} ${path}`;
    const current = this.counts.get(key);
    if (current === undefined && this.counts.size >= MAX_KEYS) {
      this.counts.set('(other)', (this.counts.get('(other)') ?? 0) + 1);
      return;
    }
    this.counts.set(key, (current ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  reset(): void {
    this.counts.clear();
  }
}
