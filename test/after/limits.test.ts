import assert from 'node:assert/strict';
import { test } from 'node:test';
import { after, AfterQueueFull, createApp, get, HttpResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, memoryLogger, startServer } from '../helpers.js';

test('at maxPending new requests get 503 with Retry-After; nothing accepted is lost; service resumes below the low-water mark', async () => {
  const release = deferred();
  const app = createApp({
    after: { concurrency: 1, maxPending: 4, lowWater: 1 },
    routes: [get('/work', () => new HttpResponse('ok').after(() => release.promise, { name: 'queued' }))],
  });
  const client = createTestClient(app);
  let accepted = 0;
  let refused: Awaited<ReturnType<typeof client.get>> | undefined;
  for (let i = 0; i < 20 && refused === undefined; i++) {
    const res = await client.get('/work', { headers: { accept: 'application/json' } });
    if (res.status === 200) accepted++;
    else refused = res;
  }
  assert.ok(refused, 'expected a 503 once the queue was full');
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.match(((await refused.json()) as { error: { message: string } }).error.message, /after-response queue is full/);
  assert.equal(app.afterStats().pending, 4);
  assert.equal(app.afterStats().shed, 1);

  release.resolve();
  await client.settle();
  assert.equal(app.afterStats().completed, accepted);
  assert.equal((await client.get('/work')).status, 200);
  await client.settle();
  assert.equal(app.afterStats().completed, accepted + 1);
});

test("overflow: 'drop' keeps answering requests and drops the new tasks, counted and logged", async () => {
  const release = deferred();
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    after: { concurrency: 1, maxPending: 2, overflow: 'drop' },
    routes: [get('/work', () => new HttpResponse('ok').after(() => release.promise, { name: 'droppable' }))],
  });
  const client = createTestClient(app);
  for (let i = 0; i < 6; i++) assert.equal((await client.get('/work')).status, 200);
  release.resolve();
  await client.settle();
  const { completed, shed } = app.afterStats();
  assert.ok(shed > 0, 'expected dropped tasks');
  assert.equal(completed + shed, 6);
  assert.ok(lines.some((l) => l.level === 40 && String(l.msg).includes('dropping new tasks until it drains') && l.task === 'droppable'));
  assert.ok(lines.some((l) => l.level === 40 && l.dropped === shed && String(l.msg).includes(`${shed} task(s) were dropped while it was full`)));
});

test('requests refused with 503 queue no requestFinished receivers: the queue does not grow with refusals', async () => {
  const release = deferred();
  const app = createApp({
    after: { concurrency: 1, maxPending: 2, lowWater: 0 },
    routes: [get('/work', () => new HttpResponse('ok').after(() => release.promise))],
  });
  let heard = 0;
  app.signals.requestFinished.connect(() => { heard++; });
  const client = createTestClient(app);
  // The first response's task runs (and hangs), its receiver waits behind it, the second fills the queue.
  while (app.afterStats().pending < 2) assert.equal((await client.get('/work')).status, 200);
  const pendingWhenFull = app.afterStats().pending;
  for (let i = 0; i < 200; i++) assert.equal((await client.get('/work')).status, 503);
  assert.equal(app.afterStats().pending, pendingWhenFull, 'refused requests must not add tasks');
  assert.equal(app.afterStats().shed, 200);
  release.resolve();
  await client.settle();
  assert.equal(heard, app.afterStats().completed - heard, 'only the admitted requests were heard');
});

