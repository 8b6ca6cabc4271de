// The dashboard used as a demanding (or hostile) client would: wrong methods,
// query strings, event streams opened and dropped in a burst, a page that
// reconnects with Last-Event-ID, an idle stream, a store that cannot answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, dashboard, get, HttpResponse, include, NonRetryableError, sqliteStore, StoreUnavailable, task, type MiddlewareFactory, type Server } from 'coda-http';
import { deferred, LEVEL, memoryLogger, slowRoute, startServer } from '../helpers.js';
import { openEvents, snapshotWhere, type Snapshot } from './events.js';

const allowAll = (): boolean => true;

test('a wrong method on a dashboard route is a 405 naming the methods in Allow, and a query string changes nothing', async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const wrong: [string, string, string][] = [
    ['POST', '/coda', 'GET, HEAD, OPTIONS'], ['DELETE', '/coda/snapshot', 'GET, HEAD, OPTIONS'], ['PUT', '/coda/events', 'GET, HEAD, OPTIONS'],
    ['GET', '/coda/tasks/x/retry', 'POST, OPTIONS'], ['PATCH', '/coda/tasks/x/discard', 'POST, OPTIONS'],
  ];
  for (const [method, path, allow] of wrong) {
    const response = await fetch(server.url + path, { method });
    assert.equal(response.status, 405, `${method} ${path}`);
    assert.equal(response.headers.get('allow'), allow, `${method} ${path}`);
    await response.text();
  }
  const page = await fetch(`${server.url}/coda?tab=<script>alert(1)</script>`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.equal(html.includes('<script>alert'), false, 'the query string is not put in the page');
  assert.match(html, /<body data-base="\/coda">/);
  const snapshot = await fetch(`${server.url}/coda/snapshot?format=html`);
  assert.equal(snapshot.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.ok(Array.isArray(((await snapshot.json()) as Snapshot).recent));
});

test('event streams opened and dropped in a burst each free their place: the next maxClients open, and nothing is left in flight', { timeout: 60_000 }, async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll, intervalMs: 10, maxClients: 2 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  for (let i = 0; i < 60; i++) {
    const stream = await openEvents(`${server.url}/coda/events`);
    assert.equal(stream.response.status, 200, `stream ${i}`);
    // Half leave at once (their snapshot unsent, or unread), half after reading their first snapshot.
    if (i % 2 === 1) await snapshotWhere(stream.events, () => true);
    stream.close();
  }
  await app.settle();
  const kept = [await openEvents(`${server.url}/coda/events`), await openEvents(`${server.url}/coda/events`)];
  t.after(() => kept.forEach((stream) => stream.close()));
  assert.deepEqual(kept.map((stream) => stream.response.status), [200, 200], 'no place is held by a stream whose client left');
  const polled = await (await fetch(`${server.url}/coda/snapshot`)).json() as Snapshot;
  assert.equal(polled.requests.inFlight, 0);
  assert.equal(polled.requests.total, 0, 'the dashboard\'s own streams are not counted');
});

test('a page that reconnects (Last-Event-ID and all) after every stream closed gets a fresh snapshot first, not the one kept from before: it showed 0 requests after 3', async (t) => {
  const app = createApp({ routes: [get('/work', () => new HttpResponse('done')), ...dashboard({ authorize: allowAll, intervalMs: 10 })] });
  const server = await startServer(app);
  t.after(() => server.close());
  const first = await openEvents(`${server.url}/coda/events`);
  await snapshotWhere(first.events, () => true);
  first.close();
  await app.settle();
  for (let i = 0; i < 3; i++) await (await fetch(`${server.url}/work`)).text();
  const again = await openEvents(`${server.url}/coda/events`, { 'last-event-id': '42', accept: 'text/event-stream' });
  t.after(again.close);
  assert.equal(again.response.status, 200);
  const next = await snapshotWhere(again.events, () => true);
  assert.equal(next.requests.total, 3);
});

