// The store's connection to Redis cut between two steps of one store call,
// against a real redis-server: a TCP relay between the store and Redis drops
// the connection that sends a chosen command, before Redis gets it. What the
// call had done so far must not charge a task an attempt it never ran, nor
// be lost to the call that writes it again. It
// also holds a write back while another connection's command goes first.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { QueueEvents, Worker } from 'bullmq';
import { StoreUnavailable, type TaskStore } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { Redis } from 'ioredis';
import { defineScripts, runScript } from '../../src/bullmq/scripts.js';
import { Undos } from '../../src/bullmq/undo.js';
import { useRedis } from './redis-server.js';
import { relay, type Relay } from './relay.js';

const { missing, server } = useRedis();

const task = (id: string) => ({
  id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
  timeoutMs: 1000, held: false, runAt: Date.now(), request: null, trace: null,
} as const);

/** A claim of one task, asked again (a bounded number of times) while the store's connection comes back on its own schedule. */
async function claimOnce(store: TaskStore, leaseMs: number): Promise<Awaited<ReturnType<TaskStore['claim']>>> {
  for (let attempt = 0; ; attempt++) {
    const now = Date.now();
    try {
      return await store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + leaseMs });
    } catch (error) {
      if (!(error instanceof StoreUnavailable) || attempt === 100) throw error;
      await delay(20);
    }
  }
}

/** A store on `port` (Redis, or a relay to it) and BullMQ's events of its 'send' queue, both closed when the test ends. */
async function storeWithEvents(t: TestContext, port: number, prefix: string): Promise<{ store: TaskStore; events: QueueEvents }> {
  const store = bullmqStore({ connection: { port }, prefix });
  await store.open();
  t.after(() => store.close());
  const events = new QueueEvents('send', { connection: { port: server().port }, prefix });
  t.after(() => events.close());
  await events.waitUntilReady();
  return { store, events };
}

for (const replyLost of [false, true]) {
  test(`a claim cut after its jobs were fetched, ${replyLost ? 'its bookkeeping done but its reply lost' : 'before its bookkeeping'}: the jobs are given back at once, no attempt charged (attempts: 1 still runs)`, { timeout: 30_000, skip: missing }, async (t) => {
    const cutter = await relay(server().port);
    t.after(() => cutter.close());
    const { store, events } = await storeWithEvents(t, cutter.port, `cut-claim-${replyLost}`);

    const now = Date.now();
    await store.add([task('cut-1')], 'me', now + 10_000);
    const waiting = new Promise<void>((resolve) => events.on('waiting', ({ jobId, prev }) => {
      if (jobId === 'cut-1' && prev === 'active') resolve();
    }));
    // The claim's bookkeeping names the job's log: that write (or its reply) is the one dropped, after the job was fetched.
    const cut = cutter.cutOn(':cut-1:logs', { replyLost });
    // A short lease: a job left active (not given back) is soon BullMQ's stalled job, and then charged a stalled attempt.
    await assert.rejects(store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 1000 }), StoreUnavailable);
    cut.stop();
    await waiting;

    const [claimed, ...more] = await claimOnce(store, 10_000);
    assert.equal(more.length, 0);
    assert.equal(claimed?.id, 'cut-1', `the task was not claimed: ${JSON.stringify(await store.get('cut-1'))}`);
    assert.equal(claimed.attempt, 1, 'the cut claim was not an attempt');
    assert.deepEqual(claimed.errors, [], 'nor a stall');
    await store.complete(['cut-1'], 'me', Date.now());
    assert.equal((await store.get('cut-1'))?.state, 'completed');
  });
}

