// app.tasks on the BullMQ store: stats, list, get, retry and discard, the
// request's snapshot carried in the job, and completed jobs pruned as they
// complete (Redis's memory stays flat). Tasks run in this process; each step
// awaits the runner's settle (nothing journaling, running or due).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { after, createApp, dashboard, HttpResponse, NonRetryableError, post, serve, task, type NewTask, type TaskStore } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { memoryLogger } from '../helpers.js';
import { assertHostileIdsFindNothing } from '../dashboard/hostile-ids.js';
import { startRedis, useRedis } from './redis-server.js';

const { missing, server } = useRedis();

let fail = true;
const charge = task('charge', (payload: { n: number }) => {
  if (fail) throw new NonRetryableError(`card ${payload.n} declined`);
}, { attempts: 3 });

test('stats, list, get, retry and discard through app.tasks; the job carries the request snapshot and the key', { timeout: 30_000, skip: missing }, async (t) => {
  const app = createApp({
    routes: [post('/charge/:n', (request) => {
      after(charge, { n: Number(request.params.n) }, { key: `charge:${request.params.n}` });
      return new HttpResponse('ok');
    })],
    tasks: { definitions: [charge], store: bullmqStore({ connection: { port: server().port }, prefix: 'operations' }) },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close());
  const settled = (): Promise<void> => app.tasks.settle(() => false);

  fail = true;
  assert.equal((await fetch(`${web.url}/charge/1`, { method: 'POST' })).status, 200);
  await settled();
  const [failed, ...others] = await app.tasks.list({ state: 'failed' });
  assert.equal(others.length, 0);
  assert.equal(failed!.name, 'charge');
  assert.equal(failed!.key, 'charge:1');
  assert.deepEqual({ ...failed!.request, id: 'x' }, {
    id: 'x', method: 'POST', path: '/charge/1', route: '/charge/:n', ip: '127.0.0.1', protocol: 'http', host: new URL(web.url).host,
  });
  assert.equal(failed!.outcome?.status, 200);
  assert.deepEqual(failed!.errors.map(({ attempt, message }) => [attempt, message]), [[1, 'NonRetryableError: card 1 declined']]);
  assert.deepEqual(await app.tasks.get(failed!.id), failed);
  const stats = await app.tasks.stats();
  assert.deepEqual([stats.failed, stats.byName.charge?.failed, stats.ready + stats.running + stats.held], [1, 1, 0]);

  fail = false;
  assert.equal(await app.tasks.retry(failed!.id), true);
  await settled();
  const retried = await app.tasks.get(failed!.id);
  assert.equal(retried?.state, 'completed');
  assert.equal(retried?.errors.length, 1, 'the earlier attempt\'s error is kept');
  assert.equal(await app.tasks.retry(failed!.id), false, 'a completed task is not retried');
  assert.equal(await app.tasks.discard(failed!.id), true);
  assert.equal(await app.tasks.get(failed!.id), null);
  assert.equal(await app.tasks.discard(failed!.id), false);
});

/** A Redis of the test's own and a store on it, opened; both stop when the test ends. */
async function openStore(t: TestContext, prefix: string) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const store = bullmqStore({ connection: { port: redis.port }, prefix });
  await store.open();
  t.after(() => store.close());
  return { redis, store };
}

test('the dashboard\'s Retry and Discard, and app.tasks, with hostile ids (15 KB, emoji, an encoded climb, Redis key and glob syntax, lone surrogates): no task found, a 404 or a 400, never a Redis error', { timeout: 30_000, skip: missing }, async (t) => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: dashboard({ authorize: () => true }),
    tasks: { definitions: [charge], store: bullmqStore({ connection: { port: server().port }, prefix: 'hostile' }), run: false },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close());
  const { id } = await app.tasks.enqueue(charge, { n: 1 });
  await assertHostileIdsFindNothing(app, web.url, id, lines);
});

