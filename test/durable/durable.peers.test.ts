// Durable-task cases ported from peers' own suites, against Coda's real API
// on a real SQLite file (or the test client's in-memory store, the same code,
// where its clock replaces waiting for a backoff): graphile/worker
// (__tests__/main.runTaskListOnce.test.ts, workerUtils.addJob.test.ts,
// resetLockedAt.test.ts), BullMQ (tests/worker.test.ts, job.test.ts,
// stalled_jobs.test.ts, deduplication.test.ts, concurrency.test.ts) and
// Laravel's queue tests (tries, failed jobs retried and forgotten, unique
// jobs), and Celery's retry semantics (Task.retry(), Reject). Each test names its source. Where Coda differs on purpose (a key is
// never replaced, only a failed task is retried), the test says so.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createApp, NonRetryableError, sqliteStore, task, type Task, type TaskContext } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, memoryLogger } from '../helpers.js';
import { assertSerialAcrossWorkers } from './serial-workers.js';
import { assertSerialPastTimeout } from './serial-past-timeout.js';
import { assertLongAttemptKept } from './long-attempt.js';

/** An app whose tasks are journaled in a real SQLite file, and its test client (which keeps that store). */
function onFile(t: TestContext, definitions: Task<never>[], options: { concurrency?: number; payloadLimit?: number } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-durable-peers-'));
  const file = path.join(dir, 'tasks.db');
  const app = createApp({ logger: memoryLogger().logger, tasks: { definitions, store: sqliteStore({ path: file }), ...options } });
  const client = createTestClient(app, { tasks: 'app' });
  t.after(async () => {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, client, file };
}

/** An app on the test client's in-memory store, whose clock `settle()` moves to each retry: backoffs are read off the stored attempts. */
function onTestClock(t: TestContext, definitions: Task<never>[]) {
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions } });
  const client = createTestClient(app);
  t.after(() => client.close());
  return { app, client, lines };
}

/** The waits between attempts, from each attempt's end to the next one's start, on the runner's clock. */
async function gaps(app: ReturnType<typeof createApp>, id: string): Promise<number[]> {
  // Between the kept errors (the entry counting those left out has no time of its own).
  const errors = (await app.tasks.get(id))!.errors.filter(({ omitted }) => omitted === undefined);
  return errors.slice(1).map((error, i) => error.startedAt! - errors[i]!.finishedAt);
}