test('a claim one of whose fetches fails while another is still under way gives back the job that one fetches after the failure too: none is left active under a lock no one renews', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, events } = await storeWithEvents(t, server().port, 'fetch-fails-midway');
  const now = Date.now();
  await store.add([task('mid-1'), task('mid-2'), task('mid-3')], 'me', now + 60_000);
  const givenBack = new Set<string>();
  const allBack = new Promise<void>((resolve) => events.on('waiting', ({ jobId, prev }) => {
    if (prev === 'active') givenBack.add(jobId);
    if (givenBack.size === 2) resolve();
  }));
  // The claim fetches one job, then the other two at once: the second fetch fails (a timeout, as on a Redis gone
  // quiet) while the third is still on its way, and brings its job once the claim has failed.
  const { getNextJob } = Worker.prototype;
  t.after(() => { Worker.prototype.getNextJob = getNextJob; });
  let calls = 0;
  let failSecond = (): void => {};
  Worker.prototype.getNextJob = async function (this: Worker, ...args: Parameters<Worker['getNextJob']>) {
    const call = ++calls;
    if (call === 2) {
      await new Promise<void>((resolve) => { failSecond = resolve; });
      throw new Error('Command timed out');
    }
    const job = await getNextJob.apply(this, args);
    if (call === 3) {
      failSecond();
      // The failure is seen before this fetch's job is: it comes after the claim has given back what it had.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return job;
  };
  // A long lease: a job left active would stay under its lock for a minute.
  await assert.rejects(store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 3, now, leaseUntil: now + 60_000 }), StoreUnavailable);
  assert.equal(calls, 3);
  await allBack;
  assert.equal(givenBack.size, 2, 'both fetched jobs given back');
  Worker.prototype.getNextJob = getNextJob;
  const claimed = await store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 3, now: Date.now(), leaseUntil: Date.now() + 60_000 });
  assert.deepEqual(claimed.map(({ id }) => id).sort(), ['mid-1', 'mid-2', 'mid-3'], 'all three claimable at once');
  assert.deepEqual(claimed.map(({ attempt, errors }) => [attempt, errors.length]), [[1, 0], [1, 0], [1, 0]], 'no attempt charged');
});

/** A store whose connection goes through a relay, both closed when the test ends. */
async function storeBehindRelay(t: TestContext, prefix: string): Promise<{ cutter: Relay; store: TaskStore }> {
  const cutter = await relay(server().port);
  t.after(() => cutter.close());
  const store = bullmqStore({ connection: { port: cutter.port }, prefix });
  await store.open();
  t.after(() => store.close());
  return { cutter, store };
}

test('a registration whose reply was lost, sent again by ioredis on its new connection, answers as the first sending did: its held tasks stored once, not refused as ids already taken', { timeout: 30_000, skip: missing }, async (t) => {
  const { cutter, store } = await storeBehindRelay(t, 'cut-add');
  const now = Date.now();
  const held = { ...task('resent-1'), held: true, key: 'k-resent' };
  // The registration's script names the held task's job hash: Redis runs it, its reply is dropped, ioredis sends it again.
  cutter.cutOn(':send:resent-1', { replyLost: true, resent: true });
  assert.deepEqual(await store.add([held, task('resent-2')], 'me', now + 10_000), [{ id: 'resent-1', duplicate: false }, { id: 'resent-2', duplicate: false }]);
  assert.equal((await store.get('resent-1'))?.state, 'held');
  assert.equal((await store.get('resent-2'))?.state, 'ready');
  assert.equal((await store.stats(Date.now())).held, 1);
  // Another call with the same id is still refused.
  await assert.rejects(store.add([{ ...task('resent-1'), held: true }], 'me', now + 10_000), /already stored/);
});

