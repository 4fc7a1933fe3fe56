import type { BeginSend, BeginSendResult, EndSend, IndexedWrite, StateStore, WindowAdd } from './store.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

export interface MemoryStoreOptions {
  /**
   * Most entries held (DEDUPE_MAX_ENTRIES). Past it the oldest-written entry is evicted, so a
   * process without Redis cannot grow without bound; an evicted dedupe record can only turn
   * into a duplicate send, never a loss (docs/security.md).
   */
  maxEntries?: number;
  onEvict?: () => void;
}

/** Single-process store. Expired entries are swept lazily and by a periodic unref'd timer. */
export class MemoryStore implements StateStore {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;
  readonly #max: number;
  readonly #onEvict: (() => void) | undefined;

  constructor(now: () => number = Date.now, opts: MemoryStoreOptions = {}) {
    this.#now = now;
    this.#max = opts.maxEntries ?? Number.POSITIVE_INFINITY;
    this.#onEvict = opts.onEvict;
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.#live(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    // Re-inserted so the Map's order stays the write order that eviction relies on.
    if (!this.#entries.delete(key)) this.#makeRoom();
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlSeconds * 1000 });
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  #makeRoom(): void {
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) return;
      this.#entries.delete(oldest.value);
      this.#onEvict?.();
    }
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.#live(key)) return false;
    await this.set(key, value, ttlSeconds);
    return true;
  }

  async increment(key: string, ttlSeconds: number, by = 1): Promise<number> {
    const current = this.#live(key);
    const next = (current ? Number(current.value) : 0) + by;
    // A new counter takes room like any entry: one per client IP must not grow without bound.
    if (!current) this.#makeRoom();
    this.#entries.set(key, { value: String(next), expiresAt: current?.expiresAt ?? this.#now() + ttlSeconds * 1000 });
    return next;
  }

  async ttlMs(key: string): Promise<number | null> {
    const e = this.#live(key);
    return e ? e.expiresAt - this.#now() : null;
  }

  async takeToken(key: string, capacity: number, refillPerMinute: number): Promise<number> {
    const now = this.#now();
    const perMs = refillPerMinute / 60_000;
    const current = this.#live(key);
    const [stored, at] = current ? current.value.split(':').map(Number) : [capacity, now];
    const tokens = Math.min(capacity, (stored ?? capacity) + (now - (at ?? now)) * perMs);
    if (tokens < 1) return Math.ceil((1 - tokens) / perMs);
    const left = tokens - 1;
    // Kept until the bucket would be full again; a missing bucket is a full one.
    await this.set(key, `${left}:${now}`, Math.ceil((capacity - left) / perMs / 1000) + 1);
    return 0;
  }

  async windowAdd(key: string, id: string, windowMs: number, limit: number): Promise<WindowAdd> {
    const now = this.#now();
    const entries = this.#window(key).filter((e) => e.t > now - windowMs);
    if (entries.length >= limit) {
      const oldest = Math.min(...entries.map((e) => e.t));
      await this.set(key, JSON.stringify(entries), Math.ceil(windowMs / 1000));
      return { added: false, retryMs: Math.max(1, oldest + windowMs - now) };
    }
    entries.push({ t: now, id });
    await this.set(key, JSON.stringify(entries), Math.ceil(windowMs / 1000));
    return { added: true, retryMs: 0 };
  }

  async windowRemove(key: string, id: string): Promise<void> {
    const e = this.#live(key);
    if (!e) return;
    const entries = this.#window(key).filter((x) => x.id !== id);
    this.#entries.set(key, { value: JSON.stringify(entries), expiresAt: e.expiresAt });
  }

  #window(key: string): { t: number; id: string }[] {
    const v = this.#live(key)?.value;
    return v ? (JSON.parse(v) as { t: number; id: string }[]) : [];
  }

  async writeIndexed(w: IndexedWrite): Promise<void> {
    for (const v of w.values) await this.set(v.key, v.value, v.ttlSeconds);
    for (const x of w.indexes) {
      const n = await this.increment(`${x.key}:n`, x.ttlSeconds);
      await this.set(`${x.key}:${n}`, x.value, x.ttlSeconds);
    }
  }

  async deleteAll(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.#entries.delete(k);
  }

  // One process, no await inside: each of these runs as one step, like the Redis scripts.
  async beginSend(r: BeginSend): Promise<BeginSendResult> {
    const accepted = this.#live(r.keys.accepted);
    if (accepted) return { kind: 'accepted', value: accepted.value };
    if (this.#live(r.keys.claim)) return { kind: 'busy' };
    await this.set(r.keys.claim, r.owner, r.claimTtlS);
    const ambiguous = this.#live(r.keys.ambiguous)?.value ?? null;
    if (ambiguous === null && r.attempt !== null) await this.set(r.keys.ambiguous, r.attempt, r.recordTtlS);
    return { kind: 'claimed', ambiguous };
  }

  async endSend(r: EndSend): Promise<void> {
    if (r.accepted !== undefined) await this.set(r.keys.accepted, r.accepted, r.recordTtlS);
    if (r.ambiguous === 'clear') this.#entries.delete(r.keys.ambiguous);
    else if (r.ambiguous !== 'keep') await this.set(r.keys.ambiguous, r.ambiguous.set, r.recordTtlS);
    this.#entries.delete(r.keys.claim);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#entries.clear();
  }

  #live(key: string): Entry | undefined {
    const e = this.#entries.get(key);
    if (e && e.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(k);
  }
}
