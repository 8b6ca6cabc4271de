// More cases of BullMQ's own suite (tests/getters, delay, concurrency, events,
// obliterate, connection, worker), run on Coda's tasks on the BullMQ store
// against a real redis-server, seen both through app.tasks and through
// BullMQ's own Queue and QueueEvents, as a BullMQ user (or Bull Board) sees
// them. The cases bullmq.peers.test.ts ports are not repeated here. Each test
// names its source.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createApp, runWorker, task, type App, type NewTask, type Task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { deferred, LEVEL, memoryLogger } from '../helpers.js';
import { startRedis, useRedis } from './redis-server.js';

/** A Redis reply's field, value, ... as an object. */
const fromPairs = (list: string[]): Record<string, string> => Object.fromEntries(Array.from({ length: list.length / 2 }, (_, i) => [list[2 * i], list[2 * i + 1]]));

const { missing, server } = useRedis();
let prefixes = 0;

/** A prefix of the test's own, and BullMQ's Queue of task `name` under it, closed when the test ends. */
function queueOf(t: TestContext, name: string): { prefix: string; queue: Queue } {
  const prefix = `more-${++prefixes}`;
  const queue = new Queue(name, { connection: { port: server().port }, prefix });
  t.after(() => queue.close());
  return { prefix, queue };
}

/** An app on the BullMQ store under `prefix`, opened, closed when the test ends; `run: false` leaves running to workers. */
async function appOn(t: TestContext, prefix: string, definitions: Task<never>[], run = false, logger = memoryLogger().logger): Promise<App> {
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  const app = createApp({ logger, tasks: { definitions, store, run, leaseMs: 1_000 } });
  await app.tasks.open();
  t.after(() => app.tasks.close(performance.now() + 1_000));
  return app;
}

/** An app that only enqueues, and two runWorker() instances of `concurrency` on its prefix; `count` tasks enqueued, payloads { n }. */
async function onTwoWorkers(t: TestContext, job: Task<{ n: number }>, concurrency: number, count: number): Promise<App> {
  const { prefix } = queueOf(t, 'job');
  const app = await appOn(t, prefix, [job as Task<never>]);
  for (let i = 0; i < 2; i++) {
    const worker = await runWorker({ definitions: [job as Task<never>], store: bullmqStore({ connection: { port: server().port }, prefix }), concurrency, pollMs: 50, handleSignals: false, logger: memoryLogger().logger });
    t.after(() => worker.close());
  }
  await Promise.all(Array.from({ length: count }, (_, n) => app.tasks.enqueue(job, { n })));
  return app;
}