test('a listing orders jobs added in one millisecond by the order added kept in their options, never reading their data (payload and all); a job an earlier version added, with it in its data only, is ordered by that', { timeout: 30_000, skip: missing }, async (t) => {
  const { redis, store } = await openStore(t, 'order');
  const now = Date.now();
  // Added c, b, a: the order added is not the ids' order, so an order read as missing would fall back to the ids.
  await store.add(['c', 'b', 'a'].map((id) => ({
    id, name: 'charge', payload: '{}', key: null, when: 'always' as const, maxAttempts: 1,
    backoff: { type: 'fixed' as const, delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
  })), 'test', now + 60_000);
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  const job = (id: string): string => `order:charge:${id}`;
  // The data's own seq moved out of the place a listing would read it from: only the options can order them now.
  for (const id of ['a', 'b', 'c']) {
    const { seq, ...rest } = JSON.parse((await admin.hget(job(id), 'data'))!) as { seq: number };
    await admin.hset(job(id), 'data', JSON.stringify({ seq, ...rest }));
  }
  assert.deepEqual((await store.list({ state: 'ready', limit: 3 })).map(({ id }) => id), ['a', 'b', 'c'], 'newest first, by the order added');
  // As an earlier version wrote them: the order added in the data only (last), none in the options.
  for (const id of ['a', 'b', 'c']) {
    const { seq, ...rest } = JSON.parse((await admin.hget(job(id), 'data'))!) as { seq: number };
    await admin.hset(job(id), 'data', JSON.stringify({ ...rest, seq }));
    const { codaSeq: _seq, ...opts } = JSON.parse((await admin.hget(job(id), 'opts'))!) as { codaSeq: string };
    await admin.hset(job(id), 'opts', JSON.stringify(opts));
  }
  assert.deepEqual((await store.list({ state: 'ready', limit: 3 })).map(({ id }) => id), ['a', 'b', 'c'], 'by the data\'s order added');
});

test('completed jobs are pruned as they complete: keepCompleted bounds what Redis keeps, per task name', { timeout: 30_000, skip: missing }, async (t) => {
  const done = task('done', () => {});
  const also = task('also', () => {});
  const app = createApp({ tasks: { definitions: [done, also], store: bullmqStore({ connection: { port: server().port }, prefix: 'pruned', keepCompleted: { count: 5 } }) } });
  t.after(() => app.tasks.close(performance.now()));
  for (let n = 0; n < 40; n++) await app.tasks.enqueue(done, { n });
  for (let n = 0; n < 8; n++) await app.tasks.enqueue(also, { n });
  await app.tasks.settle(() => false);
  const { completed, byName } = await app.tasks.stats();
  assert.deepEqual([completed, byName.done?.completed, byName.also?.completed], [10, 5, 5], 'keepCompleted.count completed jobs kept, per name');
  const redis = new Redis({ port: server().port });
  t.after(() => redis.quit());
  // The queue's own keys (wait, meta, events, ...) and the five jobs kept: not one key per task run.
  const keys = await redis.keys('pruned:done:*');
  assert.ok(keys.length < 20, `${keys.length} keys left: ${keys.join(' ')}`);
});

test('list with a limit reads only that many tasks whole, however many are in the state (each stretch of a state\'s set looked through for ids and times only); listPage walks 2,500 failed tasks, past a stretch, each once, newest first', { timeout: 60_000, skip: missing }, async (t) => {
  const { store, ids, admin } = await failedStore(t, 'paging');
  await admin.config('RESETSTAT');
  const listed = await store.list({ state: 'failed', limit: 5 });
  assert.deepEqual(listed.map(({ id }) => id), ids.slice(-5).reverse(), 'the newest five');
  assert.equal((await calls(admin)).hgetall, 5, 'five tasks read whole, not 2,500');
  assert.deepEqual(await walk(store, 1_000), [...ids].reverse());
});

/** A store of the test's own with 2,500 failed tasks (their ids, oldest first), and a client of its Redis. */
async function failedStore(t: TestContext, prefix: string) {
  const { redis, store } = await openStore(t, prefix);
  const ids = await failMany(store, 2_500);
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  return { redis, store, ids, admin };
}

/** `count` failed tasks of 1 kB, added in two batches (newest first goes by the time added, then the order added); their ids, oldest first. */
async function failMany(store: TaskStore, count: number): Promise<string[]> {
  const now = Date.now();
  const ids = Array.from({ length: count }, (_, i) => `failed-${String(i).padStart(4, '0')}`);
  for (const batch of [ids.slice(0, 1_000), ids.slice(1_000)]) {
    await store.add(batch.map((id) => ({
      id, name: 'charge', payload: JSON.stringify({ blob: 'x'.repeat(1_000) }), key: null, when: 'always' as const, maxAttempts: 1,
      backoff: { type: 'fixed' as const, delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    })), 'test', now + 60_000);
  }
  const claimed = await store.claim({ owner: 'test', names: ['charge'], concurrency: {}, limit: count, now, leaseUntil: now + 60_000 });
  assert.equal(claimed.length, count);
  await Promise.all(claimed.map(({ id }) => store.fail(id, 'test', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null)));
  return ids;
}

/** Every failed task's id, newest first, walked `limit` at a time as `coda tasks retry --all-failed` walks them. */
async function walk(store: TaskStore, limit: number): Promise<string[]> {
  const walked: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 100; page++) {
    const { tasks, next } = await store.listPage({ state: 'failed', limit, ...(after !== undefined && { after }) });
    walked.push(...tasks.map(({ id }) => id));
    if (next === null) return walked;
    after = next;
  }
  throw new Error('the walk did not end in 100 pages');
}

/** Redis's count of each command since its last RESETSTAT (the commands of scripts included), by lowercase name. */
async function calls(admin: Redis): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [, command, n] of (await admin.info('commandstats')).matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) counts[command!] = Number(n);
  return counts;
}