describe('payloads, as BullMQ and graphile/worker test them', { timeout: 20_000 }, () => {
  test("BullMQ job.test 'JSON.stringify retains property types', 'should correctly handle zero passed as data': every JSON value comes back as it went in, from a real file", async (t) => {
    const seen: unknown[] = [];
    const echo = task('echo', (payload: unknown) => { seen.push(payload); });
    const { app, client } = onFile(t, [echo]);
    const payloads: unknown[] = [
      0, null, false, '', 'plain',
      { n: 1.5, negative: -3, big: Number.MAX_SAFE_INTEGER, tiny: 5e-324, list: [1, 'two', null, [true]], nested: { deeper: { deepest: {} } } },
      { text: 'héllo wörld 日本語 🎉 \u0000 \u2028 "quotes" \\ back' },
      // Lone surrogates: JSON.stringify escapes them, so they come back whole (UTF-8 in the file could not hold them raw).
      { lone: '\ud800', low: '\udc00x', pair: '\ud83d\ude00', mixed: 'a\udfffb\ud800' },
      // Keys JSON allows that an object literal would treat apart: '__proto__' as an own key, '', dotted, '$'.
      JSON.parse('{"__proto__": {"polluted": true}, "": "empty", "a.b": 1, "$": 2, "constructor": "c"}'),
    ];
    for (const payload of payloads) await app.tasks.enqueue(echo, payload as never);
    await client.settle();
    assert.deepEqual(seen, payloads);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype polluted by a payload');
  });

  test('-0 is taken and comes back 0, as JSON has it (refusing every computed -0 would be hostile)', async (t) => {
    const seen: unknown[] = [];
    const echo = task('echo', (payload: unknown) => { seen.push(payload); });
    const { app, client } = onTestClock(t, [echo]);
    await app.tasks.enqueue(echo, { zero: -0, list: [-0] } as never);
    await client.settle();
    assert.ok(Object.is((seen[0] as { zero: number }).zero, 0));
    assert.deepEqual(seen, [{ zero: 0, list: [0] }]);
  });

  test("BullMQ job.test 'should set default size limit ...' (BullMQ's sizeLimit is off unless set; Coda's payloadLimit is 1 MiB unless set): a 5 MB payload is refused by default, naming its size; with the limit raised, it is journaled, read back and run whole", async (t) => {
    let received = '';
    const big = task('big', (payload: { blob: string }) => { received = payload.blob; });
    const blob = '😀 data '.repeat(5 * 1024 * 1024 / 10);
    const byDefault = onFile(t, [big]);
    await assert.rejects(byDefault.app.tasks.enqueue(big, { blob }), /the payload of durable task 'big' is at least 4194315 bytes of JSON, over the limit of 1048576/);
    assert.equal((await byDefault.app.tasks.stats()).ready, 0);
    const { app, client } = onFile(t, [big], { payloadLimit: 8 * 1024 * 1024 });
    const { id } = await app.tasks.enqueue(big, { blob });
    assert.equal((await app.tasks.get(id))?.payload, JSON.stringify({ blob }));
    await client.settle();
    assert.equal(received, blob);
  });

  test('payloads that do not survive JSON are refused at enqueue, naming the task and the path (BullMQ would store them broken)', async (t) => {
    const welcome = task('welcome', () => {});
    const { app } = onTestClock(t, [welcome]);
    const circular: Record<string, unknown> = { a: [] };
    (circular.a as unknown[]).push(circular);
    const refused: [unknown, RegExp][] = [
      [undefined, /undefined at \$$/],
      [{ list: [1, undefined] }, /undefined \(it would become null\) at \$\.list\[1\]/],
      // A sparse array's hole reads back as null, as undefined would.
      [{ list: [1, , 3] }, /at \$\.list\[1\]/],
      [{ n: 10n }, /bigint 10 at \$\.n/],
      [circular, /a cycle at \$\.a\[0\]/],
      [{ f() {} }, /a function \(f\) at \$\.f/],
      [{ s: Symbol('x') }, /Symbol\(x\) at \$\.s/],
      [{ at: new Date(0) }, /an instance of Date \(it would lose its type\) at \$\.at/],
      [{ m: new Map([[1, 2]]) }, /an instance of Map/],
      [{ nan: NaN }, /the number NaN at \$\.nan/],
      [{ inf: [-Infinity] }, /the number -Infinity at \$\.inf\[0\]/],
      [new (class Point { x = 1; })(), /an instance of Point/],
      // JSON keeps an array's items only: a named property would be dropped silently.
      [{ list: Object.assign([1, 2], { total: 2 }) }, /a named property of an array \(JSON keeps its items only\) at \$\.list\.total/],
      [Object.assign([], { note: 'x' }), /a named property of an array .* at \$\.note/],
    ];
    for (const [payload, message] of refused) {
      await assert.rejects(app.tasks.enqueue(welcome, payload as never), (error: Error) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, /^app\.tasks\.enqueue\(\): the payload of task 'welcome' does not survive JSON: /);
        assert.match(error.message, message);
        return true;
      });
    }
    assert.equal((await app.tasks.stats()).ready, 0, 'nothing journaled');
  });

  test('a payload nested deeper than JSON should carry is refused with a message naming the task and the depth, not a stack overflow; a deep but sane one runs', async (t) => {
    let depthSeen = 0;
    const nested = task('nested', (payload: unknown) => {
      for (let at = payload; Array.isArray(at); at = at[0]) depthSeen++;
    });
    const { app, client } = onTestClock(t, [nested]);
    const deep = (depth: number) => {
      let value: unknown = 'bottom';
      for (let i = 0; i < depth; i++) value = [value];
      return value;
    };
    await app.tasks.enqueue(nested, deep(100) as never);
    await client.settle();
    assert.equal(depthSeen, 100);
    for (const depth of [2_000, 100_000]) {
      await assert.rejects(app.tasks.enqueue(nested, deep(depth) as never), /app\.tasks\.enqueue\(\): the payload of task 'nested' does not survive JSON: nested more than \d+ levels deep at \$\[0\]/);
    }
  });
});

describe('task names and keys with odd characters', { timeout: 20_000 }, () => {
  test("graphile/worker addJob 'supports the jobKey API', BullMQ deduplication 'emits deduplicated event': any key is kept verbatim and matched exactly", async (t) => {
    const name = 'billing.v2:send@eu/welcome-1_x';
    const ran: string[] = [];
    const odd = task(name, (payload: { k: string }) => { ran.push(payload.k); });
    const long = task('x'.repeat(200), () => {});
    const { app, client } = onFile(t, [odd, long]);
    const keys = [
      "it's \"quoted\"; DROP TABLE coda_tasks; --", '100%', 'a_c', 'abc', 'line\nbreak', 'tab\there', ' ', '日本語🎉', 'k'.repeat(500), 'de:colons:like:bullmq',
    ];
    const first = [];
    for (const k of keys) first.push(await app.tasks.enqueue(odd, { k }, { key: k, delayMs: 1_000 }));
    assert.ok(first.every(({ duplicate }) => !duplicate), 'no key matched another (no LIKE wildcard, no trimming)');
    for (const [i, k] of keys.entries()) {
      const again = await app.tasks.enqueue(odd, { k }, { key: k });
      assert.deepEqual(again, { id: first[i]!.id, duplicate: true }, JSON.stringify(k));
      assert.equal((await app.tasks.get(first[i]!.id))?.key, k);
    }
    assert.equal((await app.tasks.enqueue(long, {})).duplicate, false, 'a 200-character name is a name');
    assert.equal((await app.tasks.list({ name })).length, keys.length);
    await app.tasks.enqueue(odd, { k: 'now' });
    await client.settle();
    assert.ok(ran.includes('now'));
  });

  test('a key that is not well-formed Unicode (a lone surrogate) is refused naming the key: stored as UTF-8 it would become U+FFFD and collide with every other such key', async (t) => {
    const welcome = task('welcome', () => {});
    const { app } = onFile(t, [welcome]);
    await assert.rejects(app.tasks.enqueue(welcome, {}, { key: 'user:\ud800' }), /app\.tasks\.enqueue\(\): key must be well-formed Unicode \(no lone surrogate\), got string "user:\\ud800"/);
    const { duplicate } = await app.tasks.enqueue(welcome, {}, { key: 'user:\ufffd' });
    assert.equal(duplicate, false);
  });

  test("BullMQ job.test 'when deduplication id option is provided as empty string: throws'; a key over 500 characters (told by its length), or not a string, is refused naming the option", async (t) => {
    const welcome = task('welcome', () => {});
    const { app } = onTestClock(t, [welcome]);
    for (const key of ['', 'k'.repeat(501), 42, null]) {
      await assert.rejects(app.tasks.enqueue(welcome, {}, { key: key as never }), /app\.tasks\.enqueue\(\): key must be a string of 1 to 500 characters/);
    }
    // Told by its length, not echoed: a megabyte's key made a megabyte's error.
    await assert.rejects(app.tasks.enqueue(welcome, {}, { key: 'k'.repeat(1_000_000) }), { message: 'app.tasks.enqueue(): key must be a string of 1 to 500 characters, got a string of 1000000 characters' });
  });
});