describe('durable tasks on BullMQ, as more of BullMQ\'s suite tests them', { timeout: 30_000, skip: missing }, () => {
  test("BullMQ delay.test 'when delay is provided as 0: should add job directly into wait state': a task enqueued with delayMs 0 is waiting in BullMQ, counted ready, not delayed", async (t) => {
    const job = task('job', () => {});
    const { prefix, queue } = queueOf(t, 'job');
    const app = await appOn(t, prefix, [job]);
    const { id } = await app.tasks.enqueue(job, {}, { delayMs: 0 });
    assert.equal(await queue.getJobState(id), 'waiting');
    const { ready, delayed } = await app.tasks.stats();
    assert.deepEqual({ ready, delayed }, { ready: 1, delayed: 0 });
  });

  test("BullMQ delay.test 'when failed jobs are retried and moved to delayed: processes jobs without getting stuck', 'should process delayed jobs with several workers respecting delay': 30 tasks whose first attempt fails, over two workers of concurrency 3, each retried after its 100 ms backoff, no sooner, and completed as attempt 2", async (t) => {
    const firstFailed = new Map<number, number>();
    const retriedAfter: number[] = [];
    const all = deferred();
    const job = task('job', (payload: { n: number }, ctx) => {
      if (ctx.attempt === 1) {
        firstFailed.set(payload.n, Date.now());
        throw new Error('not yet');
      }
      retriedAfter.push(Date.now() - firstFailed.get(payload.n)!);
      if (retriedAfter.length === 30) all.resolve();
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 100, jitter: 0 } });
    const app = await onTwoWorkers(t, job, 3, 30);
    await all.promise;
    // The backoff is counted from the attempt's end, recorded after its throw: never less than 100 ms from it.
    assert.ok(retriedAfter.every((gap) => gap >= 100), `retries started ${Math.min(...retriedAfter)} ms after their failure at the soonest`);
    const { completed, failed, ready, delayed, running } = await app.tasks.stats();
    assert.deepEqual({ completed, failed, ready, delayed, running }, { completed: 30, failed: 0, ready: 0, delayed: 0, running: 0 });
  });

  test("BullMQ concurrency.test 'when jobs use backoff strategy: processes jobs without getting stuck', with a global concurrency: 12 tasks of concurrency 2 whose first attempt fails, over two workers, all complete as attempt 2, never more than 2 at once", async (t) => {
    let running = 0;
    let most = 0;
    let done = 0;
    const all = deferred();
    const job = task('job', async (_payload: { n: number }, ctx) => {
      most = Math.max(most, ++running);
      // A turn for another worker to start one beside it, were the cap not kept.
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (ctx.attempt === 1) throw new Error('not yet');
      if (++done === 12) all.resolve();
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 50, jitter: 0 }, concurrency: 2 });
    const app = await onTwoWorkers(t, job, 4, 12);
    await all.promise;
    assert.ok(most <= 2, `${most} ran at once`);
    const { completed, failed } = await app.tasks.stats();
    assert.deepEqual({ completed, failed }, { completed: 12, failed: 0 });
  });

  test("BullMQ getters '.getJobCounts returns job counts for active, completed, delayed, failed ...': stats() and BullMQ's counts agree state by state", async (t) => {
    const gate = deferred();
    const started = deferred();
    const job = task('job', async (payload: { fail?: boolean; slow?: boolean }) => {
      if (payload.fail) throw new Error('no');
      if (payload.slow) {
        started.resolve();
        await gate.promise;
      }
    }, { attempts: 1 });
    const { prefix, queue } = queueOf(t, 'job');
    const app = await appOn(t, prefix, [job], true);
    const settled = deferred();
    let ended = 0;
    app.tasks.observe(({ state }) => (state === 'completed' || state === 'failed') && ++ended === 3 && settled.resolve());
    await app.tasks.enqueue(job, {});
    await app.tasks.enqueue(job, {});
    await app.tasks.enqueue(job, { fail: true });
    await settled.promise;
    await app.tasks.enqueue(job, { slow: true });
    await started.promise;
    await app.tasks.enqueue(job, {}, { delayMs: 60_000 });
    const stats = await app.tasks.stats();
    const counts = await queue.getJobCounts();
    gate.resolve();
    assert.deepEqual(
      { running: stats.running, completed: stats.completed, failed: stats.failed, delayed: stats.delayed, ready: stats.ready },
      { running: counts.active, completed: counts.completed, failed: counts.failed, delayed: counts.delayed, ready: counts.waiting! + counts.prioritized! },
    );
    assert.deepEqual({ running: stats.running, completed: stats.completed, failed: stats.failed, delayed: stats.delayed, ready: stats.ready }, { running: 1, completed: 2, failed: 1, delayed: 1, ready: 0 });
  });

  test("BullMQ concurrency.test 'should run max concurrency for jobs added': a worker of concurrency 4 given 10 tasks runs 4 at once, never more, each once", async (t) => {
    let running = 0;
    let most = 0;
    const ran = new Set<number>();
    const four = deferred();
    const all = deferred();
    const job = task('job', async (payload: { n: number }) => {
      most = Math.max(most, ++running);
      if (running === 4) four.resolve();
      // Each attempt holds its slot until four run at once: a worker capped lower never gets there.
      await four.promise;
      running--;
      ran.add(payload.n);
      if (ran.size === 10) all.resolve();
    });
    const { prefix } = queueOf(t, 'job');
    const app = await appOn(t, prefix, [job]);
    const worker = await runWorker({ definitions: [job], store: bullmqStore({ connection: { port: server().port }, prefix }), concurrency: 4, pollMs: 50, handleSignals: false, logger: memoryLogger().logger });
    t.after(() => worker.close());
    for (let n = 0; n < 10; n++) await app.tasks.enqueue(job, { n });
    await all.promise;
    assert.equal(most, 4);
    assert.equal((await app.tasks.stats()).completed, 10);
  });

  test("BullMQ events.test, what an operator sees on QueueEvents (Bull Board, a BullMQ listener): a task's added, waiting, active, completed; a failing one's failed with its reason and retries-exhausted with its attempts", async (t) => {
    const job = task('job', (payload: { fail?: boolean }) => {
      if (payload.fail) throw new Error('card declined');
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
    const { prefix } = queueOf(t, 'job');
    const events = new QueueEvents('job', { connection: { port: server().port }, prefix });
    t.after(() => events.close());
    await events.waitUntilReady();
    const seen: Record<string, string[]> = {};
    const exhausted = deferred();
    const completed = deferred();
    for (const name of ['added', 'waiting', 'active', 'completed', 'failed', 'retries-exhausted'] as const) {
      events.on(name, (args: { jobId: string; failedReason?: string; attemptsMade?: string }) => {
        (seen[args.jobId] ??= []).push([name, args.failedReason, args.attemptsMade].filter((part) => part !== undefined).join(' '));
        if (name === 'retries-exhausted') exhausted.resolve();
        if (name === 'completed') completed.resolve();
      });
    }
    const app = await appOn(t, prefix, [job], true);
    const ok = await app.tasks.enqueue(job, {});
    const failing = await app.tasks.enqueue(job, { fail: true });
    await Promise.all([exhausted.promise, completed.promise]);
    assert.deepEqual(seen[ok.id], ['added', 'waiting', 'active', 'completed']);
    assert.deepEqual(seen[failing.id], ['added', 'waiting', 'active', 'waiting', 'active', 'failed Error: card declined', 'retries-exhausted 2']);
  });

  test("BullMQ stalled_jobs.test 'process stalled jobs when starting a queue', as its QueueEvents tell it: a task whose process stopped renewing its lease, recovered by another process, is told 'stalled' on the queue's events stream, then 'failed' with its stalled: reason", async (t) => {
    const prefix = `more-${++prefixes}`;
    const [dead, alive] = [bullmqStore({ connection: { port: server().port }, prefix }), bullmqStore({ connection: { port: server().port }, prefix })];
    for (const store of [dead, alive]) {
      await store.open();
      t.after(() => store.close());
    }
    const now = Date.now();
    await dead.add([{
      id: 'send-1', name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1_000, held: false, runAt: now, request: null, trace: null,
    }], 'web', now + 60_000);
    assert.equal((await dead.claim({ owner: 'dead', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 100 })).length, 1);
    // Ten seconds on, its lease long run out.
    assert.deepEqual(await alive.recover(now + 10_000, () => 0, now + 11_000), { held: 0, running: 1 });
    const redis = new Redis({ port: server().port });
    t.after(() => redis.disconnect());
    // The stream QueueEvents reads, read whole: a listener started late would miss the first entries.
    const told = (await redis.xrange(`${prefix}:send:events`, '-', '+')).map(([, fields]) => fromPairs(fields)).filter(({ jobId }) => jobId === 'send-1');
    assert.deepEqual(told.map(({ event }) => event), ['added', 'waiting', 'active', 'stalled', 'failed', 'retries-exhausted']);
    assert.match(told.find(({ event }) => event === 'failed')!.failedReason!, /^stalled: dead stopped renewing its lock, which ended at /);
  });

  test("BullMQ job view of a failed task (getters 'should get failed jobs', Bull Board's job page): attemptsMade, failedReason and a stacktrace per attempt; retried by hand and completed, counted afresh", async (t) => {
    let broken = true;
    const job = task('job', () => {
      if (broken) throw new Error('card declined');
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
    const { prefix, queue } = queueOf(t, 'job');
    const app = await appOn(t, prefix, [job], true);
    const ended = (want: string) => {
      const done = deferred();
      const stop = app.tasks.observe(({ state }) => state === want && done.resolve());
      return done.promise.finally(stop);
    };
    const failedForGood = ended('failed');
    const { id } = await app.tasks.enqueue(job, {});
    await failedForGood;
    const failed = (await queue.getFailed()).map(({ id: jobId, attemptsMade, failedReason, stacktrace }) => ({ jobId, attemptsMade, failedReason, stacks: stacktrace?.length }));
    assert.deepEqual(failed, [{ jobId: id, attemptsMade: 2, failedReason: 'Error: card declined', stacks: 2 }]);
    broken = false;
    const completed = ended('completed');
    assert.equal(await app.tasks.retry(id), true);
    await completed;
    const retried = (await queue.getJob(id))!;
    assert.deepEqual([await retried.getState(), retried.attemptsMade, retried.failedReason], ['completed', 1, undefined]);
  });

  test("BullMQ obliterate.test 'should remove job logs', removeJob: a failed task discarded leaves no key of its own in Redis (hash, log, lock) and nothing in BullMQ's lists", async (t) => {
    const job = task('job', () => {
      throw new Error('no');
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
    const { prefix, queue } = queueOf(t, 'job');
    const app = await appOn(t, prefix, [job], true);
    const failed = deferred();
    app.tasks.observe(({ state }) => state === 'failed' && failed.resolve());
    const { id } = await app.tasks.enqueue(job, {});
    await failed.promise;
    const redis = new Redis({ port: server().port });
    t.after(() => redis.disconnect());
    assert.deepEqual((await redis.keys(`${prefix}:job:${id}*`)).sort(), [`${prefix}:job:${id}`, `${prefix}:job:${id}:logs`]);
    assert.equal(await app.tasks.discard(id), true);
    assert.deepEqual(await redis.keys(`*${id}*`), []);
    const counts = await queue.getJobCounts();
    assert.deepEqual(Object.values(counts).filter((count) => count !== 0), []);
  });

  test("BullMQ getters 'should filter out missing jobs when ids remain in the waiting list', 'should backfill a bounded range when a job hash is missing': list() skips the job whose hash is gone (evicted, deleted by hand); the claim that meets it removes its id, says so once at error, and runs the others; nothing of it is left", async (t) => {
    const ran: number[] = [];
    const two = deferred();
    const job = task('job', (payload: { n: number }) => {
      ran.push(payload.n);
      if (ran.length === 2) two.resolve();
    });
    const { prefix, queue } = queueOf(t, 'job');
    const web = await appOn(t, prefix, [job]);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await web.tasks.enqueue(job, { n })).id);
    const redis = new Redis({ port: server().port });
    t.after(() => redis.disconnect());
    const gone = ids[1]!;
    await redis.del(`${prefix}:job:${gone}`);
    assert.deepEqual((await web.tasks.list({ state: 'ready', limit: 2 })).map(({ id }) => id), [ids[2], ids[0]]);
    assert.equal(await web.tasks.get(gone), null);
    const { logger, lines, logged } = memoryLogger();
    const told = logged(({ taskId }) => taskId === gone);
    await appOn(t, prefix, [job], true, logger);
    await two.promise;
    const line = await told;
    assert.equal(line.level, LEVEL.error);
    assert.match(String(line.msg), /^durable task [\w-]+ \(job more-\d+:job:[\w-]+\) in the bullmq store .*: its job's hash was gone from Redis \(evicted, or deleted by hand\) while its id was still in the queue's waiting list: nothing left to run or keep; its id removed$/);
    assert.deepEqual(ran.sort(), [0, 2]);
    assert.deepEqual(await redis.keys(`*${gone}*`), []);
    const counts = await queue.getJobCounts();
    assert.deepEqual({ ...counts, completed: 0 }, Object.fromEntries(Object.keys(counts).map((state) => [state, 0])), 'the gone job is counted nowhere');
    assert.deepEqual([(await web.tasks.stats()).failed, await web.tasks.discard(gone)], [0, false]);
    assert.deepEqual(lines.filter(({ level }) => level >= LEVEL.warn).length, 1, 'said once');
  });

  test("BullMQ obliterate.test, a task's queue obliterated by a BullMQ tool (Bull Board's Obliterate): its ready, running and failed tasks are gone from stats() and list(), nothing of them left in Redis; a held task, in none of BullMQ's lists, is left, and runs once its hold lapses", async (t) => {
    const { prefix, queue } = queueOf(t, 'send');
    const store = bullmqStore({ connection: { port: server().port }, prefix });
    await store.open();
    t.after(() => store.close());
    const now = Date.now();
    const send = (id: string, held: boolean): NewTask => ({
      id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1_000, held, runAt: now, request: null, trace: null,
    });
    await store.add([send('t-held', true), send('t-failed', false), send('t-running', false), send('t-ready', false)], 'web', now + 500);
    assert.equal((await store.claim({ owner: 'worker', names: ['send'], concurrency: {}, limit: 2, now, leaseUntil: now + 60_000 })).length, 2);
    assert.equal(await store.fail('t-failed', 'worker', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
    await queue.obliterate({ force: true });
    const { held, ready, running, failed } = await store.stats(Date.now());
    assert.deepEqual({ held, ready, running, failed }, { held: 1, ready: 0, running: 0, failed: 0 });
    assert.deepEqual((await store.list({})).map(({ id }) => id), ['t-held']);
    const redis = new Redis({ port: server().port });
    t.after(() => redis.disconnect());
    assert.deepEqual(await redis.keys(`${prefix}:send:t-[fr]*`), []);
    // Its hold lapsed (the web process gone): recovered and claimed as any other.
    assert.deepEqual(await store.recover(now + 10_000, () => 0), { held: 1, running: 0 });
    assert.deepEqual((await store.claim({ owner: 'worker', names: ['send'], concurrency: {}, limit: 5, now: now + 10_000, leaseUntil: now + 60_000 })).map(({ id }) => id), ['t-held']);
  });

  test("BullMQ deduplication.test 'emits deduplicated event': a registration whose key a held task keeps (a request's after() while another's response is not done) is told 'deduplicated' on the queue's events stream, as a ready one's is by BullMQ's add", async (t) => {
    const { prefix } = queueOf(t, 'send');
    const store = bullmqStore({ connection: { port: server().port }, prefix });
    await store.open();
    t.after(() => store.close());
    const now = Date.now();
    const send = (id: string, held: boolean): NewTask => ({
      id, name: 'send', payload: '{}', key: 'welcome:7', when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1_000, held, runAt: now, request: null, trace: null,
    });
    await store.add([send('t-first', true)], 'web', now + 60_000);
    assert.deepEqual(await store.add([send('t-again', true)], 'web', now + 60_000), [{ id: 't-first', duplicate: true }]);
    assert.deepEqual(await store.add([send('t-ready', false)], 'web', now + 60_000), [{ id: 't-first', duplicate: true }]);
    const redis = new Redis({ port: server().port });
    t.after(() => redis.disconnect());
    const told = (await redis.xrange(`${prefix}:send:events`, '-', '+')).map(([, fields]) => fromPairs(fields)).filter(({ event }) => event === 'deduplicated');
    assert.deepEqual(told, [
      { event: 'deduplicated', jobId: 't-first', deduplicationId: 'welcome:7', deduplicatedJobId: 't-again' },
      { event: 'deduplicated', jobId: 't-first', deduplicationId: 'welcome:7', deduplicatedJobId: 't-ready' },
    ]);
  });

  test("BullMQ connection.test, a worker started before Redis is up (a deliberate difference: BullMQ's Worker waits for it): runWorker() fails at once with StoreUnavailable naming the address, as serve() does, for the supervisor to start it again; started once Redis is up, it runs the task enqueued meanwhile", async (t) => {
    const redis = await startRedis();
    // Stopped once the worker and the app have closed: closed on a Redis gone, they would wait it out.
    const closes: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const close of closes) await close();
      await redis.stop();
    });
    const ran = deferred<number>();
    const job = task('job', (payload: { n: number }) => ran.resolve(payload.n));
    const store = () => bullmqStore({ connection: { port: redis.port }, prefix: 'more-before-redis' });
    await redis.kill();
    await assert.rejects(
      runWorker({ definitions: [job], store: store(), handleSignals: false, logger: memoryLogger().logger }),
      { name: 'StoreUnavailable', message: new RegExp(`cannot connect to Redis at redis://127\\.0\\.0\\.1:${redis.port}/0: connect ECONNREFUSED`) },
    );
    await redis.start();
    const web = createApp({ logger: memoryLogger().logger, tasks: { definitions: [job], store: store(), run: false } });
    closes.push(() => web.tasks.close(performance.now() + 1_000));
    await web.tasks.enqueue(job, { n: 7 });
    const worker = await runWorker({ definitions: [job], store: store(), pollMs: 50, handleSignals: false, logger: memoryLogger().logger });
    closes.push(() => worker.close());
    assert.equal(await ran.promise, 7);
  });

  test("BullMQ connection.test, a bad URL: a worker on a host that does not resolve fails to start with StoreUnavailable naming the host and why", async () => {
    const job = task('job', () => {});
    await assert.rejects(
      runWorker({ definitions: [job], store: bullmqStore({ connection: { host: 'no-such-host.invalid' }, prefix: 'more-bad-url' }), handleSignals: false, logger: memoryLogger().logger }),
      { name: 'StoreUnavailable', message: /cannot connect to Redis at redis:\/\/no-such-host\.invalid:6379\/0: getaddrinfo ENOTFOUND no-such-host\.invalid/ },
    );
  });
});
