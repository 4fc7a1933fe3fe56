// The Redis spool's state changes, one Lua script each (docs/architecture.md#spool-on-redis).
// A script runs alone on the server, so each change is all-or-nothing for every process of the
// fleet: the byte budget cannot be overrun by two pods putting at once, a message is never in
// the stream and the delay set at the same time, and a lease is granted to one worker only.
// Times are the callers' clocks (Unix ms, as the dir spool and the conformance suite use them):
// the pods' clocks must agree to well within SPOOL_LEASE_MS (NTP does).
//
// Per-message keys (`m:<id>`, `j:<id>`) are derived inside the scripts from the key base, so
// the spool needs one Redis, not Redis Cluster (docs/operations.md#spool-on-redis).

/** Moves a message from whichever state set it is in to `to` (nil: none), scored by `at`. */
const SET_STATE = `
local function set_state(queued, retrying, dead, id, to, at)
  redis.call('ZREM', queued, id)
  redis.call('ZREM', retrying, id)
  redis.call('ZREM', dead, id)
  if to == 'queued' then redis.call('ZADD', queued, at, id)
  elseif to == 'retrying' then redis.call('ZADD', retrying, at, id)
  elseif to == 'dead' then redis.call('ZADD', dead, at, id) end
end
`;

/**
 * put. KEYS: m, j, stream, all, queued, bytes, delayed. ARGV: id, size, maxBytes, head, raw,
 * receivedAt, due. A message due later than received (a scheduled send) waits in the delay set.
 * → {1, usedAfter} stored, {0, usedBefore} over the budget (nothing written).
 * The budget check, the count and the XADD are one step: two pods cannot both take the last
 * bytes, and a message is never counted without being stored or stored without being counted.
 */
export const PUT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR spool id already in use') end
local size = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[6]) or '0')
if used + size > tonumber(ARGV[3]) then return {0, used} end
local due = ARGV[7] or ARGV[6]
if tonumber(due) > tonumber(ARGV[6]) then
  redis.call('ZADD', KEYS[7], due, ARGV[1])
  redis.call('HSET', KEYS[1], 'head', ARGV[4], 'raw', ARGV[5], 'bytes', size, 'at', ARGV[6],
    'state', 'queued', 'where', 'delayed', 'next', due)
else
  local sid = redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
  redis.call('HSET', KEYS[1], 'head', ARGV[4], 'raw', ARGV[5], 'bytes', size, 'at', ARGV[6],
    'state', 'queued', 'where', 'ready', 'sid', sid, 'next', ARGV[6])
end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
return {1, redis.call('INCRBY', KEYS[6], size)}
`;

/**
 * lease. KEYS: stream, delayed, leased. ARGV: base, group, owner, now, leaseMs, max, tokenBase,
 * promoteMax, reclaim ('1' or '0'), then the tokens the owner knows it holds.
 * → {id1, token1, id2, token2, …}.
 * 1. Messages whose backoff is over move from the delay set back to the stream.
 * 2. With `reclaim` (the owner's previous lease call failed, so its reply may have been lost
 *    after the leases were granted): leases of this owner under a token it does not know are
 *    granted again, rather than left idle until they lapse.
 * 3. Leases that lapsed (their holder died or stalled) are taken over: the stream entry moves
 *    to this consumer (XCLAIM … FORCE, so an entry missing from the pending list is taken too).
 * 4. New stream entries are read in the group: each goes to exactly one consumer.
 * An entry whose message was dropped, or that a later XADD superseded, is acknowledged and
 * deleted on the way.
 */
export const LEASE = `
local base, group, owner = ARGV[1], ARGV[2], ARGV[3]
local now, max = tonumber(ARGV[4]), tonumber(ARGV[6])
local expires = now + tonumber(ARGV[5])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[8]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local m = base .. 'm:' .. id
  if redis.call('EXISTS', m) == 1 then
    local sid = redis.call('XADD', KEYS[1], '*', 'id', id)
    redis.call('HSET', m, 'where', 'ready', 'sid', sid)
  end