describe('keys: one pending task per key, free again once it ended', { timeout: 20_000 }, () => {
  test("graphile/worker 'schedules a new job if existing is completed', BullMQ deduplication 'waits until job is finished before removing deduplication key', Laravel ShouldBeUnique: the key is free once the task completed or failed", async (t) => {
    const ran: string[] = [];
    const job = task('job', (payload: { a: string }) => {
      ran.push(payload.a);
      if (payload.a === 'fails') throw new NonRetryableError('no');
    });
    const { app, client } = onFile(t, [job]);
    const first = await app.tasks.enqueue(job, { a: 'first' }, { key: 'abc' });
    await client.settle();
    const second = await app.tasks.enqueue(job, { a: 'second' }, { key: 'abc' });
    assert.equal(second.duplicate, false);
    assert.notEqual(second.id, first.id);
    await client.settle();
    const failing = await app.tasks.enqueue(job, { a: 'fails' }, { key: 'abc' });
    await client.settle();
    assert.equal((await app.tasks.get(failing.id))?.state, 'failed');
    const third = await app.tasks.enqueue(job, { a: 'third' }, { key: 'abc' });
    assert.equal(third.duplicate, false, 'a failed task does not keep its key');
    await client.settle();
    assert.deepEqual(ran, ['first', 'second', 'fails', 'third']);
    // The failed task cannot be retried while another pending task has its key.
    const pending = await app.tasks.enqueue(job, { a: 'pending' }, { key: 'abc', delayMs: 60_000 });
    assert.equal(await app.tasks.retry(failing.id), false);
    assert.equal(await app.tasks.discard(pending.id), true);
    assert.equal(await app.tasks.retry(failing.id), true);
  });

  test("graphile/worker 'schedules a new job if existing is being processed' and '... pending retry' replace it; Coda, as BullMQ's deduplication, keeps the running or retrying task and says duplicate", async (t) => {
    const started = deferred();
    const finish = deferred();
    let calls = 0;
    const job = task('job', async () => {
      calls++;
      if (calls === 1) {
        started.resolve();
        await finish.promise;
        throw new Error('first attempt fails');
      }
    }, { backoff: { type: 'fixed', delayMs: 60_000 } });
    const { app, client } = onFile(t, [job]);
    const first = await app.tasks.enqueue(job, { a: 'first' }, { key: 'abc' });
    await started.promise;
    assert.deepEqual(await app.tasks.enqueue(job, { a: 'second' }, { key: 'abc' }), { id: first.id, duplicate: true }, 'running');
    finish.resolve();
    await client.settle();
    assert.equal((await app.tasks.get(first.id))?.state, 'ready', 'waiting for its retry');
    assert.deepEqual(await app.tasks.enqueue(job, { a: 'third' }, { key: 'abc' }), { id: first.id, duplicate: true }, 'pending retry');
    assert.equal((await app.tasks.get(first.id))?.payload, '{"a":"first"}', 'not replaced');
  });
});

