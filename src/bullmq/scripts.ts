import type { Redis } from 'ioredis';
import { FIELD, HELD } from './jobs.js';
import { KEPT_FIRST_ERRORS, KEPT_LAST_ERRORS, OMITTED_MESSAGE } from '../durable/kept-errors.js';

/**
 * Counts of one queue's jobs by Coda's states, in one call (Lua runs
 * atomically): KEYS are the queue's wait, prioritized, paused, active,
 * completed, failed and delayed keys and its holds; ARGV[1] the delayed
 * set's highest score that is due now. Returns ready, delayed, running,
 * completed, failed, held.
 */
const COUNTS = `
local due = redis.call('ZCOUNT', KEYS[7], '-inf', ARGV[1])
local ready = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('LLEN', KEYS[3]) + due
return { ready, redis.call('ZCARD', KEYS[7]) - due, redis.call('LLEN', KEYS[4]), redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]), redis.call('ZCARD', KEYS[8]) }
`;

/** The suffixes of the queue's keys READ looks for the job in, in the order its checks read them. */
export const READ_STATE_KEYS = ['completed', 'failed', 'delayed', 'prioritized', 'active', 'wait', 'paused', 'waiting-children'] as const;

/**
 * A task read whole in one call (Lua runs atomically): its job's hash, log
 * and hold, and BullMQ's state as its getState script tells it. Read apart,
 * a completion written between the hash and the state read as completed
 * with the running attempt's count, one short. KEYS[1] the job's hash,
 * KEYS[2] its log, KEYS[3] the queue's holds, then the queue's keys of
 * `READ_STATE_KEYS`, in that order; ARGV[1] the id. Returns the hash
 * (field, value, ...), the log, the hold's score or nil, and the state
 * ('unknown' for none).
 */
const READ = `
local state = 'unknown'
local checks = { { 'ZSCORE', 'completed' }, { 'ZSCORE', 'failed' }, { 'ZSCORE', 'delayed' }, { 'ZSCORE', 'prioritized' },
  { 'LPOS', 'active' }, { 'LPOS', 'waiting' }, { 'LPOS', 'waiting' }, { 'ZSCORE', 'waiting-children' } }
for i, check in ipairs(checks) do
  if redis.call(check[1], KEYS[3 + i], ARGV[1]) then
    state = check[2]
    break
  end
end
return { redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1), redis.call('ZSCORE', KEYS[3], ARGV[1]), state }
`;

/**
 * A job's runAt as jobData() writes it in the job's data, as text (runAt
 * then holder: string values are escaped there, so the pattern meets no
 * payload), or nil.
 */
const RUN_AT_OF_DATA = `
local function runAtOfData(data)
  return string.match(data or '', ',"runAt":([-%d.e+]+),"holder":')
end
`;

/**
 * The next jobs of each queue's line, as a claim across names plans its
 * share by age: ARGV[1] at most how many per queue, then each queue's key
 * prefix. Returns, per queue, the runAt and the order added (`seq`) of its
 * next jobs, in the order BullMQ fetches them (from the wait list's right
 * end). Both are read from the job's data as jobData() writes it (seq last:
 * string values are escaped there, so the pattern meets no payload), a
 * runAt on the hash overriding.
 */
const HEADS = `${RUN_AT_OF_DATA}
local out = {}
for at = 2, #ARGV do
  local queue, heads = ARGV[at], {}
  local ids = redis.call('LRANGE', queue .. 'wait', -tonumber(ARGV[1]), -1)
  for i = #ids, 1, -1 do
    local f = redis.call('HMGET', queue .. ids[i], '${FIELD.runAt}', 'data')
    local data = f[2] or ''
    heads[#heads + 1] = tonumber(f[1]) or tonumber(runAtOfData(data)) or 0
    heads[#heads + 1] = tonumber(string.match(data, ',"seq":([-%d.e+]+)}$')) or 0
  end
  out[#out + 1] = heads
end
return out
`;

/**
 * Moves the given waiting jobs to the front of the wait list (BullMQ takes
 * from its right end), keeping their order: the next fetches take them.
 * KEYS[1] the wait list; ARGV the ids. Returns how many were waiting.
 */
const TAKE_FIRST = `
local found = {}
for _, id in ipairs(ARGV) do
  local at = redis.call('LPOS', KEYS[1], id)
  if at then table.insert(found, { id, at }) end
end
table.sort(found, function(a, b) return a[2] < b[2] end)
for _, entry in ipairs(found) do
  redis.call('LREM', KEYS[1], 1, entry[1])
  redis.call('RPUSH', KEYS[1], entry[1])
end
return #found
`;

/**
 * Renews running jobs' claims: each job hash whose lock or last claim is this
 * claim's gets its lease (a renewal that crosses a job's removal, completed
 * and pruned or discarded, must not create a hash of one field that nothing
 * removes; one from a process paused past its lease, whose job another
 * process has since claimed, must not write over that claim's lease), and its
 * BullMQ lock is extended, or taken again if it ran out (the process was
 * paused, its loop stalled, for longer than the lock) while the job is still
 * active and its last claim is this one: no other process took it over
 * meanwhile, so BullMQ's stalled check must not count it. KEYS the job
 * hashes; ARGV[1] the lease, ARGV[2] the lock's duration, then each job's id
 * and claim token.
 */
const RENEW = `
for i, job in ipairs(KEYS) do
  local id, token = ARGV[1 + i * 2], ARGV[2 + i * 2]
  local lock = redis.call('GET', job .. ':lock')
  local last = redis.call('HGET', job, '${FIELD.token}') == token
  if (lock == token or last) and redis.call('EXISTS', job) == 1 then
    redis.call('HSET', job, '${FIELD.lease}', ARGV[1])
    local queue = string.sub(job, 1, #job - #id)
    if lock == token or (not lock and redis.call('LPOS', queue .. 'active', id)) then
      redis.call('SET', job .. ':lock', token, 'PX', ARGV[2])
      redis.call('SREM', queue .. 'stalled', id)
    end
  end
end
return 0
`;

