// One app, many test clients (an app made once at the top of a test file, a
// client per test): each gets the app's durable tasks working, retries
// driven by its settle().
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, createApp, HttpResponse, post, serve, sqliteStore, task } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

function flakyApp() {
  const calls: number[] = [];
  // Fails its first attempt for each n; the retry is an hour away, which settle() must not wait for.
  const flaky = task('flaky', (payload: { n: number }) => {
    calls.push(payload.n);
    if (calls.filter((n) => n === payload.n).length === 1) throw new Error(`first attempt of ${payload.n}`);
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 60 * 60_000 } });
  const app = createApp({
    tasks: { definitions: [flaky] },
    routes: [post('/:n', (request) => {
      after(flaky, { n: Number(request.params.n) });
      return new HttpResponse('ok');
    })],
  });
  return { app, calls };
}

test('a client made after another was closed has the app\'s durable tasks on a fresh store, its settle() moving their clock', async () => {
  const { app, calls } = flakyApp();
  for (const n of [1, 2, 3]) {
    await using client = createTestClient(app);
    assert.equal((await client.post(`/${n}`)).status, 200);
    await client.settle({ timeoutMs: 5_000 });
    assert.deepEqual(client.tasks.map((t) => [t.name, t.state, t.attempt]), [['flaky', 'retrying', 1], ['flaky', 'completed', 2]], `client ${n}`);
    assert.equal((await app.tasks.stats()).completed, 1, `client ${n}: its own store`);
  }
  assert.deepEqual(calls, [1, 1, 2, 2, 3, 3]);
});

test('with tasks: \'app\', a client made after another was closed runs the durable tasks on the app\'s store, opened anew', async () => {
  const ran: number[] = [];
  const note = task('note', (payload: { n: number }) => {
    ran.push(payload.n);
  });
  const app = createApp({
    tasks: { definitions: [note], store: sqliteStore({ path: ':memory:' }) },
    routes: [post('/:n', (request) => {
      after(note, { n: Number(request.params.n) });
      return new HttpResponse('ok');
    })],
  });
  for (const transport of ['in-process', 'socket', 'in-process'] as const) {
    await using client = createTestClient(app, { tasks: 'app', transport });
    const response = await client.post(`/${ran.length + 1}`);
    assert.equal(response.status, 200, transport);
    await client.settle({ timeoutMs: 5_000 });
  }
  assert.deepEqual(ran, [1, 2, 3]);
});

test('two in-process clients open at once: closing one leaves the other the app\'s durable tasks, and the last one closes them', async () => {
  const { app, calls } = flakyApp();
  const first = createTestClient(app);
  const second = createTestClient(app);
  await second.close();
  assert.equal((await first.post('/4')).status, 200, 'its durable task is journaled on the store the two share');
  await first.settle({ timeoutMs: 5_000 });
  assert.deepEqual(calls, [4, 4]);
  await first.close();
  await assert.rejects(app.tasks.stats(), /sqlite store :memory: is unavailable/, 'closed with the last client');
});

test('two clients open at once share the app\'s store and its clock: either one\'s settle() runs the retries', async () => {
  const { app, calls } = flakyApp();
  await using first = createTestClient(app);
  await using second = createTestClient(app);
  await second.post('/7');
  await second.settle({ timeoutMs: 5_000 });
  assert.deepEqual(calls, [7, 7]);
  assert.equal((await app.tasks.stats()).completed, 1);
  await first.settle({ timeoutMs: 5_000 });
});

test('a socket client closed while an in-process client of the app is open leaves the app to it: its durable tasks journal and run, and the last client closes them', async () => {
  const { app, calls } = flakyApp();
  const inProcess = createTestClient(app);
  const overSocket = createTestClient(app, { transport: 'socket' });
  assert.equal((await overSocket.post('/5')).status, 200);
  await overSocket.settle({ timeoutMs: 5_000 });
  await overSocket.close();
  assert.equal((await inProcess.post('/6')).status, 200, 'its durable task is journaled: the store is still open');
  await inProcess.settle({ timeoutMs: 5_000 });
  assert.deepEqual(calls, [5, 5, 6, 6]);
  assert.deepEqual(inProcess.tasks.map((t) => t.state), ['retrying', 'completed', 'retrying', 'completed'], 'the app\'s attempts, the socket client\'s request\'s too');
  await inProcess.close();
  await assert.rejects(app.tasks.stats(), /sqlite store :memory: is unavailable/, 'closed with the last client');
});

test('a socket client closed while an in-process request of the same app is in its view: the request\'s after() task runs', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let entered!: () => void;
  const inView = new Promise<void>((resolve) => (entered = resolve));
  const app = createApp({
    routes: [post('/slow', async () => {
      entered();
      await gate;
      after(() => {}, { name: 'audit' });
      return new HttpResponse('ok');
    }), post('/fast', () => new HttpResponse('ok'))],
  });
  await using inProcess = createTestClient(app);
  const overSocket = createTestClient(app, { transport: 'socket' });
  assert.equal((await overSocket.post('/fast')).status, 200);
  const slow = inProcess.post('/slow');
  await inView;
  await overSocket.close();
  open();
  assert.equal((await slow).status, 200);
  await inProcess.settle({ timeoutMs: 5_000 });
  assert.deepEqual(inProcess.tasks.map((t) => [t.name, t.state]), [['audit', 'completed']]);
});

test('an in-process client closed while serve() serves the same app leaves its durable tasks to the server: its requests still journal theirs', async (t) => {
  const folder = mkdtempSync(path.join(tmpdir(), 'coda-in-process-'));
  t.after(() => rmSync(folder, { recursive: true, force: true }));
  const ran: number[] = [];
  const noted = task('noted', (payload: { n: number }) => void ran.push(payload.n));
  // A real file: the server's store, which the client shares (tasks: 'app' is implied by the store given).
  const app = createApp({ tasks: { definitions: [noted], store: sqliteStore({ path: path.join(folder, 'tasks.db') }) }, routes: [post('/:n', (request) => new HttpResponse('ok').after(noted, { n: Number(request.params.n) }))] });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const client = createTestClient(app);
  assert.equal((await client.post('/1')).status, 200);
  await client.close();
  // Before, the client's close stopped the app's tasks (it was the last client) under the running server: a 503.
  const response = await fetch(`${server.url}/2`, { method: 'POST' });
  assert.equal(response.status, 200, await response.text());
  await app.settle();
  assert.deepEqual(ran.sort(), [1, 2]);
});
