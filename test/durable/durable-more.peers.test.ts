// More durable-task cases ported from peers' own suites, on a real SQLite file
// in a temp folder: graphile/worker (__tests__/main.runTaskListOnce.test.ts,
// workerUtils.addJob.test.ts) and Laravel (tests/Queue, tests/Integration/Queue:
// failed() hooks, tries, jobs that return or fail oddly). What durable.peers.test.ts
// covers is not repeated here. Where Coda differs on purpose, docs/durable.md
// ("What peers have that Coda does not") says why.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createApp, NonRetryableError, runWorker, sqliteStore, task, type Task, type TaskContext } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, memoryLogger } from '../helpers.js';

/** A temp folder's SQLite file, removed after the test. */
function tempFile(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-durable-more-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'tasks.db');
}

/** An app whose tasks are journaled in a real SQLite file, and its test client (which keeps that store). */
function onFile(t: TestContext, definitions: Task<never>[]) {
  const app = createApp({ logger: memoryLogger().logger, tasks: { definitions, store: sqliteStore({ path: tempFile(t) }) } });
  const client = createTestClient(app, { tasks: 'app' });
  t.after(() => client.close());
  return { app, client };
}

/** A task of `concurrency: 1` recording the order it ran its payloads in; `all` resolves once `count` ran. */
function serialTask(count: number) {
  const order: number[] = [];
  const all = deferred();
  const definition = task('serial', (payload: { n: number }) => {
    order.push(payload.n);
    if (order.length === count) all.resolve();
  }, { concurrency: 1 });
  return { definition, order, all: all.promise };
}

describe('a serial queue drains without waiting for a poll, as graphile/worker runs jobs in series', { timeout: 30_000 }, () => {
  const count = 10;
  const enqueued = Array.from({ length: count }, (_, n) => n);

  test("graphile/worker 'single worker runs jobs in series, purges all before exit': settle() runs every task of a concurrency-1 name, in order (it returned with 4 of 10 still ready)", async (t) => {
    const { definition, order } = serialTask(count);
    const { app, client } = onFile(t, [definition]);
    for (const n of enqueued) await app.tasks.enqueue(definition, { n });
    await client.settle();
    assert.deepEqual(order, enqueued);
    assert.equal((await app.tasks.stats()).completed, count);
  });

  test("graphile/worker 'runs jobs in series' with its poll far off: a web process runs the next task of a concurrency-1 name as each completes (it claimed before the completion was written, found the name at its cap, and left the rest for the next poll)", async (t) => {
    const { definition, order, all } = serialTask(count);
    const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [definition], store: sqliteStore({ path: tempFile(t) }), pollMs: 3_600_000 } });
    await app.tasks.open();
    t.after(() => app.tasks.close(performance.now() + 1_000));
    for (const n of enqueued) await app.tasks.enqueue(definition, { n });
    await all;
    assert.deepEqual(order, enqueued);
  });

  test("graphile/worker 'runs jobs in series' on a worker (runWorker()) with its poll far off: each completion claims the next task of the concurrency-1 name", async (t) => {
    const { definition, order, all } = serialTask(count);
    const file = tempFile(t);
    const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [definition], store: sqliteStore({ path: file }), run: false } });
    for (const n of enqueued) await app.tasks.enqueue(definition, { n });
    const worker = await runWorker({ definitions: [definition], store: sqliteStore({ path: file }), pollMs: 3_600_000, logger: memoryLogger().logger, handleSignals: false });
    t.after(() => worker.close({ timeoutMs: 1_000 }));
    await all;
    assert.deepEqual(order, enqueued);
  });
});