/**
 * Runs a command of many members on one key in chunks (Lua's unpack has a
 * limit) and returns its replies, concatenated.
 */
const IN_CHUNKS = `
local function inChunks(command, key, items)
  local out = {}
  for from = 1, #items, 1000 do
    local reply = redis.call(command, key, unpack(items, from, math.min(from + 999, #items)))
    if type(reply) == 'table' then
      for _, each in ipairs(reply) do out[#out + 1] = each end
    end
  end
  return out
end
`;

/**
 * Registration, in one call: refuses a batch with an id already stored (but
 * by this same call: a call whose reply was lost is sent again by ioredis on
 * its new connection, and must answer as the first did), then
 * writes its held tasks, each a job hash as BullMQ writes one (so that BullMQ
 * reads, completes and removes it as its own) in none of BullMQ's lists, its
 * id among its queue's holds scored by its lease: no worker can fetch it
 * until it is released or recovered. A held task's `key` is taken as BullMQ's
 * deduplication takes it (the same key, holding the id; a key whose job is
 * gone is stale and taken over), so that BullMQ's own adds see it; by a held
 * task that keeps its key only (keepsKey(): its `when` is 'always'): one
 * whose `when` may skip it is a duplicate of a pending task that keeps the
 * key, and otherwise takes the key only once it runs (see endHold). A
 * duplicate is told `deduplicated` on its queue's events stream, as BullMQ's
 * add tells one (not when this call's first sending wrote the task).
 * A call undone already (see UNDO: it failed, and its undoing reached Redis
 * first) writes nothing and returns { -1 }.
 * KEYS: the store's set of names, the call's undo mark, then every task's job hash. ARGV[1] the
 * lease, ARGV[2] how many held tasks, ARGV[3] the call's own token, then per
 * held task its queue's key prefix, id, job name, data, opts, timestamp, key
 * ('' for none) and whether it keeps its key ('1' or '0'), then the batch's
 * task names. Returns the index (from 1) of the first task whose id is
 * taken (nothing written), or 0 and, per held task, its id or the id of the
 * pending task that has its key.
 */
const ADD = `${IN_CHUNKS}
local call, mine, holds = ARGV[3], {}, {}
if redis.call('EXISTS', KEYS[2]) == 1 then return { -1 } end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('HGET', KEYS[i], '${FIELD.added}') ~= call then return { i - 2 } end
    mine[KEYS[i]] = true
  end
end
local out = { 0 }
local held = tonumber(ARGV[2])
for at = 4, 3 + held * 8, 8 do
  local queue, id, key = ARGV[at], ARGV[at + 1], ARGV[at + 6]
  local pending = false
  if mine[queue .. id] then
    -- Written by this call's first sending: its answer again (a key it took is its own).
    pending = id
  elseif key ~= '' then
    local dedup = queue .. 'de:' .. key
    pending = redis.call('GET', dedup)
    if pending and redis.call('EXISTS', queue .. pending) == 0 then pending = false end
    if not pending and ARGV[at + 7] == '1' then redis.call('SET', dedup, id) end
    -- Told as BullMQ's add tells a duplicate: QueueEvents listeners see the registrations of requests too.
    if pending then
      local maxEvents = redis.call('HGET', queue .. 'meta', 'opts.maxLenEvents') or 10000
      redis.call('XADD', queue .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'deduplicated', 'jobId', pending, 'deduplicationId', key, 'deduplicatedJobId', id)
    end
  end
  if pending then
    out[#out + 1] = pending
  else
    local fields = { 'name', ARGV[at + 2], 'data', ARGV[at + 3], 'opts', ARGV[at + 4], 'timestamp', ARGV[at + 5], 'delay', 0, 'priority', 0, '${FIELD.added}', call }
    if key ~= '' then
      fields[#fields + 1] = 'deid'
      fields[#fields + 1] = key
    end
    redis.call('HSET', queue .. id, unpack(fields))
    local scored = holds[queue] or {}
    holds[queue] = scored
    scored[#scored + 1] = ARGV[1]
    scored[#scored + 1] = id
    out[#out + 1] = id
  end
end
-- One ZADD per queue, whatever the number of holds.
for queue, scored in pairs(holds) do inChunks('ZADD', queue .. '${HELD}', scored) end
redis.call('SADD', KEYS[1], unpack(ARGV, 4 + held * 8))
return out
`;

/**
 * A job put in its queue's wait list as BullMQ puts one there (at the far
 * end, or with `front` at the near one: BullMQ fetches from the right), its
 * `waiting` event written as BullMQ writes it (the rest of the event's fields
 * after the id); mark() then sets BullMQ's marker once per queue, so that
 * workers look (also for a queue with a job delayed, `marks.delayed`).
 */
const WAITING = `
local queues = {}
-- The queue's state for its marker and events, read once per script.
local function queueOf(queue)
  local found = queues[queue]
  if found then return found end
  local meta = redis.call('HMGET', queue .. 'meta', 'paused', 'concurrency', 'opts.maxLenEvents')
  found = { paused = meta[1], concurrency = meta[2], maxEvents = meta[3] or 10000 }
  queues[queue] = found
  return found
end
local function toWait(queue, id, front, ...)
  local marks = queueOf(queue)
  redis.call(front and 'RPUSH' or 'LPUSH', queue .. 'wait', id)
  redis.call('XADD', queue .. 'events', 'MAXLEN', '~', marks.maxEvents, '*', 'event', 'waiting', 'jobId', id, ...)
  marks.ready = true
end
local function mark()
  for queue, marks in pairs(queues) do
    if marks.ready and not marks.paused and not (marks.concurrency and redis.call('LLEN', queue .. 'active') >= tonumber(marks.concurrency)) then
      redis.call('ZADD', queue .. 'marker', 0, '0')
    end
    if marks.delayed then
      local first = redis.call('ZRANGE', queue .. 'delayed', 0, 0, 'WITHSCORES')
      redis.call('ZADD', queue .. 'marker', math.floor(tonumber(first[2]) / 0x1000), '1')
    end
  end
end
`;