test('a page of failed tasks reads its own entries of the failed index, not the whole failed set: a walk of 2,500 reads each once, each page one script from its cursor on; jobs failed before the index, or moved by a BullMQ tool, are listed as they are', { timeout: 60_000, skip: missing }, async (t) => {
  const { redis, store, ids, admin } = await failedStore(t, 'indexed');

  await admin.config('RESETSTAT');
  assert.deepEqual((await store.list({ state: 'failed', limit: 5 })).map(({ id }) => id), ids.slice(-5).reverse());
  const page = await calls(admin);
  // Before the index, each of the 2,500 jobs' order was read (an HMGET each) for a page of 5, in two stretches; now
  // the page's entries are looked at, and its five tasks read (a ZSCORE of their holds, BullMQ's state's reads).
  assert.ok((page.hmget ?? 0) + (page.zscore ?? 0) <= 50, `a page of 5 looked at ${page.hmget} jobs' order and ${page.zscore} entries`);
  // One read from the cursor on, not stretches by index, between which a job moved elsewhere shifted the next.
  assert.deepEqual([page.zrevrangebylex, page.zrange ?? 0], [1, 0]);

  await admin.config('RESETSTAT');
  assert.deepEqual(await walk(store, 1_000), [...ids].reverse());
  const walked = await calls(admin);
  assert.equal(walked.hmget ?? 0, 0, 'no job\'s order read again');
  // Each entry looked at once (and each task's reads: see above), where each page read every job's order.
  assert.ok(walked.zscore! <= 2_500 * 5, `the walk made ${walked.zscore} ZSCOREs for 2,500 tasks`);

  // Removed by a BullMQ tool (Bull Board's remove): no longer listed, its entry gone from the index.
  const queue = new Queue('charge', { connection: { port: redis.port }, prefix: 'indexed' });
  t.after(() => queue.close());
  await (await queue.getJob(ids.at(-1)!))!.remove();
  assert.deepEqual((await store.list({ state: 'failed', limit: 2 })).map(({ id }) => id), [ids.at(-2), ids.at(-3)]);
  assert.equal(await admin.zcard('indexed:charge:coda-failed'), 2_499);
  // As an earlier version left them (no index at all): each listed, in the order added.
  await admin.del('indexed:charge:coda-failed');
  assert.deepEqual(await walk(store, 1_000), ids.slice(0, -1).reverse());
  assert.equal(await admin.zcard('indexed:charge:coda-failed'), 2_499);
  // Retried and discarded through the store: out of the index at once.
  assert.equal(await store.retry(ids[0]!, Date.now()), true);
  assert.equal(await store.discard(ids[1]!), true);
  assert.equal(await admin.zcard('indexed:charge:coda-failed'), 2_497);
  assert.deepEqual((await walk(store, 1_000)).slice(-2), [ids[3], ids[2]]);
  // A failed job's hash deleted by hand (or evicted), met by a mending (here of no index at all): its id, no task,
  // leaves the failed set; kept, the sizes differed for good, and every listing mended the index again.
  await admin.del(`indexed:charge:${ids[2]}`, 'indexed:charge:coda-failed');
  assert.deepEqual((await store.list({ state: 'failed', limit: 1 })).map(({ id }) => id), [ids.at(-2)]);
  await admin.config('RESETSTAT');
  assert.deepEqual((await store.list({ state: 'failed', limit: 1 })).map(({ id }) => id), [ids.at(-2)]);
  assert.equal((await calls(admin)).zrange ?? 0, 0, 'not mended again');
  assert.equal((await store.stats(Date.now())).failed, 2_496);
});

