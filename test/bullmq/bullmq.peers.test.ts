// Durable-task cases ported from BullMQ's own suite (tests/job.test.ts,
// worker.test.ts, deduplication.test.ts) and graphile/worker's
// (__tests__/main.runTaskListOnce.test.ts), run on the BullMQ store against a
// real redis-server: the cases of test/durable/durable.peers.test.ts where
// the store matters (what Redis keeps of a payload, a key, an error). Each
// test names its source. Backoffs here are 0 ms: BullMQ times them by the
// clock of its clients, which no test clock moves.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { createApp, NonRetryableError, task, type Task, type TaskContext } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { createTestClient } from 'coda-http/testing';
import { deferred, LEVEL, memoryLogger } from '../helpers.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();
let prefixes = 0;

/** An app on the BullMQ store, a prefix of its own, served by a test client: its tasks run in this process. */
function onRedis(t: TestContext, definitions: Task<never>[]) {
  const store = bullmqStore({ connection: { port: server().port }, prefix: `peers-${++prefixes}` });
  const app = createApp({ logger: memoryLogger().logger, tasks: { definitions, store } });
  const client = createTestClient(app, { tasks: 'app' });
  t.after(() => client.close());
  return { app, settled: () => app.settle() };
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

  test("BullMQ 'should process delayed jobs in correct order': tasks enqueued out of order with delays run by their times, one at a time, each completion recorded with the next job of the line still delayed (nothing logged)", async (t) => {
    const ran: number[] = [];
    const all = deferred();
    const job = task('job', (payload: { n: number }) => {
      ran.push(payload.n);
      if (ran.length === 5) all.resolve();
    });
    const { logger, lines } = memoryLogger();
    const store = bullmqStore({ connection: { port: server().port }, prefix: `peers-${++prefixes}` });
    const app = createApp({ logger, tasks: { definitions: [job], store, concurrency: 1, pollMs: 50 } });
    await app.tasks.open();
    t.after(() => app.tasks.close(performance.now() + 1_000));
    for (const n of [3, 1, 5, 2, 4]) await app.tasks.enqueue(job, { n }, { delayMs: n * 150 });
    await all.promise;
    assert.deepEqual(ran, [1, 2, 3, 4, 5]);
    assert.deepEqual(lines.filter(({ level }) => level >= LEVEL.warn).map(({ msg }) => msg), [], 'no completion refused, no error');
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
});
