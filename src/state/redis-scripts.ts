// The fleet state's decisions, one Lua script each (docs/architecture.md#state-and-scale): a
// script runs alone on the server, so each decision is atomic for every pod and costs one round
// trip. The keys of one decision are passed in KEYS, so a script touches nothing else.

/**
 * Token bucket. KEYS: bucket. ARGV: capacity, refill per minute. → 0 taken, else ms until one is
 * free. Time is Redis's own clock (TIME), so pods with skewed clocks still agree. Tokens are kept
 * as a string (a Lua number returned to Redis would be truncated). Redis ≥ 5 replicates the
 * script's effects, so TIME is allowed here.
 */
export const TAKE_TOKEN = `
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

/**
 * Before a send. KEYS: accepted, claim, ambiguous. ARGV: owner, claimTtlS, attempt ('' none),
 * recordTtlS. → {'accepted', value} | {'busy'} | {'claimed'} | {'claimed', ambiguous}.
 * The accepted check, the claim and the attempt record are one step: no session can send a
 * recipient another has accepted or is sending, and the attempt is on record before the call.
 */
export const BEGIN_SEND = `
local accepted = redis.call('GET', KEYS[1])
if accepted then return {'accepted', accepted} end
if not redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2], 'NX') then return {'busy'} end
local ambiguous = redis.call('GET', KEYS[3])
if ambiguous then return {'claimed', ambiguous} end
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4]) end
return {'claimed'}
`;

/**
 * After a send. KEYS: accepted, claim, ambiguous. ARGV: accepted value ('' none), ambiguous
 * ('keep' | 'clear' | 'set'), the ambiguous value for 'set', recordTtlS. The record is written
 * before the claim goes: a session waiting on the claim finds the recipient accepted.
 */
export const END_SEND = `
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4]) end
if ARGV[2] == 'clear' then redis.call('DEL', KEYS[3])
elseif ARGV[2] == 'set' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4]) end
redis.call('DEL', KEYS[2])
return 1
`;

/**
 * Sliding window of entries (StateStore.windowAdd). KEYS: window. ARGV: id, windowMs, limit.
 * → {1, 0} added, {0, ms until the oldest leaves}. A sorted set scored by Redis's clock, trimmed
 * to the window before counting, so pods agree and races cannot overshoot the limit. The set
 * holds at most `limit` members.
 */
export const WINDOW_ADD = `
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

/**
 * StateStore.writeIndexed in one step. KEYS: the values' keys, then the indexes' keys. ARGV[1]:
 * how many values; then (value, ttl) for each key in KEYS' order.
 */
export const WRITE_INDEXED = `
local nv = tonumber(ARGV[1])
local a = 2
for i = 1, #KEYS do
  if i <= nv then
    redis.call('SET', KEYS[i], ARGV[a], 'EX', ARGV[a + 1])
  else
    local counter = KEYS[i] .. ':n'
    local n = redis.call('INCR', counter)
    if n == 1 then redis.call('EXPIRE', counter, ARGV[a + 1]) end
    redis.call('SET', KEYS[i] .. ':' .. n, ARGV[a], 'EX', ARGV[a + 1])
  end
  a = a + 2
end
return #KEYS
`;
