// app.tasks on the BullMQ store: stats, list, get, retry and discard, the
// request's snapshot carried in the job, and completed jobs pruned as they
// complete (Redis's memory stays flat). Tasks run in this process; each step
// awaits the runner's settle (nothing journaling, running or due).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { after, createApp, HttpResponse, NonRetryableError, post, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
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

test('completed jobs are pruned as they complete: keepCompleted bounds what Redis keeps', { timeout: 30_000, skip: missing }, async (t) => {
  const done = task('done', () => {});
  const app = createApp({ tasks: { definitions: [done], store: bullmqStore({ connection: { port: server().port }, prefix: 'pruned', keepCompleted: { count: 5 } }) } });
  t.after(() => app.tasks.close(performance.now()));
  for (let n = 0; n < 40; n++) await app.tasks.enqueue(done, { n });
  await app.tasks.settle(() => false);
  assert.equal((await app.tasks.stats()).completed, 5, 'keepCompleted.count completed jobs kept');
  const redis = new Redis({ port: server().port });
  t.after(() => redis.quit());
  // The queue's own keys (wait, meta, events, ...) and the five jobs kept: not one key per task run.
  const keys = await redis.keys('pruned:done:*');
  assert.ok(keys.length < 20, `${keys.length} keys left: ${keys.join(' ')}`);
});

test('list with a limit reads only that many tasks whole, however many are in the state (each stretch of a state\'s set looked through for ids and times only); listPage walks 2,500 failed tasks, past a stretch, each once, newest first', { timeout: 60_000, skip: missing }, async (t) => {
  const { redis, store } = await openStore(t, 'paging');
  const now = Date.now();
  const count = 2_500;
  // Added in two batches: newest first goes by the time added, then the order added.
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

  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  await admin.config('RESETSTAT');
  const listed = await store.list({ state: 'failed', limit: 5 });
  const stats = await admin.info('commandstats');
  assert.deepEqual(listed.map(({ id }) => id), ids.slice(-5).reverse(), 'the newest five');
  assert.equal(Number(/^cmdstat_hgetall:calls=(\d+)/m.exec(stats)?.[1]), 5, 'five tasks read whole, not 2,500');

  const walked: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10; page++) {
    const { tasks, next } = await store.listPage({ state: 'failed', limit: 1_000, ...(after !== undefined && { after }) });
    walked.push(...tasks.map(({ id }) => id));
    if (next === null) break;
    after = next;
  }
  assert.deepEqual(walked, [...ids].reverse());
});