/**
 * Ends holds (shared by the release and the sweep): holds still among their
 * queue's holds are taken off them (one ZMSCORE and one ZREM per queue), then
 * each task either enters BullMQ as BullMQ's own add would put it (waiting,
 * or delayed until runAt; Coda's fields written beside it; BullMQ's events
 * `added`, then `waiting` or `delayed`, written as its add writes them, for
 * QueueEvents listeners and dashboards; BullMQ's marker set once per queue,
 * so that workers look) or, not run, is removed with its key. `how` is
 * 'skip', 'run', or 'front' (run, and if due now, at the front of the line:
 * the next fetch takes it). A hold no longer there (released, recovered or
 * discarded already) is left alone.
 */
const END_HOLDS = `${IN_CHUNKS}${WAITING}
-- Takes the given ids off a queue's holds; returns those that were there (as a set).
local function takeHolds(queue, ids)
  local scores, held, taken = inChunks('ZMSCORE', queue .. '${HELD}', ids), {}, {}
  for i, id in ipairs(ids) do
    if scores[i] then
      held[id] = true
      taken[#taken + 1] = id
    end
  end
  if #taken > 0 then inChunks('ZREM', queue .. '${HELD}', taken) end
  return held
end
-- Ends one hold taken off its queue's holds. Returns false, or where the task went: 'wait', 'front', 'delayed', or
-- 'covered' (removed: it kept no key, and another pending task keeps it; run, it takes its key).
local function endHold(queue, name, id, how, runAt, outcome, key, now)
  local job = queue .. id
  if how == 'skip' then
    redis.call('DEL', job, job .. ':logs')
    if key ~= '' and redis.call('GET', queue .. 'de:' .. key) == id then redis.call('DEL', queue .. 'de:' .. key) end
    return false
  end
  -- A job removed behind Coda's back (by a BullMQ tool) is not brought back as a hash of Coda's fields alone.
  if redis.call('EXISTS', job) == 0 then return false end
  if key ~= '' then
    local dedup = queue .. 'de:' .. key
    local keeper = redis.call('GET', dedup)
    if keeper and keeper ~= id and redis.call('EXISTS', queue .. keeper) == 1 then
      -- A hold that kept no key (its when could skip it), whose key another pending task keeps: that one's run covers it.
      redis.call('DEL', job, job .. ':logs')
      return 'covered'
    end
    if keeper ~= id then redis.call('SET', dedup, id) end
  end
  local marks = queueOf(queue)
  local events = queue .. 'events'
  local fields = { '${FIELD.runAt}', runAt }
  if outcome ~= '' then
    fields[3] = '${FIELD.outcome}'
    fields[4] = outcome
  end
  redis.call('XADD', events, '*', 'event', 'added', 'jobId', id, 'name', name)
  local at = tonumber(runAt)
  if at <= now then
    redis.call('HSET', job, unpack(fields))
    toWait(queue, id, how == 'front')
    return how == 'front' and 'front' or 'wait'
  end
  fields[#fields + 1] = 'delay'
  fields[#fields + 1] = at - now
  redis.call('HSET', job, unpack(fields))
  -- BullMQ's delayed score: the time, then the order added within its millisecond.
  local score = at * 0x1000
  local last = redis.call('ZREVRANGEBYSCORE', queue .. 'delayed', score + 0xfff, score, 'WITHSCORES', 'LIMIT', 0, 1)
  if last[2] then score = math.min(tonumber(last[2]) + 1, score + 0xfff) end
  redis.call('ZADD', queue .. 'delayed', score, id)
  redis.call('XADD', events, 'MAXLEN', '~', marks.maxEvents, '*', 'event', 'delayed', 'jobId', id, 'delay', at)
  marks.delayed = true
  return 'delayed'
end
`;

/**
 * A batch of releases in one call (see END_HOLDS). ARGV[1] the time now, then
 * per release its queue's key prefix, task name, id, how ('skip', 'run' or
 * 'front'), runAt, outcome (JSON) and key ('' for none). Returns the ids released to
 * run, those of them at the front of their lines, and those to run whose job
 * is gone from Redis (lost: Redis restarted without its data, or a tool
 * removed it); a hold gone with its job still there was recovered, and runs.
 */
const RELEASE = `${END_HOLDS}
local now, released, front, lost, byQueue = tonumber(ARGV[1]), {}, {}, {}, {}
for at = 2, #ARGV, 7 do
  local ids = byQueue[ARGV[at]] or {}
  byQueue[ARGV[at]] = ids
  ids[#ids + 1] = ARGV[at + 2]
end
for queue, ids in pairs(byQueue) do byQueue[queue] = takeHolds(queue, ids) end
-- In the releases' order: it is the order of the lines.
for at = 2, #ARGV, 7 do
  local id = ARGV[at + 2]
  local went = byQueue[ARGV[at]][id] and endHold(ARGV[at], ARGV[at + 1], id, ARGV[at + 3], ARGV[at + 4], ARGV[at + 5], ARGV[at + 6], now)
  if went == 'covered' then went = false
  elseif went then released[#released + 1] = id
  elseif ARGV[at + 3] ~= 'skip' and redis.call('EXISTS', ARGV[at] .. id) == 0 then lost[#lost + 1] = id end
  if went == 'front' then front[#front + 1] = id end
end
mark()
return { released, front, lost }
`;