describe('retry() and discard(), as graphile/worker, BullMQ and Laravel operate them', { timeout: 20_000 }, () => {
  test("graphile/worker 'pending jobs can be removed', 'jobs in progress cannot be removed'; Laravel queue:forget: discard() removes a pending or failed task, never a running one", async (t) => {
    const started = deferred();
    const finish = deferred();
    const ran: string[] = [];
    const job = task('job', async (payload: { a: string }) => {
      ran.push(payload.a);
      if (payload.a === 'slow') {
        started.resolve();
        await finish.promise;
      }
      if (payload.a === 'broken') throw new NonRetryableError('broken');
    });
    const { app, client } = onFile(t, [job]);
    const later = await app.tasks.enqueue(job, { a: 'later' }, { delayMs: 60_000 });
    assert.equal(await app.tasks.discard(later.id), true);
    assert.equal(await app.tasks.get(later.id), null);

    const slow = await app.tasks.enqueue(job, { a: 'slow' });
    await started.promise;
    assert.equal(await app.tasks.discard(slow.id), false, 'running');
    assert.equal((await app.tasks.get(slow.id))?.state, 'running');
    finish.resolve();
    await client.settle();
    assert.equal((await app.tasks.get(slow.id))?.state, 'completed', 'ran to its end, once');

    const broken = await app.tasks.enqueue(job, { a: 'broken' });
    await client.settle();
    assert.equal(await app.tasks.discard(broken.id), true, 'a failed task is forgotten');
    assert.equal(await app.tasks.discard(broken.id), false, 'twice: nothing left');
    assert.equal(await app.tasks.discard('0190f0f0-0000-7000-8000-000000000000'), false, 'unknown id');
    assert.deepEqual(ran, ['slow', 'broken']);
  });

  test("BullMQ worker.test 'retries a job that fails' (and 'retries a job that completes', which Coda refuses); Laravel queue:retry: only a failed task is retried, its attempts counted afresh, its errors kept", async (t) => {
    const started = deferred();
    const finish = deferred();
    let broken = true;
    const attempts: number[] = [];
    const job = task('job', async (payload: { slow?: boolean }, ctx: TaskContext) => {
      if (payload.slow) {
        started.resolve();
        await finish.promise;
        return;
      }
      attempts.push(ctx.attempt);
      if (broken) throw new Error(`attempt ${ctx.attempt} broke`);
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
    const { app, client } = onFile(t, [job]);
    const delayed = await app.tasks.enqueue(job, {}, { delayMs: 60_000 });
    assert.equal(await app.tasks.retry(delayed.id), false, 'ready, not failed');
    const slow = await app.tasks.enqueue(job, { slow: true });
    await started.promise;
    assert.equal(await app.tasks.retry(slow.id), false, 'running');
    finish.resolve();
    await client.settle();
    assert.equal(await app.tasks.retry(slow.id), false, 'completed');
    assert.equal(await app.tasks.retry('no-such-task'), false, 'unknown id');
    assert.equal(await app.tasks.discard(delayed.id), true);

    const failing = await app.tasks.enqueue(job, {});
    await client.settle();
    const failed = (await app.tasks.get(failing.id))!;
    assert.deepEqual([failed.state, failed.attempt], ['failed', 2]);
    broken = false;
    assert.equal(await app.tasks.retry(failing.id), true);
    await client.settle();
    const done = (await app.tasks.get(failing.id))!;
    assert.deepEqual([done.state, done.attempt], ['completed', 1], 'attempts counted afresh');
    assert.deepEqual(done.errors.map(({ attempt, message }) => [attempt, message]), [[1, 'Error: attempt 1 broke'], [2, 'Error: attempt 2 broke']]);
    assert.deepEqual(attempts, [1, 2, 1]);
  });

  test('an id that is not a string is refused by get(), retry() and discard() with a message naming it, not a database binding error', async (t) => {
    const job = task('job', () => {});
    const { app } = onFile(t, [job]);
    for (const id of [undefined, null, 42, {}]) {
      for (const operation of ['get', 'retry', 'discard'] as const) {
        await assert.rejects((app.tasks[operation] as (id: unknown) => Promise<unknown>)(id), (error: Error) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, new RegExp(`^app\\.tasks\\.${operation}\\(\\) takes a task id \\(a string\\), got `));
          return true;
        });
      }
    }
  });
});

/** The longest delay: 366 days. */
const YEAR = 366 * 24 * 60 * 60_000;

describe('delays, as graphile/worker schedules run_at and BullMQ delays jobs', { timeout: 20_000 }, () => {
  test("graphile/worker 'supports future-scheduled jobs': a delayed task waits (counted as delayed), then runs; delayMs 0 runs at once; the longest delay is accepted", async (t) => {
    const ran: number[] = [];
    const job = task('job', (payload: { n: number }) => { ran.push(payload.n); });
    const { app, client } = onFile(t, [job]);
    await app.tasks.enqueue(job, { n: 0 }, { delayMs: 0 });
    await app.tasks.enqueue(job, { n: 1 }, { delayMs: 3_000 });
    // A year: longer than any timer takes (2^31 - 1 ms, 24.8 days), kept as a time in the store.
    const { id } = await app.tasks.enqueue(job, { n: 2 }, { delayMs: YEAR });
    await client.settle();
    assert.deepEqual(ran, [0], 'only the task due now ran');
    const { runAt, createdAt } = (await app.tasks.get(id))!;
    assert.ok(runAt - createdAt >= YEAR - 1_000 && runAt - createdAt <= YEAR + 1_000, `runs a year on: ${runAt - createdAt} ms`);
    const stats = await app.tasks.stats();
    assert.deepEqual([stats.delayed, stats.completed], [2, 1]);
  });

  test('the test clock: settle() runs a delayed task by moving the clock to its time, not by sleeping', async (t) => {
    const ran: number[] = [];
    const job = task('job', (payload: { n: number }) => { ran.push(payload.n); });
    const { app, client } = onTestClock(t, [job]);
    await app.tasks.enqueue(job, { n: 2 }, { delayMs: YEAR });
    await app.tasks.enqueue(job, { n: 1 }, { delayMs: 3_000 });
    await client.settle();
    assert.deepEqual(ran, [1, 2], 'in the order of their times');
  });

  test('a negative, NaN, infinite, non-numeric or too long delayMs is refused naming the option', async (t) => {
    const job = task('job', () => {});
    const { app } = onTestClock(t, [job]);
    for (const delayMs of [-1, NaN, Infinity, YEAR + 1, '5', null]) {
      await assert.rejects(app.tasks.enqueue(job, {}, { delayMs: delayMs as never }), /app\.tasks\.enqueue\(\): delayMs must be zero or more milliseconds, at most 31622400000/);
    }
  });
});

