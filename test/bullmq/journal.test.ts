// Promise 1 on BullMQ (durable.md, "Stores"): a request's registration awaits
// Redis before its response's first byte, batched per event-loop turn; and
// promise 2: the job is held until its response is done. Real sockets, a real
// redis-server, and a store of its own (another connection) reading Redis.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { after, createApp, get, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { intercepting } from '../durable/intercepting.js';
import { openResponse } from '../durable/open-response.js';
import { deferred } from '../helpers.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

test('on BullMQ, the registrations of requests handled in one turn reach Redis in one add(), before the first byte of any of their responses: at that byte each task is in Redis, held, and runs only once its response is done; a later turn\'s in another add() (promises 1, 2)', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = 'journal-turn';
  const ran: number[] = [];
  const noted = task('noted', (payload: { n: number }) => { ran.push(payload.n); });
  const batches: number[] = [];
  // A slow Redis (each add() reaches it 100 ms late): a first byte that did not wait for it would come first.
  const store = intercepting(bullmqStore({ connection: { port: server().port }, prefix }), 'add', async (call, args) => {
    batches.push((args[0] as unknown[]).length);
    await delay(100);
    return call(...args);
  });
  // Five requests wait at one gate, opened by the last to arrive: all five then register in the same turn. Each
  // response sends its first line, then waits for the test before it ends.
  const N = 5;
  const gate = deferred();
  const finish = deferred();
  let arrived = 0;
  const app = createApp({
    accessLog: false,
    tasks: { definitions: [noted], store },
    routes: [get('/together/:n', async (request) => {
      if (++arrived === N) gate.resolve();
      await gate.promise;
      void after(noted, { n: Number(request.params.n) });
      return openResponse(finish.promise);
    })],
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1_000 }));
  const reader = bullmqStore({ connection: { port: server().port }, prefix });
  await reader.open();
  t.after(() => reader.close());

  const responses = await Promise.all(Array.from({ length: N }, (_, n) => fetch(`${web.url}/together/${n}`)));
  const bodies = responses.map((response) => response.body!.getReader());
  for (const body of bodies) assert.match(new TextDecoder().decode((await body.read()).value), /started/);
  // Every response has sent its first byte, none is done.
  assert.deepEqual(batches, [N], 'one add() for the turn\'s five registrations');
  const held = await reader.list({ state: 'held', name: 'noted' });
  assert.deepEqual(held.map(({ payload }) => (JSON.parse(payload) as { n: number }).n).sort(), [0, 1, 2, 3, 4], 'each task in Redis, held, at its response\'s first byte');
  assert.deepEqual(ran, [], 'none run before its response is done');

  finish.resolve();
  for (const body of bodies) while (!(await body.read()).done);
  await app.settle();
  assert.deepEqual(ran.sort(), [0, 1, 2, 3, 4]);
  assert.equal((await reader.stats(Date.now())).completed, N);

  // A later request (the gate open, its response ending at once): its registration in an add() of its own.
  await (await fetch(`${web.url}/together/9`)).text();
  assert.deepEqual(batches, [N, 1], 'a later turn\'s registration in an add() of its own');
});