test('a failed index left stale by a BullMQ tool (Bull Board\'s "retry all" moved 50,000 failed jobs out) is mended in stretches, never walked in one script: Redis answers others meanwhile, and the listing is right', { timeout: 120_000, skip: missing }, async (t) => {
  const { redis, store } = await openStore(t, 'stale');
  const ids = await failMany(store, 3);
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  const index = 'stale:charge:coda-failed';
  const stale = 50_000;
  // Entries newer than the failed tasks' (met first by a page), as the index was before the tool moved their jobs.
  const leaveStale = async (extra: (ids: string[]) => Promise<unknown>): Promise<void> => {
    for (let from = 0; from < stale; from += 10_000) {
      const moved = Array.from({ length: 10_000 }, (_, i) => `moved-${from + i}`);
      await admin.zadd(index, ...moved.flatMap((id, i) => [0, `${String(Date.now() + 60_000).padStart(15, '0')}:${String(from + i).padStart(17, '0')}:${id}`]));
      await extra(moved);
    }
  };
  const listedInStretches = async (): Promise<void> => {
    await admin.config('SET', 'slowlog-log-slower-than', '0');
    await admin.slowlog('RESET');
    await admin.config('RESETSTAT');
    assert.deepEqual((await store.listPage({ state: 'failed', name: 'charge', limit: 10 })).tasks.map(({ id }) => id), [...ids].reverse());
    // In one script, the 50,000 were walked (a ZSCORE and a ZREM each) while Redis answered nothing else.
    assert.ok((await calls(admin)).evalsha! >= stale / 2_000, 'mended in stretches of 2,000');
    const scripts = (await admin.slowlog('GET', 1_000) as [number, number, number, string[]][]).filter(([, , , args]) => args[0] === 'EVALSHA');
    const longest = Math.max(...scripts.map(([, , micros]) => micros));
    assert.ok(longest < 50_000, `a script held Redis ${longest / 1000} ms`);
    assert.equal(await admin.zcard(index), 3);
  };
  // The index larger than the failed set: the page's script returns at once.
  await leaveStale(async () => {});
  await listedInStretches();
  // The same size (as many ids in the failed set that the index lacks, their jobs gone): the page's script stops
  // after a stretch's worth of stale entries.
  await leaveStale((moved) => admin.zadd('stale:charge:failed', ...moved.flatMap((id) => [0, `x${id}`])));
  assert.equal(await admin.zcard(index), await admin.zcard('stale:charge:failed'));
  await listedInStretches();
});

test('a failed index with a stale entry and a missing one at once (the sizes equal): the listing that meets the stale entry mends the index before its page, and lists the failed task the index lacked (only a later listing did)', { timeout: 30_000, skip: missing }, async (t) => {
  const { redis, store } = await openStore(t, 'balanced');
  const ids = await failMany(store, 5);
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  const member = async (id: string): Promise<string> => (await admin.zrange('balanced:charge:coda-failed', '0', '-1')).find((entry) => entry.endsWith(`:${id}`))!;
  // The oldest failed by a process that died before its index entry; the newest moved out of the failed set by a BullMQ tool.
  await admin.zrem('balanced:charge:coda-failed', await member(ids[0]!));
  await admin.multi().zrem('balanced:charge:failed', ids[4]!).lpush('balanced:charge:wait', ids[4]!).exec();
  assert.equal(await admin.zcard('balanced:charge:coda-failed'), await admin.zcard('balanced:charge:failed'));
  assert.deepEqual((await store.listPage({ state: 'failed', name: 'charge', limit: 10 })).tasks.map(({ id }) => id), ids.slice(0, 4).reverse());
  assert.equal(await admin.zcard('balanced:charge:coda-failed'), 4);
});

