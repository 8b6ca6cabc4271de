import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, type MiddlewareFactory } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

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