/**
 * Recovers a queue's holds whose lease ran out (their process died): ready
 * at their registration's runAt (its `delayMs` kept) or now, whichever is
 * later, their outcome unknown. Found and moved in one call, so that two
 * processes sweeping at once recover each hold once. KEYS[1] the holds;
 * ARGV[1] the time now, ARGV[2] the queue's key prefix, ARGV[3] at most how
 * many, ARGV[4] the task name, ARGV[5] the time now on Redis's clock (which
 * leases are kept on). Returns how many were recovered.
 */
const SWEEP = `${END_HOLDS}${RUN_AT_OF_DATA}
local now = tonumber(ARGV[1])
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5], 'LIMIT', 0, tonumber(ARGV[3]))
local recovered = 0
if #lapsed > 0 then inChunks('ZREM', KEYS[1], lapsed) end
for _, id in ipairs(lapsed) do
  local job = redis.call('HMGET', ARGV[2] .. id, 'data', 'deid')
  local registered = runAtOfData(job[1])
  local runAt = registered and tonumber(registered) > now and registered or ARGV[1]
  local went = endHold(ARGV[2], ARGV[4], id, 'run', runAt, '', job[2] or '', now)
  if went and went ~= 'covered' then recovered = recovered + 1 end
end
mark()
return recovered
`;

/**
 * Claimed jobs' fields written and the jobs read back, in one call: KEYS,
 * per job, its hash and its log; ARGV[1..3] the owner, lease and start, then
 * per job its lock's token. A job whose earlier attempt Coda started never
 * ended (started > BullMQ's `atm`) stalled: it is left as it is, for the
 * caller to fail that attempt; unless this claim's own token is on it: this
 * same call was sent again. Returns, per job, 1 (claimed) or 0 (stalled),
 * its hash as read before the claim's fields were written (field, value,
 * ...), and its log.
 */
const CLAIMED = `
local out = {}
for i = 1, #KEYS, 2 do
  local hash = redis.call('HGETALL', KEYS[i])
  local token = ARGV[4 + (i - 1) / 2]
  local started, made, again = 0, 0, false
  for f = 1, #hash, 2 do
    local field = hash[f]
    if field == '${FIELD.started}' then started = tonumber(hash[f + 1])
    elseif field == 'atm' then made = tonumber(hash[f + 1])
    elseif field == '${FIELD.token}' then again = hash[f + 1] == token end
  end
  -- This claim sent again (its reply lost, ioredis's resend): counted already, not a stall.
  local claimed = again or started <= made
  if claimed and not again then
    redis.call('HSET', KEYS[i], '${FIELD.owner}', ARGV[1], '${FIELD.lease}', ARGV[2], '${FIELD.startedAt}', ARGV[3],
      '${FIELD.started}', made + 1, '${FIELD.token}', token)
  end
  out[#out + 1] = claimed and 1 or 0
  out[#out + 1] = hash
  out[#out + 1] = redis.call('LRANGE', KEYS[i + 1], 0, -1)
end
return out
`;

/**
 * Undoes a claim's count of a started attempt, if that claim (its lock's
 * token) is the one that counted it, before its job goes back to waiting:
 * an attempt given back never ran. KEYS[1] the job's hash; ARGV[1] the token.
 */
const UNCLAIM = `
if redis.call('HGET', KEYS[1], '${FIELD.token}') == ARGV[1] then
  redis.call('HINCRBY', KEYS[1], '${FIELD.started}', -1)
  redis.call('HDEL', KEYS[1], '${FIELD.token}')
end
return 0
`;

/**
 * Removes a fetched job whose hash was gone (evicted, or deleted by hand) while
 * its id was still waiting: BullMQ's fetch wrote a stub hash (processedOn,
 * ats) under its lock, with no data to run. Only while this claim (ARGV[1],
 * its lock's token) holds it and the hash still has no data. KEYS: the job's
 * hash, log and lock, the queue's active list and stalled set; ARGV[2] the id.
 */
const DROP_GONE = `
if redis.call('HEXISTS', KEYS[1], 'data') == 1 or redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('LREM', KEYS[4], 0, ARGV[2])
redis.call('SREM', KEYS[5], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`;

/** `text` as a Lua string literal (JSON's escapes are Lua's for the ASCII text Coda's scripts hold). */
const luaString = (text: string): string => JSON.stringify(text);

/** The omitted entry's message as JSON text, in two parts around its count. */
const OMITTED_JSON = [JSON.stringify(OMITTED_MESSAGE[0]).slice(0, -1), JSON.stringify(OMITTED_MESSAGE[1]).slice(1)] as const;

/**
 * A job's place in a listing's order: its time added (the hash's
 * `timestamp`) and its order added (`codaSeq` in the hash's few bytes of
 * `opts`; for a job an earlier version added, `seq`, last in its data as
 * jobData() writes it: string values are escaped there, so the pattern meets
 * no payload), each as text, or nil for a job gone. Never a payload read.
 */
const ORDER_OF = `
local function orderOf(queue, id)
  local f = redis.call('HMGET', queue .. id, 'timestamp', 'opts')
  if not f[1] then return nil end
  local seq = string.match(f[2] or '', '"codaSeq":"(%d+)"')
  -- A job an earlier version added has it in its data only.
  if not seq then seq = string.match(redis.call('HGET', queue .. id, 'data') or '', ',"seq":(%d+)}$') or '0' end
  return f[1], seq
end
`;