describe('payloads and what a task returns, as graphile/worker and Laravel treat them', { timeout: 30_000 }, () => {
  test("graphile/worker's payload is the row's (a job cannot change its own): an attempt that mutates its payload, and a caller that mutates the object it enqueued, change nothing the retry sees", async (t) => {
    const seen: unknown[] = [];
    const job = task('job', (payload: { list: number[]; added?: boolean }, ctx: TaskContext) => {
      seen.push(structuredClone(payload));
      payload.list.push(ctx.attempt);
      payload.added = true;
      if (ctx.attempt === 1) throw new Error('again');
    }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
    const { app, client } = onFile(t, [job]);
    const payload = { list: [1] };
    const { id } = await app.tasks.enqueue(job, payload);
    payload.list.push(99);
    await client.settle();
    assert.deepEqual(seen, [{ list: [1] }, { list: [1] }]);
    assert.equal((await app.tasks.get(id))?.payload, '{"list":[1]}');
  });

  test("graphile/worker, a task that returns a non-promise; Laravel's handle() returning anything: the value is ignored and the task completes; a thenable is awaited, its rejection (undefined included) or a then() that throws failing it", async (t) => {
    const returned: Record<string, () => unknown> = {
      number: () => 42,
      string: () => 'done',
      object: () => ({ ok: false }),
      null: () => null,
      'thenable resolving': () => ({ then: (resolve: (value: unknown) => void) => resolve('x') }),
      'thenable resolving then rejecting': () => ({
        then: (resolve: (value: unknown) => void, reject: (reason: unknown) => void) => {
          resolve('x');
          reject(new Error('too late'));
        },
      }),
      'thenable rejecting with undefined': () => ({ then: (_resolve: unknown, reject: (reason: unknown) => void) => reject(undefined) }),
      'then() that throws': () => ({ then: () => { throw new Error('then threw'); } }),
      'promise rejecting with undefined': () => Promise.reject(undefined),
    };
    const job = task('job', ((payload: { kind: string }) => returned[payload.kind]!()) as (payload: { kind: string }) => void, { attempts: 1 });
    const { app, client } = onFile(t, [job]);
    const ids: Record<string, string> = {};
    for (const kind of Object.keys(returned)) ids[kind] = (await app.tasks.enqueue(job, { kind })).id;
    await client.settle();
    const ends: Record<string, [string, string[]]> = {};
    for (const [kind, id] of Object.entries(ids)) {
      const stored = (await app.tasks.get(id))!;
      ends[kind] = [stored.state, stored.errors.map(({ message }) => message)];
    }
    assert.deepEqual(ends, {
      number: ['completed', []],
      string: ['completed', []],
      object: ['completed', []],
      null: ['completed', []],
      'thenable resolving': ['completed', []],
      'thenable resolving then rejecting': ['completed', []],
      'thenable rejecting with undefined': ['failed', ['Error: rejected with undefined']],
      'then() that throws': ['failed', ['Error: then threw']],
      'promise rejecting with undefined': ['failed', ['Error: rejected with undefined']],
    });
  });
});

describe('attempts and failure hooks, as graphile/worker counts max_attempts and Laravel calls failed()', { timeout: 30_000 }, () => {
  test("graphile/worker 'schedules errors for retry': after a failed attempt the task is ready again, its attempt counted, its run time the failure's plus the backoff, its error kept", async (t) => {
    const failed = deferred();
    const job = task('job', () => {
      throw new Error('fail');
    }, { attempts: 3, backoff: { type: 'fixed', delayMs: 60_000, jitter: 0 } });
    const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [job], store: sqliteStore({ path: tempFile(t) }) } });
    app.tasks.observe(({ state }) => { if (state === 'retrying') failed.resolve(); });
    await app.tasks.open();
    t.after(() => app.tasks.close(performance.now() + 1_000));
    const { id } = await app.tasks.enqueue(job, { a: 1 });
    await failed.promise;
    const stored = (await app.tasks.get(id))!;
    assert.deepEqual([stored.state, stored.attempt, stored.maxAttempts, stored.owner], ['ready', 1, 3, null]);
    assert.equal(stored.runAt, stored.errors[0]!.finishedAt + 60_000);
    assert.deepEqual(stored.errors.map(({ attempt, message }) => [attempt, message]), [[1, 'Error: fail']]);
    assert.deepEqual([(await app.tasks.stats()).delayed, (await app.tasks.stats()).failed], [1, 0]);
  });

  test("Laravel's failed() hook, called once when a job fails for good: tasks.observe() is told 'retrying' for each earlier attempt and 'failed' once, with the last error; a NonRetryableError is told 'failed' at its first attempt", async (t) => {
    const job = task('job', (payload: { final: boolean }, ctx: TaskContext) => {
      if (payload.final) throw new NonRetryableError('gone');
      throw new Error(`attempt ${ctx.attempt}`);
    }, { attempts: 3, backoff: { type: 'fixed', delayMs: 0 } });
    const { app, client } = onFile(t, [job]);
    const told: string[] = [];
    app.tasks.observe(({ state, attempt, error }) => {
      told.push(`${state} ${attempt} ${(error as Error).message}`);
    });
    await app.tasks.enqueue(job, { final: false });
    await client.settle();
    assert.deepEqual(told, ['retrying 1 attempt 1', 'retrying 2 attempt 2', 'failed 3 attempt 3']);
    told.length = 0;
    await app.tasks.enqueue(job, { final: true });
    await client.settle();
    assert.deepEqual(told, ['failed 1 gone']);
  });

  test("graphile/worker max_attempts edge cases: attempts 1 runs once; a huge count (Number.MAX_SAFE_INTEGER) is kept whole and ends at a NonRetryableError; 0, negative, fractional, infinite or past a safe integer is refused naming the option", async (t) => {
    const calls: Record<string, number> = { once: 0, huge: 0 };
    const once = task('once', () => {
      calls.once!++;
      throw new Error('no');
    }, { attempts: 1 });
    const huge = task('huge', (_payload: object, ctx: TaskContext) => {
      calls.huge!++;
      if (ctx.attempt < 5) throw new Error('again');
      throw new NonRetryableError('enough');
    }, { attempts: Number.MAX_SAFE_INTEGER, backoff: { type: 'fixed', delayMs: 0 } });
    const { app, client } = onFile(t, [once, huge]);
    const a = await app.tasks.enqueue(once, {});
    const b = await app.tasks.enqueue(huge, {});
    await client.settle();
    assert.deepEqual(calls, { once: 1, huge: 5 });
    const stored = (await app.tasks.get(b.id))!;
    assert.deepEqual([stored.state, stored.attempt, stored.maxAttempts], ['failed', 5, Number.MAX_SAFE_INTEGER]);
    assert.equal((await app.tasks.get(a.id))?.state, 'failed');
    for (const attempts of [0, -1, 1.5, Infinity, NaN, 2 ** 53]) {
      assert.throws(() => task('x', () => {}, { attempts }), { name: 'RangeError', message: /^task\('x'\): attempts must be a whole number of at least 1, got number / });
    }
  });
});

describe('task names, as graphile/worker takes any text and Coda a safe alphabet', () => {
  test("graphile/worker's task identifiers with odd characters: a name with a space, a newline, a non-ASCII letter or past 200 characters is refused at task(), naming it; dots, colons, slashes and @ are taken", () => {
    for (const name of ['send welcome', 'a\nb', 'émail', '日本', 'x'.repeat(201)]) {
      assert.throws(() => task(name, () => {}), { name: 'TypeError', message: /^task\(\): the name must be 1 to 200 letters, digits or _ \. : @ \/ -, got string / });
    }
    assert.equal(task('mail/v2:send@eu.welcome-1', () => {}).name, 'mail/v2:send@eu.welcome-1');
  });
});