test('a failed task whose process died right after BullMQ moved it to the failed set is listed at once, though a stale entry no page meets keeps the sizes equal: its index entry is written before the move, with its last error', { timeout: 30_000, skip: missing }, async (t) => {
  const { redis, store } = await openStore(t, 'died');
  const ids = await failMany(store, 5);
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  // The oldest moved out of the failed set by a BullMQ tool (Bull Board's retry): a stale entry, past the pages read.
  await admin.multi().zrem('died:charge:failed', ids[0]!).lpush('died:charge:wait', ids[0]!).exec();
  // The newest fails for good in a process that dies once BullMQ's move is done, before anything after it.
  const now = Date.now();
  await store.add([{
    id: 'last', name: 'charge', payload: '{}', key: null, when: 'always', maxAttempts: 1,
    backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
  }], 'test', now + 60_000);
  assert.deepEqual((await store.claim({ owner: 'test', names: ['charge'], concurrency: {}, limit: 1, now, leaseUntil: now + 60_000, ids: ['last'] })).map(({ id }) => id), ['last']);
  const moved = dieAtBullmqsMove(t, 'after');
  void store.fail('last', 'test', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null);
  await moved;
  assert.equal(await admin.zscore('died:charge:failed', 'last') !== null, true, 'failed by BullMQ');
  // Its entry missing, the stale one kept the sizes equal, and a page of the newest did not list it.
  assert.deepEqual((await store.listPage({ state: 'failed', name: 'charge', limit: 2 })).tasks.map(({ id }) => id), ['last', ids[4]]);
});

test('an attempt whose failure was logged by a process that died before BullMQ\'s move keeps that one error: the stall charged for it when the task is next claimed adds none (its error was kept twice, the second a "stalled:" one)', { timeout: 30_000, skip: missing }, async (t) => {
  const { claimed: [again] } = await diedAfterLogging(t, 'logged', 'Error: declined', true);
  assert.equal(again?.attempt, 2);
  assert.deepEqual(again?.errors.map(({ attempt, message }) => [attempt, message]), [[1, 'Error: declined']]);
});

test('an attempt failed for good by its claim (a NonRetryableError, logged) whose process died before BullMQ\'s move is failed for good by the stall charged for it (it was retried by the attempts left, run again with that error its only record, its failed index entry stale)', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, claimed } = await diedAfterLogging(t, 'logged-final', 'NonRetryableError: card stolen', false);
  assert.deepEqual(claimed, []);
  const failed = await store.get('charge-1');
  assert.deepEqual([failed?.state, failed?.attempt, failed?.errors.map(({ attempt, message }) => [attempt, message])], ['failed', 1, [[1, 'NonRetryableError: card stolen']]]);
  assert.deepEqual((await store.listPage({ state: 'failed', name: 'charge', limit: 5 })).tasks.map(({ id }) => id), ['charge-1']);
});

/**
 * A task of 3 attempts whose process logs its attempt 1's failure (`message`; retried at once, or failed for good)
 * and dies before BullMQ's move; its lease run out, the stall is charged as its attempt 1 (by recovery, or by the
 * claim after BullMQ's own check). Returns the store and what two claims then took.
 */