describe('attempts and failures, as BullMQ and graphile/worker count them', { timeout: 30_000 }, () => {
  test("BullMQ worker.test 'when attempts is 1 and job fails: should execute job only once'; graphile/worker's last_error: the failed task keeps its payload and error", async (t) => {
    let calls = 0;
    const once = task('once', () => {
      calls++;
      throw new Error('failed');
    }, { attempts: 1 });
    const { app, client } = onTestClock(t, [once]);
    const { id } = await app.tasks.enqueue(once, { foo: 'bar' });
    await client.settle();
    assert.equal(calls, 1);
    const failed = (await app.tasks.get(id))!;
    assert.deepEqual([failed.state, failed.attempt, failed.maxAttempts, failed.payload], ['failed', 1, 1, '{"foo":"bar"}']);
    assert.equal(failed.errors[0]?.message, 'Error: failed');
    // BullMQ job.test 'saves error stacktrace'.
    assert.match(failed.errors[0]!.stack!, /^Error: failed\n\s+at /);
    assert.deepEqual(client.tasks.map(({ state }) => state), ['failed']);
  });

  test("BullMQ worker.test 'should not retry a failed job more than the number of given attempts times', 'should automatically retry a failed job if attempts is bigger than 1'", async (t) => {
    const runs: Record<string, number[]> = {};
    const job = task('job', (payload: { until: number; name: string }, ctx: TaskContext) => {
      (runs[payload.name] ??= []).push(ctx.attempt);
      if (ctx.attempt < payload.until) throw new Error(`Not yet! ${ctx.attempt}`);
    }, { attempts: 3, backoff: { type: 'fixed', delayMs: 1_000 } });
    const { app, client } = onTestClock(t, [job]);
    const never = await app.tasks.enqueue(job, { until: 99, name: 'never' });
    const second = await app.tasks.enqueue(job, { until: 2, name: 'second' });
    await client.settle();
    assert.deepEqual(runs, { never: [1, 2, 3], second: [1, 2] });
    const failed = (await app.tasks.get(never.id))!;
    assert.equal(failed.state, 'failed');
    assert.deepEqual(failed.errors.map(({ message }) => message), ['Error: Not yet! 1', 'Error: Not yet! 2', 'Error: Not yet! 3'], 'every attempt\'s error, the last one last');
    assert.equal((await app.tasks.get(second.id))?.state, 'completed');
  });

  test("BullMQ worker.test 'when UnrecoverableError is throw: moves job to failed' after an ordinary failure, and the backoff between them was waited", async (t) => {
    const job = task('job', (_payload: object, ctx: TaskContext) => {
      if (ctx.attempt < 2) throw new Error('Not yet!');
      throw new NonRetryableError('Unrecoverable');
    }, { attempts: 3, backoff: { type: 'fixed', delayMs: 1_000, jitter: 0 } });
    const { app, client } = onTestClock(t, [job]);
    const { id } = await app.tasks.enqueue(job, {});
    await client.settle();
    const failed = (await app.tasks.get(id))!;
    assert.deepEqual([failed.state, failed.attempt], ['failed', 2]);
    assert.deepEqual(failed.errors.map(({ message }) => message), ['Error: Not yet!', 'NonRetryableError: Unrecoverable']);
    assert.deepEqual(await gaps(app, id), [1_000]);
  });

  test("Celery Task.retry() (request.id kept, request.retries counted) and Reject: a retried task keeps its id and counts its attempts (ctx.attempt from 1); a subclass of NonRetryableError fails at once too; a task retried by hand counts afresh under the same id", async (t) => {
    class Rejected extends NonRetryableError {}
    const seen: [string, number, boolean][] = [];
    const job = task('job', (payload: { reject: boolean }, ctx: TaskContext) => {
      seen.push([ctx.id, ctx.attempt, ctx.signal.aborted]);
      if (payload.reject) throw new Rejected('rejected');
      if (ctx.attempt < 3) throw new Error(`try ${ctx.attempt}`);
    }, { attempts: 3, backoff: { type: 'fixed', delayMs: 1_000 } });
    const { app, client } = onTestClock(t, [job]);
    const retried = await app.tasks.enqueue(job, { reject: false });
    await client.settle();
    assert.deepEqual(seen, [[retried.id, 1, false], [retried.id, 2, false], [retried.id, 3, false]]);
    assert.equal((await app.tasks.get(retried.id))?.state, 'completed');
    seen.length = 0;
    const rejected = await app.tasks.enqueue(job, { reject: true });
    await client.settle();
    assert.deepEqual(seen, [[rejected.id, 1, false]]);
    const failed = (await app.tasks.get(rejected.id))!;
    assert.deepEqual([failed.state, failed.errors.map(({ message }) => message)], ['failed', ['NonRetryableError: rejected']]);
    seen.length = 0;
    assert.equal(await app.tasks.retry(rejected.id), true);
    await client.settle();
    assert.deepEqual(seen, [[rejected.id, 1, false]], 'counted afresh, the same id');
    assert.equal((await app.tasks.get(rejected.id))?.errors.length, 2, 'the earlier error kept');
  });

  test("a task that throws what is not an Error (BullMQ worker.test 'process a job that returns a rejected promise'): each is kept as the attempt's error, and the task fails by its policy", async (t) => {
    const thrown: Record<string, unknown> = {
      string: 'plain string', null: null, undefined, number: 7, symbol: Symbol('s'), object: { code: 42 }, 'null prototype': Object.create(null),
    };
    const job = task('job', (payload: { kind: string }) => {
      throw thrown[payload.kind];
    }, { attempts: 1 });
    const { app, client } = onTestClock(t, [job]);
    const ids: Record<string, string> = {};
    for (const kind of Object.keys(thrown)) ids[kind] = (await app.tasks.enqueue(job, { kind })).id;
    await client.settle();
    const messages: Record<string, string | undefined> = {};
    for (const [kind, id] of Object.entries(ids)) {
      const stored = (await app.tasks.get(id))!;
      assert.equal(stored.state, 'failed', kind);
      messages[kind] = stored.errors[0]?.message;
    }
    assert.deepEqual(messages, {
      string: 'plain string', null: 'Error: rejected with null', undefined: 'Error: rejected with undefined', number: '7',
      symbol: 'Symbol(s)', object: '{ code: 42 }', 'null prototype': '[Object: null prototype] {}',
    });
    assert.equal(client.tasks.filter(({ state }) => state === 'failed').length, 7);
  });

  test('a task that throws a value whose reading throws (a Proxy whose traps throw, an Error whose message getter throws, an object whose message getter throws, an Error with a throwing enumerable getter, an Error whose cause is such a Proxy, an AggregateError of one) fails by its policy, the attempt\'s error saying what could not be read; the failure was left unwritten, the task running until its lease ran out, then charged as stalled', async (t) => {
    const trap = (what: string) => () => {
      throw new Error(`trap ${what}`);
    };
    class Unreadable extends Error {
      override get message(): string {
        throw new Error('no message');
      }
    }
    const getterOnError = new Error('read me');
    Object.defineProperty(getterOnError, 'detail', { enumerable: true, get: trap('detail') });
    const thrown: Record<string, () => unknown> = {
      proxy: () => new Proxy({}, { get: trap('get'), getPrototypeOf: trap('getPrototypeOf'), ownKeys: trap('ownKeys') }),
      'proxy get': () => new Proxy({ a: 1 }, { get: trap('get') }),
      'message getter': () => new Unreadable(),
      'plain message getter': () => ({ get message() { throw new Error('no message'); } }),
      'enumerable getter': () => getterOnError,
      // pino's error serializer recurses into these.
      'hostile cause': () => new Error('outer', { cause: new Proxy({}, { get: trap('get'), getPrototypeOf: trap('getPrototypeOf'), ownKeys: trap('ownKeys') }) }),
      'hostile aggregated': () => new AggregateError([new Proxy({}, { get: trap('get') })], 'many'),
    };
    const job = task('job', (payload: { kind: string }) => {
      throw thrown[payload.kind]!();
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 1_000, jitter: 0 } });
    const { app, client, lines } = onTestClock(t, [job]);
    const ids: Record<string, string> = {};
    for (const kind of Object.keys(thrown)) ids[kind] = (await app.tasks.enqueue(job, { kind })).id;
    await client.settle();
    const messages: Record<string, string[]> = {};
    for (const [kind, id] of Object.entries(ids)) {
      const stored = (await app.tasks.get(id))!;
      assert.deepEqual([stored.state, stored.attempt], ['failed', 2], kind);
      messages[kind] = stored.errors.map(({ message }) => message);
    }
    const unread = (what: string, threw: string) => `Error: a value that could not be read was thrown (${what}; reading it threw Error: ${threw})`;
    assert.deepEqual(messages, {
      proxy: Array(2).fill(unread('a Proxy', 'trap getPrototypeOf')),
      'proxy get': Array(2).fill(unread('a Proxy', 'trap get')),
      'message getter': Array(2).fill(unread('an object', 'no message')),
      'plain message getter': Array(2).fill(unread('an object', 'no message')),
      'enumerable getter': Array(2).fill(unread('an object', 'trap detail')),
      'hostile cause': Array(2).fill(unread('an object', 'trap get')),
      'hostile aggregated': Array(2).fill(unread('an object', 'trap get')),
    });
    assert.equal(client.tasks.filter(({ state }) => state === 'failed').length, 7);
    assert.ok(!lines.some(({ msg }) => String(msg).includes('could not record the end')), 'every end recorded');
  });

  test('a task that never settles is ended by its timeout: with attempts 1 it fails with a TimeoutError, its signal aborted', async (t) => {
    let signal: AbortSignal | undefined;
    const hangs = task('hangs', (_payload: object, ctx: TaskContext) => {
      signal = ctx.signal;
      return new Promise<void>(() => {});
    }, { attempts: 1, timeoutMs: 20 });
    const { app, client } = onTestClock(t, [hangs]);
    const { id } = await app.tasks.enqueue(hangs, {});
    await client.settle();
    const failed = (await app.tasks.get(id))!;
    assert.equal(failed.state, 'failed');
    assert.match(failed.errors[0]!.message, /^TaskTimeoutError: task hangs timed out after 20 ms/);
    assert.equal(signal?.aborted, true);
  });
});

