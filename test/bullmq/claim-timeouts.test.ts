// claim(), completeAndClaim() and recover() bounded by the store's commandTimeoutMs from the call, not per command:
// a Redis that answers a step just in time (busy with a long Lua script), then stops answering writes (CLIENT PAUSE),
// fails them once the timeout has passed since the call. What a call cut short had begun is not left to its locks: a
// claim's fetched jobs are given back at once, no attempt charged; a recovery's lapsed job is failed as stalled once
// Redis answers, told by the next sweep, not left under the recovery's lock for 30 s.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Job, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { StoreUnavailable, type NewTask, type TaskStore } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

const TIMEOUT_MS = 1000;
/** Shorter than the timeout, so that the step before is answered in time; long enough that a second full timeout after it shows. */
const SCRIPT_MS = 700;
/** A Lua script that keeps Redis busy (answering no one) for `ms`. */
const BUSY = `local t = redis.call('TIME'); local from = t[1] * 1000 + t[2] / 1000
while true do local n = redis.call('TIME'); if n[1] * 1000 + n[2] / 1000 - from >= tonumber(ARGV[1]) then return 1 end end`;
/** A lease longer than the test: BullMQ's stall check (every half lease) never gives a job back in its stead. */
const LEASE_MS = 120_000;

const readyTask = (id: string, maxAttempts = 1): NewTask => ({
  id, name: 'record', payload: '{}', key: null, when: 'always', maxAttempts, backoff: { type: 'fixed', delayMs: 0 },
  timeoutMs: 1000, held: false, runAt: Date.now(), request: null, trace: null,
});

const claimOf = (owner: string, now = Date.now()) => ({ owner, names: ['record'], concurrency: {}, limit: 1, now, leaseUntil: now + LEASE_MS });

/** An open store of commandTimeoutMs TIMEOUT_MS, closed after the test (after `admin` unpauses Redis). */
async function openStore(t: TestContext, prefix: string): Promise<TaskStore> {
  const store = bullmqStore({ connection: { port: server().port }, prefix, commandTimeoutMs: TIMEOUT_MS });
  await store.open();
  t.after(() => store.close());
  return store;
}

/**
 * A connection that makes Redis busy for SCRIPT_MS, then pauses its writes (the pause pipelined behind the script on
 * the same connection, so that it comes after it): unpaused and closed after the test.
 */
function stopper(t: TestContext): { stop: () => Promise<void>; resume: () => Promise<void> } {
  const admin = new Redis({ port: server().port });
  t.after(async () => {
    await admin.client('UNPAUSE');
    admin.disconnect();
  });
  return {
    stop: async () => {
      await Promise.all([admin.eval(BUSY, 0, SCRIPT_MS), admin.client('PAUSE', 10_000, 'WRITE')]);
    },
    resume: async () => {
      await admin.client('UNPAUSE');
    },
  };
}

/** Awaits `call`'s failure, and how long after `started` it came. */
async function failure(call: Promise<unknown>, started: number): Promise<{ error: unknown; took: number }> {
  const error = await call.then(() => assert.fail('the call succeeded'), (caught: unknown) => caught);
  return { error, took: performance.now() - started };
}

function assertCut(error: unknown, took: number, named: RegExp): void {
  assert.ok(error instanceof StoreUnavailable, `failed with ${String(error)}`);
  assert.ok(took > TIMEOUT_MS - 50, `failed after ${Math.round(took)} ms, before its ${TIMEOUT_MS} ms`);
  // Not the timeout again after the step answered late (SCRIPT_MS + TIMEOUT_MS).
  assert.ok(took < TIMEOUT_MS + 250, `failed after ${Math.round(took)} ms for a timeout of ${TIMEOUT_MS} ms`);
  assert.match(error.message, named);
  assert.match(error.message, new RegExp(`within ${TIMEOUT_MS} ms`));
}

/** Makes the next fetch that brings a job stop Redis (see stopper) before it hands the job over. */
function stopAfterFetch(t: TestContext, stop: () => Promise<void>): void {
  const { getNextJob } = Worker.prototype;
  t.after(() => { Worker.prototype.getNextJob = getNextJob; });
  Worker.prototype.getNextJob = async function (this: Worker, ...args: Parameters<Worker['getNextJob']>) {
    const job = await getNextJob.apply(this, args);
    if (job !== undefined) {
      Worker.prototype.getNextJob = getNextJob;
      await stop();
    }
    return job;
  };
}

/** Resolves when each of `ids`'s jobs has gone from active back to waiting (a give-back), through BullMQ's events of the queue. */
async function givenBack(t: TestContext, prefix: string, ids: readonly string[]): Promise<{ back: Promise<void> }> {
  const events = new QueueEvents('record', { connection: { port: server().port }, prefix });
  t.after(() => events.close());
  await events.waitUntilReady();
  const left = new Set(ids);
  // In an object: an async function's promise would wait for this one.
  return {
    back: new Promise((resolve) => events.on('waiting', ({ jobId, prev }) => {
      if (prev === 'active') left.delete(jobId);
      if (left.size === 0) resolve();
    })),
  };
}

