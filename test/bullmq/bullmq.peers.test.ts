// Durable-task cases ported from BullMQ's own suite (tests/job.test.ts,
// worker.test.ts, delay.test.ts, deduplication.test.ts) and graphile/worker's
// (__tests__/main.runTaskListOnce.test.ts), run on the BullMQ store against a
// real redis-server: the cases of test/durable/durable.peers.test.ts where
// the store matters (what Redis keeps of a payload, a key, an error). Each
// test names its source. Backoffs here are 0 ms (BullMQ times them by the
// clock of its clients, which no test clock moves), but in the case that
// measures them on the real clock.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Logger } from 'pino';
import { createApp, NonRetryableError, task, type App, type Task, type TaskContext } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { createTestClient } from 'coda-http/testing';
import { deferred, LEVEL, memoryLogger } from '../helpers.js';
import { assertSerialAcrossWorkers } from '../durable/serial-workers.js';
import { assertSerialPastTimeout } from '../durable/serial-past-timeout.js';
import { assertLongAttemptKept } from '../durable/long-attempt.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();
let prefixes = 0;

/** An app on the BullMQ store, a prefix of its own, served by a test client: its tasks run in this process. */
function onRedis(t: TestContext, definitions: Task<never>[], payloadLimit?: number) {
  const store = bullmqStore({ connection: { port: server().port }, prefix: `peers-${++prefixes}` });
  const app = createApp({ logger: memoryLogger().logger, tasks: { definitions, store, payloadLimit } });
  const client = createTestClient(app, { tasks: 'app' });
  t.after(() => client.close());
  return { app, settled: () => app.settle() };
}

/**
 * An app on the BullMQ store, a prefix of its own, running its tasks in this process as a served one does (its own
 * poll, on the real clock), closed when the test ends; `before` runs ahead of the open (an observer to add).
 */
async function runningOnRedis(t: TestContext, definitions: Task<never>[], options: { concurrency?: number; pollMs: number; logger?: Logger }, before?: (app: App) => void): Promise<App> {
  const store = bullmqStore({ connection: { port: server().port }, prefix: `peers-${++prefixes}` });
  const { logger = memoryLogger().logger, ...pacing } = options;
  const app = createApp({ logger, tasks: { definitions, store, ...pacing } });
  before?.(app);
  await app.tasks.open();
  t.after(() => app.tasks.close(performance.now() + 1_000));
  return app;
}

/** A task 'job' that records the number `field` of each payload it runs; `all` resolves once it has run `count`. */
function recording(count: number, field: string) {
  const ran: number[] = [];
  const all = deferred();
  const job = task('job', (payload: Record<string, number>) => {
    ran.push(payload[field]!);
    if (ran.length === count) all.resolve();
  });
  return { job, ran, all };
}