describe('backoff, as BullMQ and graphile/worker compute it', { timeout: 60_000 }, () => {
  const failing = (name: string, options: ConstructorParameters<typeof Task>[2]) => task(name, () => { throw new Error('again'); }, options);

  test("BullMQ worker.test 'Retries and backoffs': fixed waits its delay each time; exponential doubles from its delay", async (t) => {
    const fixed = failing('fixed', { attempts: 4, backoff: { type: 'fixed', delayMs: 1_000, jitter: 0 } });
    const exponential = failing('exponential', { attempts: 5, backoff: { type: 'exponential', delayMs: 1_000, jitter: 0 } });
    const { app, client } = onTestClock(t, [fixed, exponential]);
    const a = await app.tasks.enqueue(fixed, {});
    const b = await app.tasks.enqueue(exponential, {});
    await client.settle();
    assert.deepEqual(await gaps(app, a.id), [1_000, 1_000, 1_000]);
    assert.deepEqual(await gaps(app, b.id), [1_000, 2_000, 4_000, 8_000]);
  });

  test('exponential backoff at its cap: maxDelayMs bounds every later wait (graphile/worker caps its exp() backoff the same way)', async (t) => {
    const capped = failing('capped', { attempts: 6, backoff: { type: 'exponential', delayMs: 1_000, maxDelayMs: 3_000, jitter: 0 } });
    const { app, client } = onTestClock(t, [capped]);
    const { id } = await app.tasks.enqueue(capped, {});
    await client.settle();
    assert.deepEqual(await gaps(app, id), [1_000, 2_000, 3_000, 3_000, 3_000]);
  });

  test("BullMQ worker.test 'when jitter option is provided': each wait is drawn within [delay x (1 - jitter), delay]; the default is exponential from 1 s with 20% jitter", async (t) => {
    const full = failing('full', { attempts: 6, backoff: { type: 'fixed', delayMs: 1_000, jitter: 1 } });
    const half = failing('half', { attempts: 6, backoff: { type: 'exponential', delayMs: 1_000, jitter: 0.5 } });
    const plain = failing('plain', { attempts: 4 });
    const { app, client } = onTestClock(t, [full, half, plain]);
    const ids = await Promise.all([full, half, plain].map(async (definition) => (await app.tasks.enqueue(definition as Task<object>, {})).id));
    await client.settle();
    const [fullGaps, halfGaps, plainGaps] = await Promise.all(ids.map((id) => gaps(app, id)));
    for (const gap of fullGaps!) assert.ok(gap >= 0 && gap <= 1_000, `full jitter: ${gap}`);
    halfGaps!.forEach((gap, i) => assert.ok(gap >= 500 * 2 ** i && gap <= 1_000 * 2 ** i, `half jitter, retry ${i + 1}: ${gap}`));
    plainGaps!.forEach((gap, i) => assert.ok(gap >= 800 * 2 ** i && gap <= 1_000 * 2 ** i, `default, retry ${i + 1}: ${gap}`));
  });

  test('exponential backoff from 0 ms far past 1,024 attempts (where 2^n overflows to Infinity, and 0 x Infinity is NaN) still retries at once, then fails', async (t) => {
    let calls = 0;
    const many = task('many', () => {
      calls++;
      throw 'again';
    }, { attempts: 1_100, backoff: { type: 'exponential', delayMs: 0 } });
    const { app, client } = onTestClock(t, [many]);
    const { id } = await app.tasks.enqueue(many, {});
    await client.settle();
    const failed = (await app.tasks.get(id))!;
    // The errors of the first 5 and the last 20 attempts are kept, one entry counting the 1,075 between.
    assert.deepEqual([calls, failed.state, failed.attempt, failed.errors.length, failed.errors[5]?.omitted], [1_100, 'failed', 1_100, 26, 1_075]);
    assert.ok((await gaps(app, id)).every((gap) => gap === 0));
  });
});