/**
 * The failed jobs' index (a queue's key, then `:coda-failed`): a sorted
 * set of one score, its members `<time added>:<order added>:<id>`, the
 * numbers written to one width, so that Redis's order of members is the
 * listing's (time, then order added, then id) and a page is read from its
 * cursor on, whatever the number of failed jobs. Kept in step by the store
 * around each move into or out of the failed set (BullMQ's scripts move
 * them: see LOG_FAILURE, REINDEX); what moves it outside the store (a
 * BullMQ tool's retry or removal, another program's failure, a job failed
 * before the index existed) is mended, run when the index and the failed
 * set differ in size (MEND).
 */
const INDEX_MEMBER = `
local function pad(text, width) return string.rep('0', width - #text) .. text end
local function member(at, seq, id) return pad(at, 15) .. ':' .. pad(seq, 17) .. ':' .. id end
local function unpad(text) return string.match(text, '^0*(%d+)$') end
`;

/**
 * A retry by hand, in one call, only while the job is still failed (another
 * retry at once may have run it meanwhile, and its claim's fields are then
 * not this retry's to clear): its key taken again, as a pending task keeps
 * it (BullMQ's deduplication key holding its id; one whose job is gone is
 * stale and taken over), since BullMQ frees it when the job fails; its
 * entry out of the failed index; its time set and its last attempt's fields
 * cleared; then moved out of the failed set to waiting as BullMQ's own retry
 * (reprocessJob) moves it, its counts of attempts reset. The key was taken
 * in a script of its own and BullMQ's retry called after it: a process that
 * died between the two, or a retry refused by an unreachable Redis, left the
 * key held by a job still failed, and every later registration with it was
 * answered as a duplicate of a task that never ran. KEYS[1] the job's hash,
 * KEYS[2] the failed set, KEYS[3] the failed index, KEYS[4] the
 * deduplication key; ARGV[1] the queue's key prefix, ARGV[2] the id, ARGV[3]
 * '1' when the task has a key, ARGV[4] the time, ARGV[5] the call's token,
 * written with the move: the same call sent again by ioredis (Redis ran it,
 * its reply was lost with the connection) found the job no longer failed
 * and answered 0, a retry done told as refused; it answers 1 again, even if
 * the job has run and failed since, which it does not move twice. Returns 0
 * when the job is no longer failed or another pending job keeps the key
 * (nothing written), else 1.
 */
const RETRY = `${ORDER_OF}${INDEX_MEMBER}${WAITING}
local queue, id, job = ARGV[1], ARGV[2], KEYS[1]
if redis.call('HGET', job, '${FIELD.retried}') == ARGV[5] then return 1 end
if not redis.call('ZSCORE', KEYS[2], id) or redis.call('EXISTS', job) == 0 then return 0 end
if ARGV[3] == '1' then
  local keeper = redis.call('GET', KEYS[4])
  if keeper and keeper ~= id and redis.call('EXISTS', queue .. keeper) == 1 then return 0 end
  redis.call('SET', KEYS[4], id)
end
local at, seq = orderOf(queue, id)
if at then redis.call('ZREM', KEYS[3], member(at, seq, id)) end
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', job, '${FIELD.runAt}', ARGV[4], '${FIELD.retried}', ARGV[5])
redis.call('HDEL', job, '${FIELD.finishedAt}', '${FIELD.started}', '${FIELD.token}', 'finishedOn', 'processedOn', 'failedReason', 'atm', 'ats')
toWait(queue, id, false, 'prev', 'failed')
mark()
return 1
`;

/** The raw JSON text of an error line's number `name` (JSON.stringify's: a message's or stack's quotes are escaped, so only the field matches), or nil. */
const LINE_NUMBER = `
local function lineNumber(line, name)
  return string.match(line or '', '"' .. name .. '":(%-?[%d.eE+-]+)')
end
`;

/**
 * A failed attempt's error line on its job's log and fields on its hash (a
 * time; a job edited by hand, its bad fields replaced), only while the job's
 * lock is still this claim's (its token): a job another worker took after a
 * stall, or removed, is left as it is. The log keeps the lines of the first
 * FIRST and the last LAST attempts, as the SQLite store's row does
 * (kept-errors.ts): past that, the line at FIRST counts those left out (its
 * own count, or 1, and one for each other line dropped), finished when the
 * last of them did; a log that held more (written before the cap) is trimmed
 * so too. Every attempt's line was kept, without bound. An attempt's line
 * is written once: a stall charged for an attempt whose claim logged its
 * error already (its process died before BullMQ's move) adds none, where it
 * kept a second, "stalled:" one; a claim whose logged failure was for good
 * is noted too (see JobEnds.failStalled() in ends.ts). A failure for good
 * also writes the job's entry in the failed index (KEYS[4]) here, ahead of
 * BullMQ's move into the failed set: a process dying between the move and
 * an entry written after it left a failed job the index lacked, unlisted for
 * as long as a stale entry no page met kept the two sets' sizes equal;
 * written ahead, the entry is at worst stale until the move (which a page
 * that meets it, or the sizes differing, mends). KEYS[1] the job's hash,
 * KEYS[2] its log, KEYS[3] its lock, KEYS[4] the failed index; ARGV[1] the
 * token, ARGV[2] the line, ARGV[3] the queue's key prefix and ARGV[4] the
 * job's id for a failure for good ('' both otherwise), then each field and
 * its value. Returns 1, or 0 when the lock was lost.
 */
