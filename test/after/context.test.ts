import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, type MiddlewareFactory } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger, startServer } from '../helpers.js';
import { pipelined, request } from '../transport/wire.js';

test("a task runs in the async context captured where it was registered: the caller's AsyncLocalStorage stores are there", async () => {
  const trace = new AsyncLocalStorage<string>();
  const seen: (string | undefined)[] = [];
  // A tracing middleware of the user's own, as OpenTelemetry's context manager would be.
  const tracing: MiddlewareFactory = (getResponse) => (request) => trace.run(`trace-${request.headers.get('x-trace')}`, () => getResponse(request));
  const app = createApp({
    middleware: [tracing],
    routes: [get('/', async () => {
      await null;
      after(() => { seen.push(trace.getStore()); });
      return trace.run('inner-span', () => new HttpResponse('ok').after(() => { seen.push(trace.getStore()); }));
    })],
  });
  const client = createTestClient(app);
  await client.get('/', { headers: { 'x-trace': '1' } });
  await client.settle();
  assert.deepEqual(seen, ['trace-1', 'inner-span']);
});

test('a response built outside any request and reused: after() in its task joins the right request, and its task list does not grow', async () => {
  const store = new AsyncLocalStorage<string>();
  const seen: string[] = [];
  const shared = new HttpResponse('shared, built outside any request');
  shared.after(() => {
    after(({ request }) => { seen.push(`${store.getStore() ?? 'none'}:${request.path}`); });
  });
  const app = createApp({ routes: [get('/a', () => store.run('s', () => shared)), get('/b', () => shared)] });
  const client = createTestClient(app);
  await client.get('/a');
  await client.get('/b');
  await client.settle();
  // The inner task was registered from a task that runs in the context of the response's module: no store.
  assert.deepEqual(seen, ['none:/a', 'none:/b']);
  // A response shared between requests keeps its own list: tasks added by after() do not pile up on it.
  await client.get('/a');
  await client.settle();
  assert.equal(seen.length, 3);
});

test("over serve(): requests pipelined in one read each find their own request in after() past an await, with the server's stores", async () => {
  const trace = new AsyncLocalStorage<string>();
  const tasks: string[] = [];
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [get('/n/:i', async (request) => {
      await null;
      // Node runs the next request's listener in the same callback before this continuation: it must not be taken for it.
      after(({ request: done }) => { tasks.push(`${request.params.i}:${done.params.i}:${trace.getStore()}`); });
      return new HttpResponse(request.params.i!);
    })],
  });
  // Started in a store of the user's: the server's connections, so its requests, are in it.
  const server = await trace.run('server', () => startServer(app));
  try {
    const bytes = await pipelined(server, ['0', '1', '2'].map((i) => request(`/n/${i}`, { close: i === '2' })));
    assert.deepEqual([...bytes.toString('latin1').matchAll(/\r\n\r\n(\d)/g)].map((match) => match[1]), ['0', '1', '2']);
    await app.settle();
    assert.deepEqual(tasks.sort(), ['0:0:server', '1:1:server', '2:2:server']);
  } finally {
    await server.close();
  }
});