end
local out = {}
local function grant(id, m)
  local token = ARGV[7] .. '.' .. (#out / 2 + 1)
  redis.call('HSET', m, 'owner', owner, 'token', token, 'exp', expires)
  redis.call('ZADD', KEYS[3], expires, id)
  out[#out + 1] = id
  out[#out + 1] = token
end
if ARGV[9] == '1' then
  local known = {}
  for i = 10, #ARGV do known[ARGV[i]] = true end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    if #out / 2 >= max then break end
    local m = base .. 'm:' .. id
    local f = redis.call('HMGET', m, 'owner', 'token', 'where')
    if f[1] == owner and f[3] == 'ready' and not known[f[2]] then grant(id, m) end
  end
end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, max - #out / 2)
for _, id in ipairs(lapsed) do
  local m = base .. 'm:' .. id
  local f = redis.call('HMGET', m, 'where', 'sid')
  if f[1] == 'ready' then
    redis.call('XCLAIM', KEYS[1], group, owner, 0, f[2], 'FORCE', 'JUSTID')
    grant(id, m)
  else
    redis.call('ZREM', KEYS[3], id)
  end
end
local want = max - #out / 2
if want > 0 then
  local read = redis.pcall('XREADGROUP', 'GROUP', group, owner, 'COUNT', want, 'STREAMS', KEYS[1], '>')
  if type(read) == 'table' and read.err then
    -- The group is gone (a Redis that lost its data): create it again, reading from the start.
    if not string.find(read.err, 'NOGROUP') then return redis.error_reply(read.err) end
    redis.call('XGROUP', 'CREATE', KEYS[1], group, '0', 'MKSTREAM')
    read = redis.call('XREADGROUP', 'GROUP', group, owner, 'COUNT', want, 'STREAMS', KEYS[1], '>')
  end
  if read then
    for _, entry in ipairs(read[1][2]) do
      local sid, id = entry[1], entry[2][2]
      local m = base .. 'm:' .. id
      local f = redis.call('HMGET', m, 'where', 'sid')
      if f[1] == 'ready' and f[2] == sid then
        grant(id, m)
      else
        redis.call('XACK', KEYS[1], group, sid)
        redis.call('XDEL', KEYS[1], sid)
      end
    end
  end
end
return out
`;

/**
 * journal. KEYS: m, j. ARGV: record (JSON), token. → 1 appended, 0 the message is gone or the
 * lease is not this token's (it lapsed and was taken over, or was settled): fenced like settle.
 */
export const JOURNAL = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
`;

/**
 * settle. KEYS: m, j, stream, leased, delayed, all, queued, retrying, dead, bytes.
 * ARGV: id, group, token, journalLength, record, state (delivered|dead|queued|retrying), nextAt.
 * → 'gone' | 'lost' | 'stale' (the journal grew since the caller folded it: fold again) |
 *   'removed' | 'dead' | 'rescheduled'.
 * The caller folds the journal with the settle record to find the new state; the length check
 * makes that fold and this write one step even when an admin retry lands in between.
 */
export const SETTLE = `${SET_STATE}
local id, group = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local f = redis.call('HMGET', KEYS[1], 'token', 'where', 'sid', 'bytes', 'at')
if f[1] ~= ARGV[3] then return 'lost' end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[4]) then return 'stale' end
if f[2] == 'ready' then
  redis.call('XACK', KEYS[3], group, f[3])
  redis.call('XDEL', KEYS[3], f[3])
end
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
local state = ARGV[6]
if state == 'delivered' then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('ZREM', KEYS[6], id)
  set_state(KEYS[7], KEYS[8], KEYS[9], id, nil, 0)
  redis.call('DECRBY', KEYS[10], tonumber(f[4]))
  return 'removed'
end
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('HDEL', KEYS[1], 'owner', 'token', 'exp', 'sid')
set_state(KEYS[7], KEYS[8], KEYS[9], id, state, f[5])
if state == 'dead' then
  redis.call('HSET', KEYS[1], 'state', 'dead', 'where', 'dead')
  return 'dead'
end
redis.call('HSET', KEYS[1], 'state', state, 'where', 'delayed', 'next', ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[7], id)
return 'rescheduled'
`;

/**
 * retry. KEYS: m, j, stream, delayed, queued, retrying, dead. ARGV: id, journalLength, record,
 * state (queued|retrying), at. → 'gone' | 'stale' | 'ok'.
 * A dead or delayed message goes back into the stream now; one in the stream (leased or not)
 * stays there: a leased one is retried when its holder settles or its lease lapses.
 */
export const RETRY = `${SET_STATE}
local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[2]) then return 'stale' end
redis.call('RPUSH', KEYS[2], ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'where', 'at')
set_state(KEYS[5], KEYS[6], KEYS[7], id, ARGV[4], f[2])
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'next', ARGV[5])
if f[1] ~= 'ready' then
  redis.call('ZREM', KEYS[4], id)
  local sid = redis.call('XADD', KEYS[3], '*', 'id', id)
  redis.call('HSET', KEYS[1], 'where', 'ready', 'sid', sid)
end
return 'ok'
`;

/**
 * drop. KEYS: m, j, stream, leased, delayed, all, queued, retrying, dead, bytes. ARGV: id, group.
 * → 1 removed, 0 there was none. The byte count goes down by exactly what put added.
 */
export const DROP = `${SET_STATE}
local id, group = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local f = redis.call('HMGET', KEYS[1], 'where', 'sid', 'bytes')
if f[1] == 'ready' then
  redis.call('XACK', KEYS[3], group, f[2])
  redis.call('XDEL', KEYS[3], f[2])
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('ZREM', KEYS[6], id)
set_state(KEYS[7], KEYS[8], KEYS[9], id, nil, 0)
redis.call('DECRBY', KEYS[10], tonumber(f[3]))
return 1
`;

/**
 * prune. KEYS: stream. ARGV: group, idleMs. → consumers removed.
 * Every process start is a new consumer; those of processes long gone would pile up in the
 * group. A consumer is removed only with nothing pending, in the same step as the check, so a
 * live consumer that just read an entry is never removed with it (it would be re-created by
 * its next read anyway).
 */
export const PRUNE = `
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if consumers.err then return 0 end
local removed = 0
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
`;
