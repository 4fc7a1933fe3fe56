import { Redis } from 'ioredis';
import type { StateStore, WindowAdd } from './store.ts';

// Token bucket in one script, so that pods sharing Redis take tokens atomically. Time is
// Redis's own clock (TIME), so pods with skewed clocks still agree. Tokens are kept as a
// string (a Lua number returned to Redis would be truncated). Redis ≥ 5 replicates the
// script's effects, so TIME is allowed here.
const TAKE_TOKEN = `
local cap = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1]) or cap
local ts = tonumber(v[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * per_ms)
if tokens < 1 then return math.ceil((1 - tokens) / per_ms) end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / per_ms) + 1000)
return 0
`;

// Sliding window of entries in one script (StateStore.windowAdd): a sorted set scored by
// Redis's clock, trimmed to the window before counting, so pods agree and races cannot
// overshoot the limit. The set holds at most `limit` members.
const WINDOW_ADD = `
local w = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - w)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + w - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], w)
return {1, 0}
`;

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

  async close(): Promise<void> {
    this.#closed = true;
    this.#redis.disconnect();
  }
}