const LOG_FAILURE = `${LINE_NUMBER}${ORDER_OF}${INDEX_MEMBER}
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then
  local at, seq = orderOf(ARGV[3], ARGV[4])
  if at then redis.call('ZADD', KEYS[4], 0, member(at, seq, ARGV[4])) end
end
-- The claim that ran the attempt (its lock may be another's now: a stall's recovery), and whether its error is logged.
local claim = redis.call('HGET', KEYS[1], '${FIELD.token}')
if claim and redis.call('HGET', KEYS[1], '${FIELD.logged}') == claim then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  return 1
end
local n = redis.call('RPUSH', KEYS[2], ARGV[2])
if n > ${KEPT_FIRST_ERRORS + KEPT_LAST_ERRORS} then
  local count = (tonumber(lineNumber(redis.call('LINDEX', KEYS[2], ${KEPT_FIRST_ERRORS}), 'omitted')) or 1) + n - ${KEPT_FIRST_ERRORS + KEPT_LAST_ERRORS + 1}
  local finishedAt = lineNumber(redis.call('LINDEX', KEYS[2], n - ${KEPT_LAST_ERRORS + 1}), 'finishedAt') or lineNumber(ARGV[2], 'finishedAt')
  local last = redis.call('LRANGE', KEYS[2], -${KEPT_LAST_ERRORS}, -1)
  redis.call('LTRIM', KEYS[2], 0, ${KEPT_FIRST_ERRORS - 1})
  redis.call('RPUSH', KEYS[2], '{"attempt":0,"omitted":' .. count .. ',"message":' .. ${luaString(OMITTED_JSON[0])} .. count .. ${luaString(OMITTED_JSON[1])}
    .. ',"startedAt":null,"finishedAt":' .. finishedAt .. '}', unpack(last))
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if claim then redis.call('HSET', KEYS[1], '${FIELD.logged}', claim) end
if claim and ARGV[4] ~= '' then redis.call('HSET', KEYS[1], '${FIELD.loggedFinal}', claim) end
return 1
`;

/**
 * Undoes registrations that failed after they may have reached Redis (a
 * command timed out, a connection lost with it in flight): Redis may run
 * them later. Each call's undo mark is set first (an ADD that arrives after
 * it writes nothing), then its held tasks still held under its token are
 * removed with their keys, and its ready tasks (BullMQ's addBulk, sent on the
 * same connection before this) removed if still waiting or delayed. ARGV[1]
 * how long a mark is kept (seconds), then per call its undo mark, token and
 * count, then per task its queue's key prefix, id, key ('' for none) and
 * kind ('held' or 'ready'). Returns how many tasks were removed.
 */
const UNDO = `
local removed, at = 0, 2
while at <= #ARGV do
  local mark, token, count = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  redis.call('SET', mark, 1, 'EX', ARGV[1])
  -- Last added first: BullMQ pushes a waiting job at the head of its list, so that each LREM finds its job there (in
  -- the order added, each scanned past every later one: 100,000 tasks kept Redis busy for minutes).
  for i = at + count * 4 - 1, at + 3, -4 do
    local queue, id, key, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local job = queue .. id
    local gone
    if redis.call('EXISTS', job) == 0 then
      -- Never written (a later chunk not sent), or gone already.
      gone = false
    elseif kind == 'held' then
      gone = redis.call('HGET', job, '${FIELD.added}') == token and redis.call('ZREM', queue .. '${HELD}', id) == 1
    else
      gone = redis.call('LREM', queue .. 'wait', 1, id) == 1 or redis.call('ZREM', queue .. 'delayed', id) == 1
    end
    if gone then
      redis.call('DEL', job, job .. ':logs')
      if key ~= '' and redis.call('GET', queue .. 'de:' .. key) == id then redis.call('DEL', queue .. 'de:' .. key) end
      removed = removed + 1
    end
  end
  at = at + 3 + count * 4
end
return removed
`;

/**
 * Promotes a queue's delayed jobs due by a time ahead of the clients' clock
 * (a clock a test moves by hand: BullMQ's own fetch promotes by Date.now()),
 * as BullMQ's promotion does: oldest first to the wait list's far end
 * (LPUSH: BullMQ takes from the right), a `waiting` event each, the marker
 * set so that workers look. KEYS[1] the delayed set, KEYS[2] the wait list,
 * KEYS[3] the paused list, KEYS[4] the queue's meta, KEYS[5] its marker,
 * KEYS[6] its events; ARGV[1] the time, ARGV[2] the queue's key prefix.
 * Returns how many were promoted (at most 1000, as BullMQ's).
 */
const PROMOTE = `
local jobs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', (tonumber(ARGV[1]) + 1) * 0x1000 - 1, 'LIMIT', 0, 1000)
if #jobs == 0 then return 0 end
local paused = redis.call('HEXISTS', KEYS[4], 'paused') == 1
redis.call('ZREM', KEYS[1], unpack(jobs))
for _, id in ipairs(jobs) do
  redis.call('LPUSH', paused and KEYS[3] or KEYS[2], id)
  redis.call('XADD', KEYS[6], '*', 'event', 'waiting', 'jobId', id, 'prev', 'delayed')
  redis.call('HSET', ARGV[2] .. id, 'delay', 0)
end
if not paused then redis.call('ZADD', KEYS[5], 0, '0') end
return #jobs
`;

/**
 * Finds a queue's running jobs whose Coda lease ran out by the time given
 * (their process died or hung) and takes their locks over, so that BullMQ's
 * own failure script (which checks the lock) lets the caller fail the
 * stalled attempt. Only a job whose current attempt Coda counted (started >
 * BullMQ's atm) under the lock that holds it now (or none: it expired): a
 * job just fetched, whose claim has not written its lease yet, is not taken.
 * Looks at the ARGV[5] oldest running jobs only (the list's tail: BullMQ
 * pushes a fetched job at its head), so that the script stays short on a
 * long list; the next recovery looks again. Each job taken is told
 * 'stalled' on the queue's events stream, as BullMQ's own check tells it.
 * KEYS[1] the active list; ARGV[1] the time (on Redis's clock, as leases are), ARGV[2] the queue's key prefix,
 * ARGV[3] the new lock's token, ARGV[4] its duration (ms), ARGV[5] how many
 * to look at. Returns per job its id and its hash (field, value, ...).
 */