test('a claim whose reply was lost, sent again by ioredis on its new connection, is the same claim: its attempt counted once, not failed as a stall (attempts: 1 still runs)', { timeout: 30_000, skip: missing }, async (t) => {
  const { cutter, store } = await storeBehindRelay(t, 'cut-claim-resent');
  const now = Date.now();
  await store.add([task('again-1')], 'me', now + 10_000);
  // The claim's bookkeeping names the job's log: Redis runs it, its reply is dropped, ioredis sends it again.
  cutter.cutOn(':again-1:logs', { replyLost: true, resent: true });
  const [claimed, ...more] = await claimOnce(store, 10_000);
  assert.equal(more.length, 0);
  assert.equal(claimed?.id, 'again-1', `the task was not claimed: ${JSON.stringify(await store.get('again-1'))}`);
  assert.equal(claimed.attempt, 1);
  assert.deepEqual(claimed.errors, []);
  await store.complete(['again-1'], 'me', Date.now());
  const done = await store.get('again-1');
  assert.equal(done?.state, 'completed');
  assert.deepEqual(done.errors, [], 'no stalled attempt recorded');
});

test('a retry by hand whose reply was lost, sent again by ioredis on its new connection, answers true as the first sending did: the task retried once, its key taken back', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = 'cut-retry';
  const { cutter, store } = await storeBehindRelay(t, prefix);
  const direct = new Redis({ port: server().port });
  t.after(() => direct.disconnect());
  const now = Date.now();
  await store.add([{ ...task('retried-1'), key: 'k-retried' }], 'me', now + 10_000);
  const [claimed] = await claimOnce(store, 10_000);
  assert.equal(claimed?.id, 'retried-1');
  assert.equal(await store.fail('retried-1', 'me', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
  assert.equal((await store.get('retried-1'))?.state, 'failed');
  // The retry's script names the task's deduplication key (BullMQ's `de:`): Redis runs it, its reply is dropped, ioredis sends it again.
  cutter.cutOn(':send:de:k-retried', { replyLost: true, resent: true });
  assert.equal(await store.retry('retried-1', Date.now()), true, 'the retry Redis ran is answered as done');
  const retried = await store.get('retried-1');
  assert.equal(retried?.state, 'ready');
  assert.deepEqual(retried.errors.map((error) => error.message), ['Error: declined']);
  assert.deepEqual(await direct.lrange(`${prefix}:send:wait`, 0, -1), ['retried-1'], 'waiting once');
  const events = await direct.xrange(`${prefix}:send:events`, '-', '+');
  const fromFailed = events.filter(([, fields]) => fields.join(' ').includes('event waiting jobId retried-1 prev failed'));
  assert.equal(fromFailed.length, 1, 'moved out of the failed set once');
  assert.equal(await store.keyHolder('send', 'k-retried'), 'retried-1');
  // Another retry, a call of its own, finds the task no longer failed.
  assert.equal(await store.retry('retried-1', Date.now()), false);
});

test('a retry by hand sent again after its task ran and failed anew answers true and does not move the task out of the failed set a second time', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = 'resent-retry';
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  const direct = new Redis({ port: server().port });
  t.after(() => direct.disconnect());
  defineScripts(direct);
  const failOnce = async (): Promise<void> => {
    const now = Date.now();
    assert.equal((await claimOnce(store, 10_000))[0]?.id, 'late-1');
    assert.equal(await store.fail('late-1', 'me', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
  };
  await store.add([task('late-1')], 'me', Date.now() + 10_000);
  await failOnce();
  // The retry's command as store.retry() sends it, and as ioredis sends it again after a lost reply.
  const q = `${prefix}:send:`;
  const retry = () => runScript(direct, 'retry', [`${q}late-1`, `${q}failed`, `${q}coda-failed`, `${q}de:`], [q, 'late-1', '', Date.now(), 'the-call']);
  assert.equal(await retry(), 1);
  await failOnce();
  assert.equal(await retry(), 1, 'the same call: answered as it was');
  assert.equal((await store.get('late-1'))?.state, 'failed', 'not retried twice by one call');
});

test('a registration that reaches Redis only after its own undo fails as the store unavailable (the request\'s 503), saying so, and stores nothing', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = 'cut-undone-first';
  const { cutter, store } = await storeBehindRelay(t, prefix);
  const direct = new Redis({ port: server().port });
  t.after(() => direct.disconnect());
  defineScripts(direct);
  const undos = new Undos(direct, prefix);
  const now = Date.now();
  const held = { ...task('undone-1'), held: true, key: 'k-undone' };
  // The registration's script names its undo mark: its undo (by the token the mark holds) is sent first, on another connection.
  cutter.holdOn(`${prefix}:coda-undone:`, async (write) => {
    const token = /coda-undone:([0-9a-f-]{36})/.exec(write.toString('latin1'))![1]!;
    undos.add(token, [{ queue: `${prefix}:send:`, id: 'undone-1', key: 'k-undone', held: true }]);
    assert.deepEqual(await undos.close(performance.now() + 10_000), [], 'the undo taken');
  });
  await assert.rejects(store.add([held, task('undone-2')], 'me', now + 10_000), (error: unknown) => {
    assert.ok(error instanceof StoreUnavailable, `not StoreUnavailable: ${String(error)}`);
    assert.match(error.message, /add\(\): the registration reached Redis after its undo .*nothing was stored/);
    return true;
  });
  assert.equal(await store.get('undone-1'), null, 'the held task not stored');
  assert.equal(await store.get('undone-2'), null, 'nor the ready one (not sent)');
  // The key is free: the same tasks registered again are stored.
  assert.deepEqual(await store.add([held, task('undone-2')], 'me', now + 10_000), [{ id: 'undone-1', duplicate: false }, { id: 'undone-2', duplicate: false }]);
});

test('completions Redis took in a completeAndClaim() cut before its claim\'s bookkeeping are reported by the complete() that writes them again: not told as refused (a false warning), not left uncounted', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, cut, now } = await cutCompletions(t, 'cut-complete');
  // The runner's write again, as complete().
  assert.deepEqual(await store.complete(['done-1', 'done-2'], 'me', now + 10), ['done-1', 'done-2'], 'both completions reported as written');
  assert.deepEqual(await store.complete(['done-1', 'done-2'], 'me', now + 10), [], 'and reported once');
  cut.stop();
  const [next] = await claimOnce(store, 10_000);
  assert.equal(next?.id, 'next', 'the job the failed claim fetched was given back');
  for (const id of ['done-1', 'done-2']) assert.equal((await store.get(id))?.state, 'completed');
});

