/**
 * Counts of one queue's jobs by Coda's states, in one call (Lua runs
 * atomically): KEYS are the queue's wait, prioritized, paused, active,
 * completed, failed and delayed keys and its set of holds; ARGV[1] the
 * delayed set's highest score that is due now, ARGV[2] the queue's key
 * prefix. A held job is a delayed job among the holds; an id left among the
 * holds whose job is gone is dropped from them. Returns ready, delayed,
 * running, completed, failed, held.
 */
export const COUNTS = `
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
export const TAKE_FIRST = `
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
export const SET_IF_STORED = `
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, ARGV[1], ARGV[2]) end
end
return 0
`;