const LAPSED = `
local now, out = tonumber(ARGV[1]), {}
local maxEvents = redis.call('HGET', ARGV[2] .. 'meta', 'opts.maxLenEvents') or 10000
for _, id in ipairs(redis.call('LRANGE', KEYS[1], -tonumber(ARGV[5]), -1)) do
  local job = ARGV[2] .. id
  local f = redis.call('HMGET', job, '${FIELD.lease}', '${FIELD.started}', 'atm', '${FIELD.token}')
  local lease, started, made = tonumber(f[1]), tonumber(f[2]) or 0, tonumber(f[3]) or 0
  if lease and lease < now and started > made then
    local lock = redis.call('GET', job .. ':lock')
    if not lock or lock == f[4] then
      redis.call('SET', job .. ':lock', ARGV[3], 'PX', ARGV[4])
      -- As BullMQ's stalled check tells it: QueueEvents listeners and dashboards see the stall, not just its failure.
      redis.call('XADD', ARGV[2] .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'stalled', 'jobId', id)
      out[#out + 1] = id
      out[#out + 1] = redis.call('HGETALL', job)
    end
  end
end
return out
`;

/**
 * A retried job's delayed score set to the time the runner asked for: BullMQ
 * adds the delay to a Date.now() of its own, read a moment after the delay
 * was computed. Its order within the millisecond is kept. KEYS[1] the
 * delayed set; ARGV[1] the id, ARGV[2] the time.
 */