describe('a dead process\'s running task, as BullMQ\'s stalled jobs and graphile/worker\'s crashed workers are recovered', { timeout: 20_000 }, () => {
  /** A running task claimed by a process that is gone (its lease over), written to `file` as that process would have left it. */
  async function leftRunning(file: string, name: string, maxAttempts: number): Promise<string> {
    const store = sqliteStore({ path: file });
    await store.open();
    const [added] = await store.add([{
      id: '0190f0f0-0000-7000-8000-000000000001', name, payload: '{"n":1}', key: null, when: 'always', maxAttempts,
      backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1_000, held: false, runAt: 0, request: null, trace: null,
    }], 'dead-process', 0);
    await store.claim({ owner: 'dead-process', names: [name], concurrency: {}, limit: 1, now: 0, leaseUntil: 1 });
    await store.close();
    return added!.id;
  }

  test("BullMQ stalled_jobs 'process stalled jobs when starting a queue', graphile/worker resetLockedAt: the next start runs it again, the stall counted as an attempt (unlike BullMQ's stalled check, bullmq #651)", async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'coda-durable-peers-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'tasks.db');
    const id = await leftRunning(file, 'job', 3);
    const attempts: number[] = [];
    const job = task('job', (_payload: object, ctx: TaskContext) => { attempts.push(ctx.attempt); });
    const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [job], store: sqliteStore({ path: file }) } });
    const ran = deferred();
    app.tasks.observe(({ state }) => { if (state === 'completed') ran.resolve(); });
    await app.tasks.open();
    t.after(() => app.tasks.close(performance.now() + 1_000));
    await ran.promise;
    await app.settle();
    assert.deepEqual(attempts, [2]);
    const done = (await app.tasks.get(id))!;
    assert.equal(done.state, 'completed');
    assert.match(done.errors[0]!.message, /^stalled: /);
  });

  test("BullMQ stalled_jobs 'when stalled jobs stall more than allowable stalled limit: moves jobs to failed': a stall on the last attempt fails the task, unrun", async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'coda-durable-peers-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'tasks.db');
    const id = await leftRunning(file, 'job', 1);
    const job = task('job', () => assert.fail('a stall on its only attempt must not run it again'));
    const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [job], store: sqliteStore({ path: file }) } });
    await app.tasks.open();
    t.after(() => app.tasks.close(performance.now() + 1_000));
    // Recovery runs at start; the store answers in turn, so a read after open() waits for it to a bounded number of reads.
    let stored = await app.tasks.get(id);
    for (let i = 0; i < 100 && stored?.state !== 'failed'; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      stored = await app.tasks.get(id);
    }
    assert.equal(stored?.state, 'failed');
    assert.deepEqual(stored.errors.map(({ attempt, message }) => [attempt, message.startsWith('stalled: ')]), [[1, true]]);
  });
});