/**
 * Two tasks claimed, then completed by a completeAndClaim() whose claim's bookkeeping is cut: both completions
 * written, the call failed (their ids kept for the call that writes them again).
 */
async function cutCompletions(t: TestContext, prefix: string) {
  const { cutter, store } = await storeBehindRelay(t, prefix);
  const now = Date.now();
  await store.add([task('done-1'), task('done-2'), task('next')], 'me', now + 10_000);
  const claim = { names: ['send'], concurrency: {}, limit: 2, now, leaseUntil: now + 10_000 };
  assert.deepEqual((await store.claim({ ...claim, owner: 'me' })).map(({ id }) => id), ['done-1', 'done-2']);
  // The completions go on BullMQ's worker's connection and fetch the next job; the bookkeeping of that claim, on the
  // store's own, names its log: that write is dropped, after both completions were written.
  const cut = cutter.cutOn(':next:logs');
  await assert.rejects(store.completeAndClaim!(['done-1', 'done-2'], 'me', now + 10, claim), StoreUnavailable);
  return { store, cut, now };
}

test('completions Redis took in a call that then failed are let go once the runner has given up writing them again (three minutes): they were kept until the store closed', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, cut, now } = await cutCompletions(t, 'cut-let-go');
  // The runner writes a refused end again for about a minute; three minutes on (by the calls' time), none names them.
  assert.deepEqual(await store.complete(['done-1', 'done-2'], 'me', now + 10 + 3 * 60_000), [], 'let go: not reported by a call three minutes later');
  // Redis back, and the job the failed claim fetched given back, before the store closes.
  cut.stop();
  assert.equal((await claimOnce(store, 10_000))[0]?.id, 'next');
});