test('an unchanged snapshot is not sent again: after its first, an idle stream carries only heartbeats', { timeout: 30_000 }, async (t) => {
  // Some 20 snapshots are made before the heartbeat is due, all alike: sent again, one would come first.
  const app = createApp({ routes: dashboard({ authorize: allowAll, intervalMs: 10, heartbeatMs: 200 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  await snapshotWhere(stream.events, () => true);
  for (let i = 0; i < 3; i++) {
    const { value } = await stream.events.next();
    assert.deepEqual(value, { type: 'comment', text: 'heartbeat' }, `message ${i + 2}`);
  }
});

test('a snapshot while the store cannot answer shows the store\'s error in its place, and the figures once it is back', async (t) => {
  const charge = task('charge', () => {});
  const store = sqliteStore({ path: ':memory:' });
  let down = false;
  const stats = store.stats.bind(store);
  // A store away (Redis stopped, a file that cannot be read) as the dashboard meets it: its read throws.
  store.stats = async (...args) => {
    if (down) throw new StoreUnavailable('sqlite store :memory:', new Error('disk I/O error'));
    return stats(...args);
  };
  const app = createApp({ tasks: { definitions: [charge], store, run: false }, routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  t.after(() => server.close());
  await app.tasks.enqueue(charge, {});
  down = true;
  const refused = await fetch(`${server.url}/coda/snapshot`);
  assert.equal(refused.status, 200);
  const shown = await refused.json() as Snapshot;
  assert.equal(shown.durable?.error, 'StoreUnavailable: sqlite store :memory: is unavailable: disk I/O error');
  assert.equal(shown.durable?.ready, 0);
  down = false;
  const back = await (await fetch(`${server.url}/coda/snapshot`)).json() as Snapshot;
  assert.equal(back.durable?.error, undefined);
  assert.equal(back.durable?.ready, 1);
});

test('a second dashboard in the same app is refused at createApp(): each counted the other\'s own requests and streams as traffic', () => {
  assert.throws(() => createApp({ routes: [...dashboard({ authorize: allowAll }), ...dashboard({ path: '/ops', authorize: allowAll })] }),
    /^TypeError: dashboard\(\): this app has a dashboard at \/coda already; one per app \(a second, at \/ops, would count the first's own requests as traffic\)$/);
  assert.throws(() => createApp({ routes: [...dashboard({ authorize: allowAll }), include('/admin', dashboard({ authorize: allowAll }))] }),
    /this app has a dashboard at \/coda already; one per app \(a second, at \/admin\/coda,/);
});

test('an event stream asked for on a server that is closing is a 503 saying so, to try again in 5 s (at another server, or this one started again)', { timeout: 20_000 }, async () => {
  let server!: Server;
  let closing: Promise<unknown> | undefined;
  // The server begins to close while the stream's request is being let in: it is decided on a closing server.
  const authorize = (): boolean => {
    closing ??= server.close({ timeoutMs: 10_000 });
    return true;
  };
  const app = createApp({ routes: dashboard({ authorize }) });
  server = await startServer(app);
  const refused = await fetch(`${server.url}/coda/events`);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.equal(await refused.text(), 'the server is shutting down');
  await closing;
});

test('an authorize() that throws (not an HttpError) when an open stream asks again is logged, and the stream ends', { timeout: 10_000 }, async (t) => {
  let calls = 0;
  // Lets in the stream and its first snapshot, then fails as a session store that went away would.
  const authorize = (): boolean => {
    if (++calls > 2) throw new Error('session store unreachable');
    return true;
  };
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, routes: [get('/work', () => new HttpResponse('done')), ...dashboard({ authorize, intervalMs: 10 })] });
  const server = await startServer(app);
  t.after(() => server.close());
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  await snapshotWhere(stream.events, () => true);
  await (await fetch(`${server.url}/work`)).text();
  await assert.rejects(snapshotWhere(stream.events, () => true), /the event stream ended before the awaited snapshot/);
  const logged = lines.filter((line) => line.level >= LEVEL.error);
  assert.deepEqual(logged.map((line) => [line.msg, (line.err as { message?: string } | undefined)?.message]),
    [['dashboard: authorize() failed for an open event stream, which is ended', 'session store unreachable']]);
});

test('a cross-site preflight for an action is answered without any Access-Control-Allow field, so a browser never sends the action; a HEAD of the event stream holds no place', async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll, maxClients: 1 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const preflight = await fetch(`${server.url}/coda/tasks/x/retry`, {
    method: 'OPTIONS', headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-coda-dashboard' },
  });
  await preflight.text();
  assert.deepEqual([...preflight.headers.keys()].filter((name) => name.startsWith('access-control-')), []);
  for (let i = 0; i < 3; i++) {
    const head = await fetch(`${server.url}/coda/events`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  }
  await app.settle();
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  assert.equal(stream.response.status, 200, 'the HEADs left the one place (maxClients: 1) free');
});

test('failed durable tasks: the latest 20 are shown, newest first, each with the errors of its last 5 attempts and its attempt count', { timeout: 60_000 }, async (t) => {
  const flaky = task('flaky', (payload: { n: number }) => {
    throw new Error(`try failed for ${payload.n}`);
  }, { attempts: 7, backoff: { type: 'fixed', delayMs: 0 } });
  const broken = task('broken', (payload: { n: number }) => {
    throw new NonRetryableError(`broken ${payload.n}`);
  });
  const app = createApp({ tasks: { definitions: [flaky, broken], store: sqliteStore({ path: ':memory:' }) }, routes: dashboard({ authorize: allowAll, intervalMs: 20 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  for (let n = 1; n <= 21; n++) await app.tasks.enqueue(broken, { n });
  await snapshotWhere(stream.events, (s) => s.durable?.failed === 21);
  await app.tasks.enqueue(flaky, { n: 22 });
  const shown = await snapshotWhere(stream.events, (s) => s.durable?.failed === 22);
  assert.deepEqual(shown.failed.map((f) => f.payload), Array.from({ length: 20 }, (_, i) => JSON.stringify({ n: 22 - i })), 'the 20 latest, newest first');
  const [last] = shown.failed;
  assert.equal(last!.attempts, 7);
  assert.deepEqual(last!.errors.map((e) => [e.attempt, e.message]), [3, 4, 5, 6, 7].map((attempt) => [attempt, 'Error: try failed for 22']));
  assert.equal((await app.tasks.get(last!.id))?.errors.length, 7, 'the store keeps every attempt\'s error; the page its last 5');
});

test('the oldest task waiting to start: an after-response task queued behind another, and a durable task ready and not claimed; none once they start', { timeout: 30_000 }, async (t) => {
  const slow = slowRoute();
  const charge = task('charge', () => {});
  const app = createApp({
    after: { concurrency: 1 },
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }), run: false },
    routes: [slow.route, ...dashboard({ authorize: allowAll, intervalMs: 20 })],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const snapshot = async (): Promise<Snapshot> => (await fetch(`${server.url}/coda/snapshot`)).json() as Promise<Snapshot>;
  const idle = await snapshot();
  assert.deepEqual([idle.after.oldestWaitingMs, idle.durable?.oldestWaitingMs], [null, null]);
  await (await fetch(`${server.url}/slow`)).text();
  await slow.started;
  await (await fetch(`${server.url}/slow`)).text(); // its task waits behind the first's, in the one slot
  await app.tasks.enqueue(charge, {});
  // Read off the stream: the second task is queued once its response is done, which the client may see first.
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  const waiting = await snapshotWhere(stream.events, (s) => s.after.pending === 1);
  assert.ok(waiting.after.oldestWaitingMs !== null && waiting.after.oldestWaitingMs >= 0, `after: ${waiting.after.oldestWaitingMs}`);
  assert.ok(waiting.durable?.oldestWaitingMs !== null && waiting.durable!.oldestWaitingMs >= 0, `durable: ${waiting.durable?.oldestWaitingMs}`);
  stream.close(); // an open stream is a request in flight: settle() would wait for it
  slow.release();
  await app.settle();
  assert.equal((await snapshot()).after.oldestWaitingMs, null);
});

test('maxClients holds with a middleware that awaits after the view (a session saved): streams asked for at once past it are 503s, not let in', { timeout: 30_000 }, async (t) => {
  const saved = deferred();
  let waiting = 0;
  // Each response waits here until all ten are past the view: every view saw room for a stream.
  const session: MiddlewareFactory = (next) => async (request) => {
    const response = await next(request);
    if (++waiting === 10) saved.resolve();
    await saved.promise;
    return response;
  };
  const app = createApp({ middleware: [session], routes: dashboard({ authorize: allowAll, maxClients: 2 }) });
  const server = await startServer(app);
  const streams = await Promise.all(Array.from({ length: 10 }, () => openEvents(`${server.url}/coda/events`)));
  t.after(async () => {
    for (const stream of streams) stream.close();
    await server.close();
  });
  assert.deepEqual(streams.map((stream) => stream.response.status).sort(), [200, 200, 503, 503, 503, 503, 503, 503, 503, 503]);
  const refused = streams.find((stream) => stream.response.status === 503)!.response;
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.equal(await refused.text(), 'too many dashboard pages are open (maxClients); close one or raise maxClients');
});

test('a stream whose server begins to close while a middleware awaits after the view is a 503, not a stream that holds the drain to its deadline', { timeout: 30_000 }, async () => {
  const held = deferred();
  const inMiddleware = deferred();
  const session: MiddlewareFactory = (next) => async (request) => {
    const response = await next(request);
    inMiddleware.resolve();
    await held.promise;
    return response;
  };
  const app = createApp({ middleware: [session], routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  const pending = openEvents(`${server.url}/coda/events`);
  await inMiddleware.promise;
  // Its deadline far off: a stream opened now would hold the drain up to it (the test's timeout would fail first).
  const closing = server.close({ timeoutMs: 60_000 });
  held.resolve();
  const stream = await pending;
  assert.equal(stream.response.status, 503);
  assert.equal(stream.response.headers.get('retry-after'), '5');
  assert.equal(await stream.response.text(), 'the server is shutting down');
  await closing;
});