describe('durable tasks on BullMQ, as BullMQ and graphile/worker test them', { timeout: 30_000, skip: missing }, () => {
  test("BullMQ job.test 'JSON.stringify retains property types', 'should correctly handle zero passed as data': every JSON value, lone surrogates and a 1 MB one included, comes back as it went in", async (t) => {
    const seen: unknown[] = [];
    const echo = task('echo', (payload: unknown) => { seen.push(payload); });
    const { app, settled } = onRedis(t, [echo]);
    const payloads: unknown[] = [
      0, null, false, '',
      { n: 1.5, big: Number.MAX_SAFE_INTEGER, list: [1, 'two', null, [true]] },
      { text: 'héllo 日本語 🎉 \u0000 \u2028', lone: '\ud800', low: 'x\udc00' },
      JSON.parse('{"__proto__": {"polluted": true}, "": "empty", "a.b": 1}'),
      // 1 MB (10 bytes each), within the default payloadLimit (1 MiB of JSON).
      { blob: '😀 data '.repeat(100_000) },
    ];
    for (const payload of payloads) await app.tasks.enqueue(echo, payload as never);
    await settled();
    assert.deepEqual(seen, payloads);
  });

  test("BullMQ job.test 'should set default size limit ...': a 10 MB string is refused by default, naming its size, nothing stored; with payloadLimit raised, it is stored, read back and run whole", async (t) => {
    let received = '';
    const big = task('big', (payload: { blob: string }) => { received = payload.blob; });
    const blob = '😀 data \ud800 '.repeat(10 * 1024 * 1024 / 16);
    const byDefault = onRedis(t, [big]);
    await assert.rejects(byDefault.app.tasks.enqueue(big, { blob }), /the payload of durable task 'big' is at least \d+ bytes of JSON, over the limit of 1048576/);
    assert.equal((await byDefault.app.tasks.stats()).ready, 0);
    const { app, settled } = onRedis(t, [big], 32 * 1024 * 1024);
    const { id } = await app.tasks.enqueue(big, { blob });
    assert.equal((await app.tasks.get(id))?.payload, JSON.stringify({ blob }));
    await settled();
    assert.equal(received, blob);
  });

  test("BullMQ 'should process delayed jobs in correct order': tasks enqueued out of order with delays run by their times, one at a time, each completion recorded with the next job of the line still delayed (nothing logged)", async (t) => {
    const { job, ran, all } = recording(5, 'n');
    const { logger, lines } = memoryLogger();
    const app = await runningOnRedis(t, [job], { concurrency: 1, pollMs: 50, logger });
    for (const n of [3, 1, 5, 2, 4]) await app.tasks.enqueue(job, { n }, { delayMs: n * 150 });
    await all.promise;
    assert.deepEqual(ran, [1, 2, 3, 4, 5]);
    assert.deepEqual(lines.filter(({ level }) => level >= LEVEL.warn).map(({ msg }) => msg), [], 'no completion refused, no error');
  });

  test("BullMQ delay.test 'should process delayed jobs with exact same timestamps in correct order (FIFO)': 43 tasks enqueued in one turn with one delay run in the order added, one at a time", async (t) => {
    const { job, ran, all } = recording(43, 'order');
    const app = await runningOnRedis(t, [job], { concurrency: 1, pollMs: 50 });
    const orders = Array.from({ length: 43 }, (_, i) => i + 1);
    // One turn: one registration, the tasks' times one millisecond at most apart.
    await Promise.all(orders.map((order) => app.tasks.enqueue(job, { order }, { delayMs: 300 })));
    await all.promise;
    assert.deepEqual(ran, orders);
  });

  test("BullMQ worker.test 'should retry a job after a delay if an exponential backoff is given', 'if a fixed backoff is given': each retry starts no sooner than its backoff after the attempt before failed (100 then 200 ms; 150 then 150), and no later than a poll", async (t) => {
    const starts: Record<string, number[]> = {};
    const done = deferred();
    const failing = (name: string, backoff: { type: 'fixed' | 'exponential'; delayMs: number }) => task(name, () => {
      (starts[name] ??= []).push(Date.now());
      if (starts[name].length < 3) throw new Error(`attempt ${starts[name].length}`);
      if (Object.values(starts).every((list) => list.length === 3) && Object.keys(starts).length === 2) done.resolve();
    }, { attempts: 3, backoff: { ...backoff, jitter: 0 } });
    const exponential = failing('exponential', { type: 'exponential', delayMs: 100 });
    const fixed = failing('fixed', { type: 'fixed', delayMs: 150 });
    const app = await runningOnRedis(t, [exponential, fixed], { pollMs: 1_000 });
    const ids = [(await app.tasks.enqueue(exponential, {})).id, (await app.tasks.enqueue(fixed, {})).id];
    await done.promise;
    for (const [name, delays] of [['exponential', [100, 200]], ['fixed', [150, 150]]] as const) {
      const [first, second, third] = starts[name]!;
      const gaps = [second! - first!, third! - second!];
      for (const [i, gap] of gaps.entries()) assert.ok(gap >= delays[i]! && gap < delays[i]! + 1_000, `${name}: retry ${i + 1} started ${gap} ms after the attempt before (backoff ${delays[i]} ms)`);
    }
    for (const id of ids) {
      const { errors } = (await app.tasks.get(id))!;
      assert.deepEqual(errors.map(({ attempt }) => attempt), [1, 2]);
    }
  });

  test("BullMQ delay.test 'should process a delayed job added after an initial long delayed job': a task due in 300 ms, enqueued after one due in a year, runs at its time (within a poll), the other still delayed", async (t) => {
    const started = deferred<number>();
    const job = task('job', (payload: { soon: boolean }) => {
      if (payload.soon) started.resolve(Date.now());
    });
    const completed = deferred();
    const app = await runningOnRedis(t, [job], { pollMs: 100 }, (made) => made.tasks.observe(({ state }) => state === 'completed' && completed.resolve()));
    const late = await app.tasks.enqueue(job, { soon: false }, { delayMs: 365 * 24 * 60 * 60_000 });
    const enqueuedAt = Date.now();
    await app.tasks.enqueue(job, { soon: true }, { delayMs: 300 });
    const waited = await started.promise - enqueuedAt;
    assert.ok(waited >= 300 && waited < 300 + 1_000, `ran ${waited} ms after it was enqueued`);
    await completed.promise;
    const { ready, delayed, running } = await app.tasks.stats();
    assert.deepEqual({ ready, delayed, running }, { ready: 0, delayed: 1, running: 0 });
    assert.equal((await app.tasks.get(late.id))?.state, 'ready');
  });

  test("BullMQ 'should process a delayed job only after delayed time', graphile/worker's run_at: a task a year out (longer than a timer takes) waits in the store, counted as delayed, its time kept; one due now runs", async (t) => {
    const ran: number[] = [];
    const job = task('job', (payload: { n: number }) => { ran.push(payload.n); });
    const { app, settled } = onRedis(t, [job]);
    const year = 366 * 24 * 60 * 60_000;
    const later = await app.tasks.enqueue(job, { n: 1 }, { delayMs: year });
    await app.tasks.enqueue(job, { n: 0 });
    await settled();
    assert.deepEqual(ran, [0]);
    const { state, runAt, createdAt } = (await app.tasks.get(later.id))!;
    assert.equal(state, 'ready');
    assert.ok(Math.abs(runAt - createdAt - year) <= 1_000, `runs a year on: ${runAt - createdAt} ms`);
    assert.equal((await app.tasks.stats()).delayed, 1);
  });

  test("BullMQ deduplication 'waits until job is finished before removing deduplication key', graphile/worker 'schedules a new job if existing is completed': an odd name and odd keys, matched exactly, free once the task completed or failed", async (t) => {
    const ran: string[] = [];
    const odd = task('billing.v2:send@eu/welcome-1_x', (payload: { k: string; fail?: boolean }) => {
      ran.push(payload.k);
      if (payload.fail) throw new NonRetryableError('no');
    });
    const { app, settled } = onRedis(t, [odd]);
    const keys = ['100%', 'a*c', 'abc', 'de:colons', '{hash}', 'line\nbreak', '日本語🎉', 'k'.repeat(500)];
    const first = [];
    for (const k of keys) first.push(await app.tasks.enqueue(odd, { k }, { key: k, delayMs: 60_000 }));
    assert.ok(first.every(({ duplicate }) => !duplicate), 'no key matched another');
    for (const [i, k] of keys.entries()) {
      assert.deepEqual(await app.tasks.enqueue(odd, { k }, { key: k }), { id: first[i]!.id, duplicate: true }, JSON.stringify(k));
      assert.equal((await app.tasks.get(first[i]!.id))?.key, k);
    }
    const done = await app.tasks.enqueue(odd, { k: 'done' }, { key: 'reused' });
    await settled();
    assert.equal((await app.tasks.get(done.id))?.state, 'completed');
    const failing = await app.tasks.enqueue(odd, { k: 'failing', fail: true }, { key: 'reused' });
    assert.equal(failing.duplicate, false, 'free once completed');
    await settled();
    assert.equal((await app.tasks.get(failing.id))?.state, 'failed');
    const again = await app.tasks.enqueue(odd, { k: 'again' }, { key: 'reused' });
    assert.equal(again.duplicate, false, 'free once failed');
    await settled();
    assert.deepEqual(ran, ['done', 'failing', 'again']);
  });

  test("BullMQ worker.test 'when attempts is 1 and job fails', 'should not retry a failed job more than the number of given attempts times', 'when UnrecoverableError is throw', job.test 'saves error stacktrace'", async (t) => {
    const runs: Record<string, number[]> = {};
    const job = task('job', (payload: { name: string; attempts: number; unrecoverableAt?: number }, ctx: TaskContext) => {
      (runs[payload.name] ??= []).push(ctx.attempt);
      if (ctx.attempt === payload.unrecoverableAt) throw new NonRetryableError('Unrecoverable');
      throw new Error(`Not yet! ${ctx.attempt}`);
    }, { attempts: 3, backoff: { type: 'fixed', delayMs: 0 } });
    const once = task('once', () => { throw new Error('failed'); }, { attempts: 1 });
    const { app, settled } = onRedis(t, [job, once]);
    const single = await app.tasks.enqueue(once, { foo: 'bar' });
    const three = await app.tasks.enqueue(job, { name: 'three', attempts: 3 });
    const unrecoverable = await app.tasks.enqueue(job, { name: 'unrecoverable', attempts: 3, unrecoverableAt: 2 });
    await settled();
    const [a, b, c] = await Promise.all([single, three, unrecoverable].map(({ id }) => app.tasks.get(id)));
    assert.deepEqual([a?.state, a?.attempt, a?.payload], ['failed', 1, '{"foo":"bar"}']);
    assert.match(a!.errors[0]!.stack!, /^Error: failed\n\s+at /);
    assert.deepEqual([b?.state, b?.errors.map(({ message }) => message)], ['failed', ['Error: Not yet! 1', 'Error: Not yet! 2', 'Error: Not yet! 3']]);
    assert.deepEqual([c?.state, c?.attempt, c?.errors.map(({ message }) => message)], ['failed', 2, ['Error: Not yet! 1', 'NonRetryableError: Unrecoverable']]);
    assert.deepEqual(runs, { three: [1, 2, 3], unrecoverable: [1, 2] });
  });

  test("BullMQ worker.test 'process a job that returns a rejected promise', with values that are not Errors: each is kept as the attempt's error", async (t) => {
    const thrown: Record<string, unknown> = { string: 'plain string', null: null, number: 7, object: { code: 42 }, 'null prototype': Object.create(null) };
    const job = task('job', (payload: { kind: string }) => {
      throw thrown[payload.kind];
    }, { attempts: 1 });
    const { app, settled } = onRedis(t, [job]);
    const ids: Record<string, string> = {};
    for (const kind of Object.keys(thrown)) ids[kind] = (await app.tasks.enqueue(job, { kind })).id;
    await settled();
    const kept: Record<string, [string | undefined, string | undefined]> = {};
    for (const [kind, id] of Object.entries(ids)) {
      const stored = await app.tasks.get(id);
      kept[kind] = [stored?.state, stored?.errors[0]?.message];
    }
    assert.deepEqual(kept, {
      string: ['failed', 'plain string'], null: ['failed', 'Error: rejected with null'], number: ['failed', '7'],
      object: ['failed', '{ code: 42 }'], 'null prototype': ['failed', '[Object: null prototype] {}'],
    });
  });

  test("graphile/worker 'jobs in progress cannot be removed', 'pending jobs can be removed'; BullMQ 'retries a job that fails' (not one running, waiting or completed)", async (t) => {
    const started = deferred();
    const finish = deferred();
    let broken = true;
    const job = task('job', async (payload: { slow?: boolean }) => {
      if (payload.slow) {
        started.resolve();
        await finish.promise;
        return;
      }
      if (broken) throw new NonRetryableError('broken');
    });
    const { app, settled } = onRedis(t, [job]);
    const delayed = await app.tasks.enqueue(job, {}, { delayMs: 60_000 });
    const slow = await app.tasks.enqueue(job, { slow: true });
    await started.promise;
    assert.equal(await app.tasks.discard(slow.id), false, 'running: not removed');
    assert.equal(await app.tasks.retry(slow.id), false, 'running: not retried');
    assert.equal(await app.tasks.retry(delayed.id), false, 'delayed: not retried');
    assert.equal(await app.tasks.discard(delayed.id), true, 'delayed: removed');
    assert.equal(await app.tasks.get(delayed.id), null);
    finish.resolve();
    await settled();
    assert.equal((await app.tasks.get(slow.id))?.state, 'completed');
    assert.equal(await app.tasks.retry(slow.id), false, 'completed: not retried');
    const failing = await app.tasks.enqueue(job, {});
    await settled();
    broken = false;
    assert.equal(await app.tasks.retry(failing.id), true);
    await settled();
    assert.deepEqual([(await app.tasks.get(failing.id))?.state, (await app.tasks.get(failing.id))?.attempt], ['completed', 1]);
    assert.equal(await app.tasks.discard('no-such-task'), false);
    await assert.rejects(app.tasks.get(42 as never), /^TypeError: app\.tasks\.get\(\) takes a task id \(a string\), got number 42/);
  });

  test("graphile/worker 'jobs added to the same queue will be ran serially (even if multiple workers)', BullMQ's global concurrency: a task of concurrency 1 run by three workers on one Redis starts one attempt at a time, in the order enqueued, each once", async (t) => {
    const prefix = `peers-${++prefixes}`;
    await assertSerialAcrossWorkers(t, () => bullmqStore({ connection: { port: server().port }, prefix }));
  });

  test("graphile/worker's serial queue, BullMQ's global concurrency of 1, past a timeout: an attempt that ignores ctx.signal after its timeout still holds its name's one slot; neither its retry nor the next task of its name starts beside it on Redis", async (t) => {
    const prefix = `peers-${++prefixes}`;
    await assertSerialPastTimeout(t, () => bullmqStore({ connection: { port: server().port }, prefix }));
  });
  test("BullMQ 'should renew lock for long-running jobs', graphile/worker's locked_at: an attempt lasting five leases, beside a second worker recovering every half lease on one Redis, runs once as attempt 1, completed with no stall charged", { timeout: 30_000 }, async (t) => {
    const prefix = `peers-${++prefixes}`;
    await assertLongAttemptKept(t, () => bullmqStore({ connection: { port: server().port }, prefix }));
  });
});
