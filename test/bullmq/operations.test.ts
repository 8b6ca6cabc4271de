// app.tasks on the BullMQ store: stats, list, get, retry and discard, the
// request's snapshot carried in the job, and completed jobs pruned as they
// complete (Redis's memory stays flat). Tasks run in this process; each step
// awaits the runner's settle (nothing journaling, running or due).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { after, createApp, HttpResponse, NonRetryableError, post, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { useRedis } from './redis-server.js';

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