test("after() past maxPending under 'reject' throws AfterQueueFull: in a view that is a 503 with Retry-After (the tasks it got in before do not run), in a task it fails that task", async () => {
  const release = deferred();
  const failures: unknown[] = [];
  const app = createApp({
    after: { concurrency: 1, maxPending: 3, onError: ({ error }) => failures.push(error) },
    routes: [
      get('/many', () => {
        for (let i = 0; i < 10; i++) after(() => release.promise);
        return new HttpResponse('never');
      }),
      get('/fan-out', () => new HttpResponse('ok').after(() => {
        for (let i = 0; i < 1_000_000; i++) after(() => {});
      }, { name: 'fan-out' })),
    ],
  });
  const client = createTestClient(app);
  const refused = await client.get('/many', { headers: { accept: 'application/json' } });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.match(((await refused.json()) as { error: { message: string } }).error.message, /after-response queue is full \(3 tasks pending\)/);
  release.resolve();
  await client.settle();
  assert.equal(app.afterStats().pending, 0);
  // The three it got in before the queue filled do not run: its client is told to retry, which would run them again.
  assert.equal(app.afterStats().completed, 0);

  // A task that registers a million tasks gets three of them in, then an error: the rest are not silently queued.
  assert.equal((await client.get('/fan-out')).status, 200);
  await client.settle();
  assert.equal(failures.length, 1);
  assert.ok(failures[0] instanceof AfterQueueFull);
  assert.equal(app.afterStats().completed, 1 + 3 - 1 /* the fan-out task itself failed */);
});

test("after() past maxPending under 'drop' drops the task, counts it and logs the episode once", async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    after: { maxPending: 100, overflow: 'drop' },
    routes: [get('/fan-out', () => new HttpResponse('ok').after(() => {
      for (let i = 0; i < 100_000; i++) after(() => {});
    }, { name: 'fan-out' }))],
  });
  const client = createTestClient(app);
  await client.get('/fan-out');
  await client.settle();
  const { completed, shed } = app.afterStats();
  assert.equal(completed, 101);
  assert.equal(shed, 100_000 - 100);
  assert.equal(lines.filter((l) => String(l.msg).includes('dropping new tasks until it drains')).length, 1);
});

test('a long run of quick tasks leaves the event loop free: a timer due meanwhile fires before the run ends', async () => {
  let ran = 0;
  const total = 200_000;
  const app = createApp({
    after: { maxPending: total + 1 },
    routes: [get('/', () => {
      for (let i = 0; i < total; i++) after(() => { for (let j = 0; j < 50; j++) ran += 0; ran++; });
      return new HttpResponse('ok');
    })],
  });
  const client = createTestClient(app);
  await client.get('/');
  // Measured on the first turn that starts tasks: a timer set now must fire while tasks remain.
  const ranWhenTimerFired = await new Promise<number>((resolve) => setTimeout(() => resolve(ran), 1));
  await client.settle();
  assert.equal(ran, total);
  assert.ok(ranWhenTimerFired < total, `the timer fired only after all ${total} tasks ran: the loop was blocked`);
});

test('over a socket, a full queue refuses requests until it drains to the low-water mark, not merely below maxPending', async () => {
  const gates: ReturnType<typeof deferred<void>>[] = [];
  const starts: ReturnType<typeof deferred<void>>[] = [];
  const app = createApp({
    after: { concurrency: 1, maxPending: 3, lowWater: 1 },
    routes: [get('/work', () => {
      const gate = deferred();
      const start = deferred();
      gates.push(gate);
      starts.push(start);
      return new HttpResponse('ok').after(() => { start.resolve(); return gate.promise; }, { name: 'gated' });
    })],
  });
  const server = await startServer(app);
  const status = async (): Promise<Response> => {
    const res = await fetch(`${server.url}/work`);
    await res.arrayBuffer();
    return res;
  };
  try {
    let refused: Response | undefined;
    while (refused === undefined) {
      const res = await status();
      if (res.status === 503) refused = res;
    }
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(app.afterStats().pending, 3);
    // One task ends, the next starts: 2 pending, below maxPending but above the low-water mark: still refused.
    gates[0]!.resolve();
    await starts[1]!.promise;
    assert.equal(app.afterStats().pending, 2);
    assert.equal((await status()).status, 503);
    // Another ends: 1 pending, the low-water mark: admitted again, and every accepted task runs.
    gates[1]!.resolve();
    await starts[2]!.promise;
    assert.equal(app.afterStats().pending, 1);
    assert.equal((await status()).status, 200);
    for (const gate of gates) gate.resolve();
    await app.settle();
    const { pending, running, completed, failed, shed } = app.afterStats();
    assert.deepEqual({ pending, running, completed, failed, shed }, { pending: 0, running: 0, completed: gates.length, failed: 0, shed: 2 });
  } finally {
    for (const gate of gates) gate.resolve();
    await server.close({ timeoutMs: 1_000 });
  }
});
