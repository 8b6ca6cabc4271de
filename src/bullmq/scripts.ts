import type { Redis } from 'ioredis';
import { FIELD } from './jobs.js';

/**
 * Counts of one queue's jobs by Coda's states, in one call (Lua runs
 * atomically): KEYS are the queue's wait, prioritized, paused, active,
 * completed, failed and delayed keys and its set of holds; ARGV[1] the
 * delayed set's highest score that is due now, ARGV[2] the queue's key
 * prefix. A held job is a delayed job among the holds; an id left among the
 * holds whose job is gone is dropped from them. Returns ready, delayed,
 * running, completed, failed, held.
 */
const COUNTS = `
local ready = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('LLEN', KEYS[3])
local due = redis.call('ZCOUNT', KEYS[7], '-inf', ARGV[1])
local later = redis.call('ZCARD', KEYS[7]) - due
local held = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[8])) do
  local score = redis.call('ZSCORE', KEYS[7], id)
  if score then
    held = held + 1
    if tonumber(score) <= tonumber(ARGV[1]) then due = due - 1 else later = later - 1 end
  elseif redis.call('EXISTS', ARGV[2] .. id) == 0 then
    redis.call('SREM', KEYS[8], id)
  end
end
return { ready + due, later, redis.call('LLEN', KEYS[4]), redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]), held }
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
 * Sets one field on each job hash that still exists: a renewal that crosses
 * a job's removal (completed and pruned, discarded) must not create a hash
 * of one field that nothing removes. KEYS the job hashes; ARGV[1] the field,
 * ARGV[2] its value.
 */
const SET_IF_STORED = `
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, ARGV[1], ARGV[2]) end
end
return 0
`;

/**
 * Before a batch is added (BullMQ's own add returns an existing job's id
 * rather than failing, so a taken id is looked for first): the index (from
 * 1) of the first task whose id is already stored, or 0 once what Coda keeps
 * beside BullMQ's keys is recorded, in the same call: the batch's held tasks
 * among their queues' holds, its task names among the store's names.
 * KEYS: the store's set of names, the batch's job hashes, then the set of
 * holds of each held task. ARGV[1] how many job hashes, ARGV[2] how many
 * held tasks, then the held tasks' ids, then the batch's task names.
 */
const CHECK_NEW = `
local jobs, held = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, jobs do
  if redis.call('EXISTS', KEYS[1 + i]) == 1 then return i end
end
for i = 1, held do redis.call('SADD', KEYS[1 + jobs + i], ARGV[2 + i]) end
redis.call('SADD', KEYS[1], unpack(ARGV, 3 + held))
return 0
`;

/**
 * Claimed jobs' fields written and the jobs read back, in one call: KEYS,
 * per job, its hash, its log and its queue's set of holds; ARGV[1..3] the
 * owner, lease and start, then per job its id and its lock's token. A job
 * whose earlier attempt Coda started never ended (started > BullMQ's `atm`)
 * stalled: it is left as it is, for the caller to fail that attempt. A job
 * released (its outcome written) or never held is not among the holds. Returns,
 * per job, 1 (claimed) or 0 (stalled), its hash as read before the claim's
 * fields were written (field, value, ...), and its log.
 */
const CLAIMED = `
local out = {}
for i = 1, #KEYS, 3 do
  local at = 4 + (i - 1) / 3 * 2
  local hash = redis.call('HGETALL', KEYS[i])
  local started, made, data, released = 0, 0, '', false
  for f = 1, #hash, 2 do
    local field = hash[f]
    if field == '${FIELD.started}' then started = tonumber(hash[f + 1])
    elseif field == 'atm' then made = tonumber(hash[f + 1])
    elseif field == 'data' then data = hash[f + 1]
    elseif field == '${FIELD.outcome}' then released = true end
  end
  local claimed = started <= made
  if claimed then
    redis.call('HSET', KEYS[i], '${FIELD.owner}', ARGV[1], '${FIELD.lease}', ARGV[2], '${FIELD.startedAt}', ARGV[3],
      '${FIELD.started}', made + 1, '${FIELD.token}', ARGV[at + 1])
    if not released and not string.find(data, '"holder":null', 1, true) then redis.call('SREM', KEYS[i + 2], ARGV[at]) end
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

const SCRIPTS = { checkNew: CHECK_NEW, claimed: CLAIMED, counts: COUNTS, setIfStored: SET_IF_STORED, takeFirst: TAKE_FIRST, unclaim: UNCLAIM };

/** Defines Coda's scripts on a connection: each then runs by its SHA1 (EVALSHA), its text sent only when Redis lacks it. */
export function defineScripts(client: Redis): void {
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(`coda_${name}`, { lua });
}

/** Runs one of Coda's scripts (defined by defineScripts) with its keys and arguments. */
export function runScript(client: Redis, name: keyof typeof SCRIPTS, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  const run = (client as unknown as Record<string, (...rest: (string | number)[]) => Promise<unknown>>)[`coda_${name}`]!;
  return run.call(client, keys.length, ...keys, ...args);
}
