import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from '../../src/index.js';
import { createTestClient } from '../../src/testing/index.js';
import { gate, memoryLogger } from './helpers.js';

test('at maxPending new requests get 503 with Retry-After; nothing accepted is lost; service resumes below the low-water mark', async () => {
  const release = gate();
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

  release.open();
  await client.settle();
  assert.equal(app.afterStats().completed, accepted);
  assert.equal((await client.get('/work')).status, 200);
  await client.settle();
  assert.equal(app.afterStats().completed, accepted + 1);
});

test("overflow: 'drop' keeps answering requests and drops the new tasks, counted and logged", async () => {
  const release = gate();
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    after: { concurrency: 1, maxPending: 2, overflow: 'drop' },
    routes: [get('/work', () => new HttpResponse('ok').after(() => release.promise, { name: 'droppable' }))],
  });
  const client = createTestClient(app);
  for (let i = 0; i < 6; i++) assert.equal((await client.get('/work')).status, 200);
  release.open();
  await client.settle();
  const { completed, shed } = app.afterStats();
  assert.ok(shed > 0, 'expected dropped tasks');
  assert.equal(completed + shed, 6);
  assert.ok(lines.some((l) => l.level === 40 && String(l.msg).includes('dropping new tasks until it drains') && l.task === 'droppable'));
  assert.ok(lines.some((l) => l.level === 40 && l.dropped === shed && String(l.msg).includes(`${shed} task(s) were dropped while it was full`)));
});