const PIN_DELAY = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score then redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]) * 0x1000 + tonumber(score) % 0x1000, ARGV[1]) end
return 0
`;

/**
 * Removes a queue's completed jobs that finished (by Coda's time, else
 * BullMQ's) before a time, with their logs, as BullMQ's clean does (a
 * `cleaned` event). KEYS[1] the completed set, KEYS[2] the events; ARGV[1]
 * the time, ARGV[2] the queue's key prefix. Returns how many.
 */
const PRUNE = `
local before, removed = tonumber(ARGV[1]), {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local job = ARGV[2] .. id
  local f = redis.call('HMGET', job, '${FIELD.finishedAt}', 'finishedOn')
  local at = tonumber(f[1] or f[2])
  if at and at < before then
    redis.call('DEL', job, job .. ':logs')
    removed[#removed + 1] = id
  end
end
if #removed > 0 then
  for from = 1, #removed, 1000 do redis.call('ZREM', KEYS[1], unpack(removed, from, math.min(from + 999, #removed))) end
  redis.call('XADD', KEYS[2], '*', 'event', 'cleaned', 'count', #removed)
end
return #removed
`;

/**
 * A page of a listing, from one stretch of one of a queue's lists or sorted
 * sets of job ids (a state's; its holds): the newest jobs in it listed after
 * a cursor, by the time added, then the order added (see ORDER_OF), then the
 * id, each as text. Only those few fields are read, never a payload: a
 * listing reads whole only the tasks of its page. KEYS[1] the list or set;
 * ARGV[1] the stretch's first index, ARGV[2] its length, ARGV[3] the queue's
 * key prefix, ARGV[4..6] the cursor's time, seq and id ('' for none), ARGV[7]
 * at most how many. Returns 1 when the stretch was full (more may follow
 * it), else 0, then time, seq and id of each, newest first.
 */
const NEWEST = `${ORDER_OF}
local kind = redis.call('TYPE', KEYS[1]).ok
local first, length = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids
if kind == 'list' then ids = redis.call('LRANGE', KEYS[1], first, first + length - 1)
elseif kind == 'zset' then ids = redis.call('ZRANGE', KEYS[1], first, first + length - 1)
else return { 0 } end
local at0, seq0, id0 = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local function newer(a, b)
  if a.at ~= b.at then return a.at > b.at end
  if a.seq ~= b.seq then return a.seq > b.seq end
  return a.id > b.id
end
local cursor = at0 and { at = at0, seq = seq0, id = id0 }
local found = {}
for _, id in ipairs(ids) do
  local atText, seqText = orderOf(ARGV[3], id)
  local job = { at = tonumber(atText), atText = atText, seq = tonumber(seqText), seqText = seqText, id = id }
  if job.at and (not cursor or newer(cursor, job)) then found[#found + 1] = job end
end
table.sort(found, newer)
local out = { #ids == length and 1 or 0 }
for i = 1, math.min(#found, tonumber(ARGV[7])) do
  local job = found[i]
  out[#out + 1] = job.atText
  out[#out + 1] = job.seqText
  out[#out + 1] = job.id
end
return out
`;

/**
 * Brings jobs' entries in the failed index in step with the failed set:
 * each job failed is in it, each other (retried, run) is not; with ARGV[2]
 * 'drop', out of it whatever its state (a job about to be removed). KEYS[1]
 * the failed set, KEYS[2] the index; ARGV[1] the queue's key prefix, ARGV[2]
 * 'sync' or 'drop', then the ids. Returns 0.
 */
const REINDEX = `${ORDER_OF}${INDEX_MEMBER}
for i = 3, #ARGV do
  local id = ARGV[i]
  local at, seq = orderOf(ARGV[1], id)
  if at then
    if ARGV[2] == 'sync' and redis.call('ZSCORE', KEYS[1], id) then redis.call('ZADD', KEYS[2], 0, member(at, seq, id))
    else redis.call('ZREM', KEYS[2], member(at, seq, id)) end
  end
end
return 0
`;

/**
 * Mends the failed index a stretch at a time (a script runs alone on Redis,
 * so it stays short): with ARGV[2] 'add', each job of a stretch of the
 * failed set is put in it (an id whose job is gone is taken out of the
 * failed set); with 'drop', each entry of a stretch of it whose job is no
 * longer failed is taken out. KEYS[1] the failed set, KEYS[2] the index;
 * ARGV[1] the queue's key prefix, ARGV[3] the stretch's first index, ARGV[4]
 * its length. Returns 1 when the stretch was full (more may follow), else 0,
 * and how many ids were taken out of the set it walked.
 */
const MEND = `${ORDER_OF}${INDEX_MEMBER}
local first, length = tonumber(ARGV[3]), tonumber(ARGV[4])
local removed = 0
if ARGV[2] == 'add' then
  local ids = redis.call('ZRANGE', KEYS[1], first, first + length - 1)
  for _, id in ipairs(ids) do
    local at, seq = orderOf(ARGV[1], id)
    if at then redis.call('ZADD', KEYS[2], 0, member(at, seq, id))
    else
      -- An id whose job is gone (its hash deleted by hand, or evicted): no task to list, and kept, it would make the
      -- two sets differ in size for good, every listing mending the index again.
      redis.call('ZREM', KEYS[1], id)
      removed = removed + 1
    end
  end
  return { #ids == length and 1 or 0, removed }
end
local members = redis.call('ZRANGE', KEYS[2], first, first + length - 1)
for _, entry in ipairs(members) do
  if not redis.call('ZSCORE', KEYS[1], string.match(entry, '^%d+:%d+:(.*)$')) then
    redis.call('ZREM', KEYS[2], entry)
    removed = removed + 1
  end
end
return { #members == length and 1 or 0, removed }
`;

/**
 * A page of a queue's failed jobs from the failed index, newest first after
 * a cursor: read from the cursor on (O(log n) to find it, then the page), in
 * one call, so that no job moving meanwhile shifts what it reads. An entry
 * whose job is no longer failed is taken out as it is met, at most ARGV[6]
 * of them: more, and the index is mended in stretches instead (a script
 * holds Redis while it runs; 200,000 entries left by Bull Board's "retry
 * all" took 410 ms in one). KEYS[1] the failed set, KEYS[2] the index;
 * ARGV[1..3] the cursor's time, seq and id ('' for none), ARGV[4] at most
 * how many, ARGV[5] '1' to read even when the two sets differ in size (just
 * mended: a job failing meanwhile). Returns 0 alone when the index needs
 * mending first (the two sets differ in size, before the page or once its
 * stale entries are taken out, or more stale entries than ARGV[6]), else 1
 * then time, seq and id of each, newest first.
 */
const FAILED_PAGE = `${INDEX_MEMBER}
local wanted, stale = tonumber(ARGV[4]), tonumber(ARGV[6])
if ARGV[5] ~= '1' and redis.call('ZCARD', KEYS[1]) ~= redis.call('ZCARD', KEYS[2]) then return { 0 } end
local out = { 1 }
local from = ARGV[1] == '' and '+' or '(' .. member(ARGV[1], ARGV[2], ARGV[3])
-- Each round reads a page's worth; only stale entries (each taken out once, ARGV[6] at most) make it read another.
while #out <= wanted * 3 do
  local entries = redis.call('ZREVRANGEBYLEX', KEYS[2], from, '-', 'LIMIT', 0, wanted)
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local at, seq, id = string.match(entry, '^(%d+):(%d+):(.*)$')
    if not redis.call('ZSCORE', KEYS[1], id) then
      if stale == 0 then return { 0 } end
      stale = stale - 1
      redis.call('ZREM', KEYS[2], entry)
    elseif #out <= wanted * 3 then
      out[#out + 1] = unpad(at)
      out[#out + 1] = unpad(seq)
      out[#out + 1] = id
    end
    from = '(' .. entry
  end
  -- Fewer than asked: the index has no more.
  if #entries < wanted then break end
end
-- Stale entries taken out may leave the two sets of different sizes: failed jobs the index lacks, which as many stale
-- entries hid (the sizes were equal). Mended now, and the page read again: they were listed only by a later listing.
if stale < tonumber(ARGV[6]) and ARGV[5] ~= '1' and redis.call('ZCARD', KEYS[1]) ~= redis.call('ZCARD', KEYS[2]) then return { 0 } end
return out
`;

const SCRIPTS = {
  add: ADD, claimed: CLAIMED, counts: COUNTS, dropGone: DROP_GONE, failedPage: FAILED_PAGE, heads: HEADS, lapsed: LAPSED, logFailure: LOG_FAILURE, mend: MEND, newest: NEWEST,
  pinDelay: PIN_DELAY, promote: PROMOTE, prune: PRUNE, read: READ, reindex: REINDEX, release: RELEASE, renew: RENEW, retry: RETRY, sweep: SWEEP, takeFirst: TAKE_FIRST, unclaim: UNCLAIM,
  undo: UNDO,
};

/** Defines Coda's scripts on a connection: each then runs by its SHA1 (EVALSHA), its text sent only when Redis lacks it. */
export function defineScripts(client: Redis): void {
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(`coda_${name}`, { lua });
}

/** Runs one of Coda's scripts (defined by defineScripts) with its keys and arguments. */
export function runScript(client: Redis, name: keyof typeof SCRIPTS, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  const run = (client as unknown as Record<string, (numberOfKeys: number, keysAndArgs: (string | number)[]) => Promise<unknown>>)[`coda_${name}`]!;
  // One array, which ioredis flattens into the command: spread as arguments, a batch of some 10,000 tasks (a burst of
  // enqueues in one turn) passed the engine's limit on a call's arguments, a RangeError that lost the whole batch.
  return run.call(client, keys.length, [...keys, ...args]);
}
