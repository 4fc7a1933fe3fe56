// The one state seam (docs/architecture.md#state-and-scale): counters with TTL, set-if-absent with TTL, plain values.
// In-process memory by default; Redis when REDIS_URL is set, so that every pod of a fleet
// sees the same dedupe records. Values are never secrets (docs/architecture.md#semantics-that-never-bend).
export interface StateStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** True when the key was absent and is now set. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Increment a counter, setting its TTL when it is created; returns the new value. */
  increment(key: string, ttlSeconds: number): Promise<number>;
  close(): Promise<void>;
}