describe('concurrency, as graphile/worker and BullMQ bound it', { timeout: 20_000 }, () => {
  test("BullMQ worker.test 'should run job in sequence if I specify a concurrency of 1', graphile/worker 'runs jobs in parallel': a task's concurrency bounds its own attempts, the app's bounds them all", async (t) => {
    const running: Record<string, number> = { serial: 0, parallel: 0 };
    const peak: Record<string, number> = { serial: 0, parallel: 0, all: 0 };
    let gate = deferred();
    let openAt = 0;
    const work = (name: string) => async () => {
      running[name]!++;
      peak[name] = Math.max(peak[name]!, running[name]!);
      peak.all = Math.max(peak.all!, running.serial! + running.parallel!);
      if (running.serial! + running.parallel! === openAt) gate.resolve();
      await gate.promise;
      running[name]!--;
    };
    const serial = task('serial', work('serial'), { concurrency: 1 });
    const parallel = task('parallel', work('parallel'));
    const { app, client } = onFile(t, [serial, parallel], { concurrency: 3 });
    // Two of each: the app has room for three, yet the second 'serial' waits while the first runs beside both 'parallel' ones.
    openAt = 3;
    for (const definition of [serial, serial, parallel, parallel]) await app.tasks.enqueue(definition as Task<object>, {});
    await client.settle();
    assert.deepEqual(peak, { serial: 1, parallel: 2, all: 3 });
    // Six with no limit of their own: three at a time, the app's concurrency.
    gate = deferred();
    peak.all = 0;
    for (let i = 0; i < 6; i++) await app.tasks.enqueue(parallel, {});
    await client.settle();
    assert.equal(peak.all, 3);
    assert.equal((await app.tasks.stats()).completed, 10);
  });
  test("graphile/worker 'jobs added to the same queue will be ran serially (even if multiple workers)': a task of concurrency 1 run by three workers on one file starts one attempt at a time, in the order enqueued, each once", async (t) => {
    const { file } = onFile(t, []);
    await assertSerialAcrossWorkers(t, () => sqliteStore({ path: file }));
  });
  test("graphile/worker's serial queue, BullMQ's concurrency of 1, past a timeout: an attempt that ignores ctx.signal after its timeout still holds its name's one slot; neither its retry nor the next task of its name starts beside it (both did, at once)", async (t) => {
    const { file } = onFile(t, []);
    await assertSerialPastTimeout(t, () => sqliteStore({ path: file }));
  });
  test("BullMQ 'should renew lock for long-running jobs', graphile/worker's locked_at: an attempt lasting five leases, beside a second worker recovering every half lease on one SQLite file, runs once as attempt 1, completed with no stall charged", { timeout: 30_000 }, async (t) => {
    const { file } = onFile(t, []);
    await assertLongAttemptKept(t, () => sqliteStore({ path: file }));
  });
});