async function diedAfterLogging(t: TestContext, prefix: string, message: string, retried: boolean) {
  const { store } = await openStore(t, prefix);
  const now = Date.now();
  await store.add([{
    id: 'charge-1', name: 'charge', payload: '{}', key: null, when: 'always', maxAttempts: 3,
    backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
  }], 'test', now + 60_000);
  // A lease of 5 s (BullMQ's lock lasts as long): one of 100 ms ran out on a loaded machine before the failure
  // was logged, which then found its lock lost and never reached the move. Its lapse is judged at a time passed.
  const claim = (owner: string, at: number) => store.claim({ owner, names: ['charge'], concurrency: {}, limit: 1, now: at, leaseUntil: at + 5_000 });
  assert.equal((await claim('dies', now)).length, 1);
  const moving = dieAtBullmqsMove(t, 'before');
  void store.fail('charge-1', 'dies', { attempt: 1, message, startedAt: now, finishedAt: now }, retried ? now : null);
  await moving;
  const later = now + 10_000;
  await store.recover(later, () => 0.5);
  return { store, claimed: [...await claim('next', later), ...await claim('next', later)] };
}

/**
 * The process dies at BullMQ's next move of a failed attempt (`moveToFailed`), before it or right after it: that
 * call never returns, and nothing after it runs (the moves after it are BullMQ's again: another process's). Resolves
 * once the process got there.
 */
function dieAtBullmqsMove(t: TestContext, when: 'before' | 'after'): Promise<void> {
  const moveToFailed = Job.prototype.moveToFailed;
  t.after(() => { Job.prototype.moveToFailed = moveToFailed; });
  return new Promise<void>((reached) => {
    Job.prototype.moveToFailed = async function (this: Job, ...args: Parameters<Job['moveToFailed']>) {
      Job.prototype.moveToFailed = moveToFailed;
      if (when === 'after') await moveToFailed.apply(this, args);
      reached();
      return new Promise(() => {});
    } as Job['moveToFailed'];
  });
}

