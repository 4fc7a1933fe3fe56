import { Redis } from 'ioredis';
import { BEGIN_SEND, END_SEND, TAKE_TOKEN, WINDOW_ADD, WRITE_INDEXED } from './redis-scripts.ts';
import type { BeginSend, BeginSendResult, EndSend, IndexedWrite, StateStore, WindowAdd } from './store.ts';

/** Connection state changes, for the `smtp_gateway_state_store_up` gauge and its log line. */
export type RedisStatusListener = (up: boolean, detail: string) => void;

/**
 * Fleet-wide store. Commands fail fast instead of queueing while Redis is down
 * (enableOfflineQueue: false, one retry per request): callers decide what a failure means
 * (dedupe fails open, docs/architecture.md#state-and-scale), and an SMTP reply must not wait on a dead Redis.
 */
export class RedisStore implements StateStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  #closed = false;

  constructor(url: string, prefix = 'smtpgw:', onStatus?: RedisStatusListener) {
    this.#redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 2000,
      lazyConnect: false,
    });
    // Errors surface on the commands; this only keeps ioredis from logging unhandled 'error' events.
    this.#redis.on('error', () => {});
    // EVALSHA, loading the script once per connection.
    this.#redis.defineCommand('gatewayTakeToken', { numberOfKeys: 1, lua: TAKE_TOKEN });
    this.#redis.defineCommand('gatewayWindowAdd', { numberOfKeys: 1, lua: WINDOW_ADD });
    this.#redis.defineCommand('gatewayBeginSend', { numberOfKeys: 3, lua: BEGIN_SEND });
    this.#redis.defineCommand('gatewayEndSend', { numberOfKeys: 3, lua: END_SEND });
    // The number of keys varies: given as the first argument.
    this.#redis.defineCommand('gatewayWriteIndexed', { lua: WRITE_INDEXED });
    if (onStatus) {
      // ioredis reconnects by itself; 'close' repeats on every failed attempt, the listener
      // reports changes only.
      this.#redis.on('ready', () => onStatus(true, 'connected'));
      this.#redis.on('close', () => {
        if (!this.#closed) onStatus(false, 'connection closed');
      });
    }
    this.#prefix = prefix;
  }

  /** Resolves once connected (or rejects after the connect timeout). */
  async ready(): Promise<void> {
    if (this.#redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('Redis not ready after 5 s')), 5000);
      this.#redis.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async get(key: string): Promise<string | null> {
    return this.#redis.get(this.#prefix + key);
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.#redis.set(this.#prefix + key, value, 'EX', ttlSeconds);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.#redis.set(this.#prefix + key, value, 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  async delete(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }

  async increment(key: string, ttlSeconds: number, by = 1): Promise<number> {
    const k = this.#prefix + key;
    const [[, n]] = (await this.#redis.multi().incrby(k, by).expire(k, ttlSeconds, 'NX').exec()) as [[unknown, number]];
    return n;
  }

  async ttlMs(key: string): Promise<number | null> {
    const ms = await this.#redis.pttl(this.#prefix + key);
    // -2: no such key; -1: no expiry (never written by us, but not a block either way).
    return ms >= 0 ? ms : null;
  }

  async takeToken(key: string, capacity: number, refillPerMinute: number): Promise<number> {
    const redis = this.#redis as unknown as {
      gatewayTakeToken(key: string, capacity: number, perMinute: number): Promise<number>;
    };
    return Number(await redis.gatewayTakeToken(this.#prefix + key, capacity, refillPerMinute));
  }

  async windowAdd(key: string, id: string, windowMs: number, limit: number): Promise<WindowAdd> {
    const redis = this.#redis as unknown as {
      gatewayWindowAdd(key: string, id: string, windowMs: number, limit: number): Promise<[number, number]>;
    };
    const [added, retryMs] = await redis.gatewayWindowAdd(this.#prefix + key, id, windowMs, limit);
    return { added: added === 1, retryMs: Number(retryMs) };
  }

  async windowRemove(key: string, id: string): Promise<void> {
    await this.#redis.zrem(this.#prefix + key, id);
  }

  async deleteAll(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#redis.del(...keys.map((k) => this.#prefix + k));
  }

  async writeIndexed(w: IndexedWrite): Promise<void> {
    const entries = [...w.values, ...w.indexes];
    if (entries.length === 0) return;
    const redis = this.#redis as unknown as {
      gatewayWriteIndexed(...args: (string | number)[]): Promise<number>;
    };
    await redis.gatewayWriteIndexed(
      entries.length,
      ...entries.map((e) => this.#prefix + e.key),
      w.values.length,
      ...entries.flatMap((e) => [e.value, e.ttlSeconds]),
    );
  }

  async beginSend(r: BeginSend): Promise<BeginSendResult> {
    const [kind, value] = (await this.#scripts.gatewayBeginSend(
      ...this.#sendKeys(r.keys),
      r.owner,
      r.claimTtlS,
      r.attempt ?? '',
      r.recordTtlS,
    )) as [string, string | undefined];
    if (kind === 'accepted') return { kind, value: value as string };
    if (kind === 'busy') return { kind };
    return { kind: 'claimed', ambiguous: value ?? null };
  }

  async endSend(r: EndSend): Promise<void> {
    const mode = typeof r.ambiguous === 'string' ? r.ambiguous : 'set';
    const value = typeof r.ambiguous === 'string' ? '' : r.ambiguous.set;
    await this.#scripts.gatewayEndSend(...this.#sendKeys(r.keys), r.accepted ?? '', mode, value, r.recordTtlS);
  }

  #sendKeys(k: { accepted: string; claim: string; ambiguous: string }): [string, string, string] {
    return [this.#prefix + k.accepted, this.#prefix + k.claim, this.#prefix + k.ambiguous];
  }

  get #scripts(): Record<'gatewayBeginSend' | 'gatewayEndSend', (...args: (string | number)[]) => Promise<unknown>> {
    return this.#redis as unknown as Record<
      'gatewayBeginSend' | 'gatewayEndSend',
      (...args: (string | number)[]) => Promise<unknown>
    >;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#redis.disconnect();
  }
}
