import { Redis } from 'ioredis';
import type { StateStore } from './store.ts';

/**
 * Fleet-wide store. Commands fail fast instead of queueing while Redis is down
 * (enableOfflineQueue: false, one retry per request): callers decide what a failure means
 * (dedupe fails open, docs/architecture.md#state-and-scale), and an SMTP reply must not wait on a dead Redis.
 */
export class RedisStore implements StateStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(url: string, prefix = 'smtpgw:') {
    this.#redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 2000,
      lazyConnect: false,
    });
    // Errors surface on the commands; this only keeps ioredis from logging unhandled 'error' events.
    this.#redis.on('error', () => {});
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

  async increment(key: string, ttlSeconds: number): Promise<number> {
    const k = this.#prefix + key;
    const [[, n]] = (await this.#redis.multi().incr(k).expire(k, ttlSeconds, 'NX').exec()) as [[unknown, number]];
    return n;
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