/** Each case: the call, the tasks it is to fetch, and what it does before (with the fetch not yet stopping Redis). */
const claims: { what: string; named: RegExp; ids: string[]; before?: (store: TaskStore) => Promise<void>; call: (store: TaskStore) => Promise<unknown> }[] = [
  { what: 'claim()', named: /claim\(\)/, ids: ['cut-1'], call: (store) => store.claim(claimOf('me')) },
  {
    // The completion fetches cut-1 in its own script, awaited whole; the room it leaves fetches cut-2.
    what: 'completeAndClaim()', named: /completeAndClaim\(\)/, ids: ['cut-1', 'cut-2'],
    before: async (store) => {
      await store.add([readyTask('running')], 'web', Date.now() + LEASE_MS);
      assert.equal((await store.claim(claimOf('me')))[0]?.id, 'running');
    },
    call: (store) => store.completeAndClaim!(['running'], 'me', Date.now(), { ...claimOf('me'), limit: 2 }),
  },
];

for (const { what, named, ids, before, call } of claims) {
  test(`${what} on a Redis that answers its fetch just inside commandTimeoutMs (behind a long Lua script), then pauses writes (CLIENT PAUSE): fails with StoreUnavailable once the timeout has passed since the call, not that long after the fetch, and gives the fetched jobs back at once, no attempt charged`, { timeout: 30_000, skip: missing }, async (t) => {
    const prefix = `claim-timeout-${what.slice(0, -2)}`;
    const store = await openStore(t, prefix);
    const { stop, resume } = stopper(t);
    // Once without a fault: the scripts it runs are loaded (an unknown one costs a second round trip).
    await store.add([readyTask('warm')], 'web', Date.now() + LEASE_MS);
    const [warm] = await store.claim(claimOf('me'));
    assert.deepEqual(await store.complete([warm!.id], 'me', Date.now()), ['warm']);
    await before?.(store);
    await store.add(ids.map((id) => readyTask(id)), 'web', Date.now() + LEASE_MS);
    const { back } = await givenBack(t, prefix, ids);
    stopAfterFetch(t, stop);
    const started = performance.now();
    const { error, took } = await failure(call(store), started);
    await resume();
    assertCut(error, took, named);
    // Given back now, not by BullMQ's stall check, half a lease (a minute) from now.
    await back;
    const claimed = await (await openStore(t, prefix)).claim({ ...claimOf('other'), limit: 3 });
    assert.deepEqual(claimed.map(({ id }) => id), ids);
    assert.deepEqual(claimed.map(({ attempt, errors }) => [attempt, errors.length]), ids.map(() => [1, 0]), 'the cut claim was not an attempt, nor a stall');
  });
}

test('recover() cut by commandTimeoutMs after it took a lapsed job\'s lock (Redis busy with a long Lua script, then pausing writes): fails with StoreUnavailable once the timeout has passed since the call; once Redis answers, the job is failed as stalled and the next sweep tells it, claimable at once, not left 30 s under the recovery\'s lock', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = 'recover-timeout';
  const store = await openStore(t, prefix);
  const { stop, resume } = stopper(t);
  const now = Date.now();
  await store.add([readyTask('lapsed-1', 2)], 'web', now + LEASE_MS);
  assert.equal((await store.claim(claimOf('dead', now)))[0]?.id, 'lapsed-1');
  // Its lease judged run out by the sweep's time.
  const later = now + 2 * LEASE_MS;
  // BullMQ's read of the job whose lock the recovery took: Redis stops once it has answered.
  const { fromId } = Job;
  t.after(() => { Job.fromId = fromId; });
  Job.fromId = async function (this: typeof Job, ...args: Parameters<typeof Job.fromId>) {
    Job.fromId = fromId;
    await stop();
    return fromId.apply(this, args);
  } as typeof Job.fromId;
  const started = performance.now();
  const { error, took } = await failure(store.recover(later, Math.random), started);
  await resume();
  assertCut(error, took, /recover\(\)/);
  const swept = performance.now();
  assert.deepEqual(await store.recover(later, Math.random), { held: 0, running: 1 }, 'the lapsed job recovered');
  const [claimed] = await store.claim(claimOf('next', later));
  assert.ok(performance.now() - swept < 10_000, 'recovered without waiting out the recovery\'s lock');
  assert.equal(claimed?.id, 'lapsed-1');
  assert.equal(claimed.attempt, 2);
  assert.match(claimed.errors[0]?.message ?? '', /^stalled: dead stopped renewing its lock/);
});