for (const how of ['dies', 'unavailable'] as const) {
  test(`a retry by hand takes the task's key back and moves its job to waiting in one script, BullMQ's own retry never called (${how === 'dies' ? 'the process died' : 'Redis was unreachable'} at it, the second step it was: the key stayed held by a task still failed, and a registration with the key after it was a duplicate of a task that never ran)`, { timeout: 30_000, skip: missing }, async (t) => {
    const { store } = await openStore(t, `retry-${how}`);
    const now = Date.now();
    const charge = (id: string): NewTask => ({
      id, name: 'charge', payload: '{}', key: 'card-1', when: 'always', maxAttempts: 1,
      backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    });
    const claim = (at: number) => store.claim({ owner: 'worker', names: ['charge'], concurrency: {}, limit: 5, now: at, leaseUntil: at + 60_000 });
    await store.add([charge('charge-1')], 'web', now + 60_000);
    await claim(now);
    assert.equal(await store.fail('charge-1', 'worker', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
    const retried = await Promise.race([store.retry('charge-1', now).catch((error: unknown) => String(error)), failBullmqsRetry(t, how)]);
    // A registration with the key after it is stored, or is the duplicate of a task that runs: none is lost.
    const [added] = await store.add([charge('charge-2')], 'web', now + 60_000);
    assert.deepEqual((await claim(now + 10)).map(({ id }) => id), [added!.id]);
    // The key taken back with the move: the task runs again, its key its own, out of the failed listing.
    assert.deepEqual([retried, added], [true, { id: 'charge-1', duplicate: true }]);
    assert.equal(await store.keyHolder('charge', 'card-1'), 'charge-1');
    assert.deepEqual((await store.listPage({ state: 'failed', name: 'charge', limit: 5 })).tasks, []);
  });
}

/**
 * BullMQ's retry of a failed job (`Job.retry`) never moves it: the process dies there (the call never returns:
 * resolves, saying so) or Redis is unreachable (it throws as ioredis does).
 */
function failBullmqsRetry(t: TestContext, how: 'dies' | 'unavailable'): Promise<string> {
  const retry = Job.prototype.retry;
  t.after(() => { Job.prototype.retry = retry; });
  return new Promise<string>((died) => {
    Job.prototype.retry = async () => {
      Job.prototype.retry = retry;
      if (how === 'unavailable') throw new Error('Connection is closed.');
      died('the process died at BullMQ\'s retry');
      return new Promise(() => {});
    };
  });
}

test('a job another program put in a task\'s queue (BullMQ\'s own Queue.add) is refused visibly: failed for good when claimed, its error naming the problem, counted by stats() and listed under the task\'s name, though this store never added a task of that name', { timeout: 30_000, skip: missing }, async (t) => {
  const redis = await startRedis();
  let ran = 0;
  const charge = task('charge', () => void ran++);
  const app = createApp({ tasks: { definitions: [charge], store: bullmqStore({ connection: { port: redis.port }, prefix: 'foreign' }), pollMs: 50 } });
  t.after(() => app.tasks.close(performance.now() + 2_000));
  const connection = { port: redis.port };
  const queue = new Queue('charge', { connection, prefix: 'foreign' });
  const events = new QueueEvents('charge', { connection, prefix: 'foreign' });
  t.after(() => Promise.all([queue.close(), events.close()]));
  // After the clients are closed (hooks run in the order given).
  t.after(() => redis.stop());
  await events.waitUntilReady();
  // Nothing is counted before (the store opened by the call).
  assert.equal((await app.tasks.stats()).failed, 0);
  const job = await queue.add('some-job', { to: 'x' }, { jobId: 'foreign-1' });
  // settle() runs what is due here: it claims the job.
  await app.settle();
  await assert.rejects(job.waitUntilFinished(events), /^Error: not a Coda task/);
  assert.equal(ran, 0, 'not run as the task');
  const stats = await app.tasks.stats();
  assert.deepEqual([stats.failed, stats.byName.charge?.failed], [1, 1]);
  const [listed, ...more] = await app.tasks.list({ state: 'failed' });
  assert.equal(more.length, 0);
  assert.deepEqual([listed?.id, listed?.name, listed?.payload, listed?.attempt, listed?.maxAttempts], ['foreign-1', 'charge', '{"to":"x"}', 1, 1]);
  assert.match(listed!.errors[0]!.message, /^not a Coda task: job "some-job" \(id "foreign-1"\) was put in the queue of task charge by another program/);
  assert.equal((await queue.getJob('foreign-1'))?.failedReason, listed!.errors[0]!.message, 'BullMQ\'s own tools show the reason');
  assert.equal(await app.tasks.discard('foreign-1'), true);
  assert.equal((await app.tasks.stats()).failed, 0);
});

test('keepCompleted.ageMs: a completed job older than it is removed as another completes, one younger is kept', { timeout: 30_000, skip: missing }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const store = bullmqStore({ connection: { port: redis.port }, prefix: 'aged', keepCompleted: { count: 1_000, ageMs: 60_000 } });
  await store.open();
  t.after(() => store.close());
  const now = Date.now();
  const complete = async (id: string): Promise<void> => {
    await store.add([{
      id, name: 'done', payload: '{}', key: null, when: 'always', maxAttempts: 1,
      backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    }], 'test', now + 60_000);
    const [claimed] = await store.claim({ owner: 'test', names: ['done'], concurrency: {}, limit: 1, now, leaseUntil: now + 60_000 });
    assert.deepEqual(await store.complete([claimed!.id], 'test', now), [id]);
  };
  await complete('old');
  await complete('young');
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  // BullMQ judges age by the completed set's score, the finish time: 'old' finished two minutes ago.
  await admin.zadd('aged:done:completed', 'XX', now - 120_000, 'old');
  await complete('next');
  assert.equal(await store.get('old'), null, 'past ageMs: removed');
  assert.deepEqual([(await store.get('young'))?.state, (await store.get('next'))?.state], ['completed', 'completed']);
});

test('a script on a BullMQ store ends once it closes the store it gave the app, after app.tasks.enqueue() and app.settle() (the Redis client held the process open)', { timeout: 30_000, skip: missing }, async (t) => {
  const script = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/script.ts', import.meta.url))], {
    env: { ...process.env, REDIS_PORT: String(server().port), REDIS_PREFIX: 'script' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => script.kill('SIGKILL'));
  let output = '';
  script.stdout.on('data', (chunk: Buffer) => (output += chunk));
  const [code] = await once(script, 'exit');
  assert.equal(output, 'ran\nclosed\n');
  assert.equal(code, 0);
});
