import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import {
  after, createApp, dashboard, get, HttpResponse, include, NonRetryableError, post, sqliteStore, task, Unauthorized, type App, type HttpRequest, type MiddlewareHooks, type Task,
} from 'coda-http';
import { connect, deferred, LEVEL, memoryLogger, slowRoute, startServer } from '../helpers.js';
import { openEvents, snapshotWhere, type Snapshot, type StreamEvent } from './events.js';
import { assertHostileIdsFindNothing } from './hostile-ids.js';
import { clientLeftRoutes } from '../observe/client-left.js';
import { selfSigned } from '../server/certificate.js';

const allowAll = (): boolean => true;
const ACTION = { 'x-coda-dashboard': '1' };

test('dashboard() options are checked: authorize is required, the path is plain, unknown keys and bad numbers are refused', () => {
  assert.throws(() => dashboard({} as never), /dashboard\(\): authorize is required: a function .* got undefined/);
  assert.throws(() => dashboard({ path: '/coda' } as never), /authorize is required/);
  assert.throws(() => dashboard({ authorize: allowAll, autorize: allowAll } as never), /unknown option "autorize"; did you mean "authorize"\?/);
  for (const path of ['coda', '/coda/', '/users/:id', '/files/*', '/a b', '/<script>']) {
    assert.throws(() => dashboard({ path, authorize: allowAll }), /dashboard\(\): path must be a plain path/, path);
  }
  assert.throws(() => dashboard({ authorize: allowAll, intervalMs: 0 }), /dashboard\(\): intervalMs must be a positive number of milliseconds/);
  assert.throws(() => dashboard({ authorize: allowAll, maxClients: 1.5 }), /dashboard\(\): maxClients must be a whole number/);
  assert.throws(() => dashboard({ authorize: allowAll, recentRequests: 0 }), /dashboard\(\): recentRequests must be a whole number of at least 1/);
});

test('nothing is recorded without the dashboard: its routes listen to the app itself (no signal receiver, no task per request), once per app', async (t) => {
  const routes = dashboard({ authorize: allowAll });
  const app = createApp({ routes: [get('/', () => new HttpResponse('hi')), ...routes] });
  assert.equal(app.signals.requestFinished.receivers.length, 0);
  assert.equal(app.signals.requestStarted.receivers.length, 0);
  const server = await startServer(app);
  t.after(() => server.close());
  for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`${server.url}/`)).text(), 'hi');
  await app.settle();
  const { completed, skipped } = app.afterStats();
  assert.deepEqual({ completed, skipped }, { completed: 0, skipped: 0 }, 'no after-response task of the dashboard');
  assert.throws(() => createApp({ routes }), /these routes are in another app already; call dashboard\(\) once per app/);
});

test('the dashboard sees every request with the access log, metrics and tracing off, 503s of a full queue included', async (t) => {
  const slow = slowRoute();
  const app = createApp({
    accessLog: false, metrics: false, tracing: false,
    after: { concurrency: 1, maxPending: 1 },
    routes: [get('/users/:id', () => new HttpResponse('user')), slow.route, ...dashboard({ authorize: allowAll })],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const send = async (path: string, id: string): Promise<number> => {
    const response = await fetch(server.url + path, { headers: { 'x-request-id': id } });
    await response.text();
    return response.status;
  };
  assert.equal(await send('/users/1', 'user-1'), 200);
  assert.equal(await send('/slow', 'slow-1'), 200);
  await slow.started;
  assert.equal(await send('/slow', 'slow-2'), 200); // its task waits for the one slot: the queue is full
  assert.equal(await send('/users/2', 'shed'), 503);
  slow.release();
  await app.settle();
  const snapshot = await (await fetch(`${server.url}/coda/snapshot`)).json() as { requests: { total: number }; recent: { id: string; route: string | null; status: number }[] };
  assert.equal(snapshot.requests.total, 4);
  assert.deepEqual(snapshot.recent.map((r) => [r.id, r.route, r.status]), [
    ['shed', null, 503], ['slow-2', '/slow', 200], ['slow-1', '/slow', 200], ['user-1', '/users/:id', 200],
  ]);
});

test('every dashboard route asks authorize first: false is a 403, a thrown Unauthorized a 401, anything but a boolean a 500 naming the mistake; a promise of one is awaited', async (t) => {
  let answer: unknown = false;
  const seen: string[] = [];
  const authorize = (request: HttpRequest): boolean => {
    seen.push(`${request.method} ${request.path}`);
    if (answer === 'throw') throw new Unauthorized('log in first');
    return answer as boolean;
  };
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, routes: dashboard({ path: '/ops', authorize }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const targets: [string, string][] = [['GET', '/ops'], ['GET', '/ops/dashboard.js'], ['GET', '/ops/events'], ['GET', '/ops/snapshot'], ['POST', '/ops/tasks/x/retry'], ['POST', '/ops/tasks/x/discard']];
  for (const [method, path] of targets) {
    const res = await fetch(server.url + path, { method, headers: ACTION });
    assert.equal(res.status, 403, `${method} ${path}`);
    assert.match(await res.text(), /authorize\(\) returned false/);
  }
  assert.deepEqual(seen, targets.map(([method, path]) => `${method} ${path}`));
  answer = 'throw';
  assert.equal((await fetch(`${server.url}/ops`)).status, 401);
  answer = 'yes';
  assert.equal((await fetch(`${server.url}/ops`)).status, 500);
  // The type allows a promise (a session looked up in a store): its value is what counts.
  answer = Promise.resolve(true);
  assert.equal((await fetch(`${server.url}/ops`)).status, 200);
  answer = Promise.resolve(false);
  assert.equal((await fetch(`${server.url}/ops`)).status, 403);
  answer = Promise.resolve('yes');
  assert.equal((await fetch(`${server.url}/ops`)).status, 500);
  const mistakes = lines.filter((line) => line.level >= LEVEL.error).map((line) => line.msg);
  assert.deepEqual(mistakes, ['string "yes"', 'string "yes"'].map((got) => `unhandled error in view for /ops: dashboard(): authorize() must return true or false, got ${got}`));
});

test('the page is plain HTML with its own script, under a strict Content-Security-Policy; it, its script, snapshot and stream are sent with nosniff', async (t) => {
  const app = createApp({ routes: dashboard({ path: '/ops/coda', authorize: allowAll }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const page = await fetch(`${server.url}/ops/coda`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const policy = page.headers.get('content-security-policy')!;
  assert.match(policy, /default-src 'none'; script-src 'self'; connect-src 'self'/);
  assert.match(policy, /frame-ancestors 'none'/, 'never framed');
  const html = await page.text();
  assert.match(html, /<body data-base="\/ops\/coda">/);
  assert.match(html, /<script src="\/ops\/coda\/dashboard.js" defer><\/script>/);
  const script = await fetch(`${server.url}/ops/coda/dashboard.js`);
  assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(await script.text(), /new EventSource\(`\$\{base\}\/events`\)/);
  // What carries request data (paths, task names, payloads) is never read as another type (HTML) by a browser that sniffs.
  const stream = await openEvents(`${server.url}/ops/coda/events`);
  t.after(stream.close);
  for (const response of [page, script, await fetch(`${server.url}/ops/coda/snapshot`), stream.response]) {
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', response.url);
  }
});

test('in an include(): the page names its script and stream under the prefix, its own requests there are left out, and a prefix with a parameter is refused', async (t) => {
  const app = createApp({ routes: [get('/users/:id', () => new HttpResponse('user')), include('/admin', dashboard({ authorize: allowAll }))] });
  const server = await startServer(app);
  t.after(() => server.close());
  const html = await (await fetch(`${server.url}/admin/coda`)).text();
  assert.match(html, /<body data-base="\/admin\/coda">/);
  assert.match(html, /<script src="\/admin\/coda\/dashboard.js" defer><\/script>/);
  assert.equal((await fetch(`${server.url}/admin/coda/dashboard.js`)).status, 200);
  assert.equal((await fetch(`${server.url}/users/1`)).status, 200);
  const snapshot = await (await fetch(`${server.url}/admin/coda/snapshot`)).json() as Snapshot;
  assert.deepEqual(snapshot.recent.map((r) => r.path), ['/users/1']);
  assert.throws(() => createApp({ routes: [include('/t/:tenant', dashboard({ authorize: allowAll }))] }),
    /dashboard\(\): its routes are mounted at "\/t\/:tenant\/coda" \(an include\(\) prefix in front of "\/coda"\): the whole path must be plain too/);
});

test('task names past 64 are counted under one (other) line, and the app keeps answering', async (t) => {
  const app = createApp({
    routes: [
      get('/n/:n', (request) => {
        after(() => {}, { name: `task-${request.params.n}` });
        return new HttpResponse('ok');
      }),
      ...dashboard({ authorize: allowAll }),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  for (let i = 0; i < 70; i++) assert.equal((await fetch(`${server.url}/n/${i}`)).status, 200);
  await app.settle();
  const snapshot = await (await fetch(`${server.url}/coda/snapshot`)).json() as { tasks: { name: string; states: { completed?: number } }[] };
  assert.equal(snapshot.tasks.length, 65);
  assert.equal(snapshot.tasks.find((line) => line.name === '(other)')?.states.completed, 6);
});

test('the event stream sends a snapshot that follows traffic: counts, latency, per-task figures and each request with its tasks', async (t) => {
  const app = createApp({
    routes: [
      get('/hello/:name', (request) => {
        after(() => {}, { name: 'greet' });
        return new HttpResponse(`hello ${request.params.name}`);
      }),
      ...dashboard({ authorize: allowAll, intervalMs: 20 }),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  assert.equal(stream.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const first = await snapshotWhere(stream.events, () => true);
  assert.equal(first.requests.total, 0);
  assert.equal(first.requests.inFlight, 0, 'the stream itself is not counted');
  const polled = await (await fetch(`${server.url}/coda/snapshot`)).json() as { requests: { inFlight: number } };
  assert.equal(polled.requests.inFlight, 0, 'neither the snapshot request nor the open stream is counted');
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${server.url}/hello/${i}`, { headers: { 'x-request-id': `req-${i}` } })).status, 200);
  const seen = await snapshotWhere(stream.events, (s) => s.requests.total === 3 && s.tasks.find((l) => l.name === 'greet')?.states.completed === 3
    && s.recent.every((r) => r.tasks.length === 1));
  assert.ok(seen.requests.perSecond > 0);
  assert.ok(seen.requests.p95Ms !== null && seen.requests.p95Ms > 0);
  assert.deepEqual(seen.recent.map((r) => [r.id, r.method, r.path, r.route, r.status]), [
    ['req-2', 'GET', '/hello/2', '/hello/:name', 200], ['req-1', 'GET', '/hello/1', '/hello/:name', 200], ['req-0', 'GET', '/hello/0', '/hello/:name', 200],
  ]);
  assert.deepEqual(seen.recent[0]!.tasks.map((task) => [task.name, task.kind, task.state]), [['greet', 'after', 'completed']]);
  const greet = seen.tasks.find((l) => l.name === 'greet')!;
  assert.equal(greet.kind, 'after');
  assert.ok(greet.perSecond > 0 && greet.runP95Ms !== null && greet.waitP95Ms !== null);
  assert.equal(seen.tasks.some((l) => l.name.includes('codaDashboard')), false, "the dashboard runs no task of its own");
  assert.equal(seen.durable, null);
});

test('only the dashboard\'s own requests that authorize let in are left out: a request refused, or under its path and none of its routes, is shown and counted', async (t) => {
  const authorize = (request: HttpRequest): boolean => request.headers.get('authorization') === 'Bearer admin';
  const app = createApp({ routes: [get('/users/:id', () => new HttpResponse('user')), ...dashboard({ authorize })] });
  const server = await startServer(app);
  t.after(() => server.close());
  const admin = { authorization: 'Bearer admin' };
  const send = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
    const response = await fetch(server.url + path, { headers });
    await response.text();
    return response.status;
  };
  assert.equal(await send('/users/1'), 200);
  assert.equal(await send('/coda/snapshot', { authorization: 'Bearer guess' }), 403);
  assert.equal(await send('/coda/wp-login.php'), 404);
  assert.equal(await send('/coda', admin), 200);
  assert.equal(await send('/coda/dashboard.js', admin), 200);
  const response = await fetch(`${server.url}/coda/snapshot`, { headers: admin });
  const snapshot = await response.json() as Snapshot;
  assert.deepEqual(snapshot.recent.map((r) => [r.path, r.status]), [['/coda/wp-login.php', 404], ['/coda/snapshot', 403], ['/users/1', 200]]);
  assert.equal(snapshot.requests.total, 3);
  assert.ok(snapshot.recent.every((r) => r.durationMs !== null && r.at <= Date.now()));
});

test('two requests with the same X-Request-Id each get their own status and duration in the recent requests', async (t) => {
  const gate = deferred();
  const waiting = deferred();
  const app = createApp({
    routes: [
      get('/wait', async () => {
        waiting.resolve();
        await gate.promise;
        return new HttpResponse('late', { status: 202 });
      }),
      get('/now', () => new HttpResponse('now')),
      ...dashboard({ authorize: allowAll }),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const headers = { 'x-request-id': 'retry-7' };
  const slow = fetch(`${server.url}/wait`, { headers });
  await waiting.promise;
  assert.equal((await fetch(`${server.url}/now`, { headers })).status, 200);
  gate.resolve();
  assert.equal((await slow).status, 202);
  const snapshot = await (await fetch(`${server.url}/coda/snapshot`)).json() as Snapshot;
  assert.deepEqual(snapshot.recent.map((r) => [r.id, r.path, r.status, r.route]), [['retry-7', '/now', 200, '/now'], ['retry-7', '/wait', 202, '/wait']]);
});

test('a request whose client left before the response\'s head went out shows 499, as the access log and the metrics record it, not the status never sent', async (t) => {
  const { routes, leave } = clientLeftRoutes();
  const app = createApp({ accessLog: false, routes: [...routes, ...dashboard({ authorize: allowAll })] });
  const server = await startServer(app);
  t.after(() => server.close());
  await leave(server, app);
  const snapshot = await (await fetch(`${server.url}/coda/snapshot`)).json() as Snapshot;
  assert.deepEqual(snapshot.recent.map((r) => [r.path, r.status]), [['/streamed', 200], ['/left', 499]]);
});

test('recent requests are a bounded ring: the oldest go first', async (t) => {
  const app = createApp({ routes: [get('/n/:n', () => new HttpResponse('ok')), ...dashboard({ authorize: allowAll, recentRequests: 3 })] });
  const server = await startServer(app);
  t.after(() => server.close());
  for (let i = 0; i < 5; i++) await (await fetch(`${server.url}/n/${i}`)).text();
  await app.settle();
  const snapshot = await (await fetch(`${server.url}/coda/snapshot`)).json() as { requests: { total: number }; recent: { path: string }[] };
  assert.equal(snapshot.requests.total, 5);
  assert.deepEqual(snapshot.recent.map((r) => r.path), ['/n/4', '/n/3', '/n/2']);
});

/** Serves an app with the dashboard whose POST /sync registers `register()`'s tasks, then `durable` with {}; its snapshot once they are done. */
async function snapshotOfSync(t: TestContext, durable: Task<object>, register: () => void): Promise<{ app: App; snapshot: Snapshot }> {
  const app = createApp({
    tasks: { definitions: [durable], store: sqliteStore({ path: ':memory:' }) },
    routes: [post('/sync', () => {
      register();
      after(durable, {});
      return new HttpResponse('accepted', { status: 202 });
    }), ...dashboard({ authorize: allowAll })],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  assert.equal((await fetch(`${server.url}/sync`, { method: 'POST' })).status, 202);
  await app.settle();
  return { app, snapshot: await (await fetch(`${server.url}/coda/snapshot`)).json() as Snapshot };
}

test('error messages are cut to 2,000 characters, as payloads are: a task failing with a megabyte of text costs the dashboard 2 KB a time', async (t) => {
  const huge = `upstream said: ${'<html>'.repeat(200_000)}`;
  const upstream = task('upstream', () => {
    throw new NonRetryableError(huge);
  });
  const { snapshot } = await snapshotOfSync(t, upstream, () => {
    after(function fetchUpstream() { throw new Error(huge); });
  });
  const errors = [...snapshot.recent[0]!.tasks.map((end) => end.error), ...snapshot.failed[0]!.errors.map((error) => error.message)];
  assert.equal(errors.length, 3, 'the after task, the durable attempt under its request, the failed task');
  for (const error of errors) {
    assert.match(error!, /^(Error|NonRetryableError): upstream said: <html>/);
    assert.equal(error!.length, 2_001, 'cut, with an ellipsis');
  }
});

test('a task that throws a value String() throws on (an object without a prototype, a toString that throws) is shown as inspected: it took the process down with an uncaught exception, its after-response task and its durable attempt alike', async (t) => {
  const bare = (): object => Object.assign(Object.create(null) as object, { code: 42 });
  const unprintable = { toString(): string { throw new Error('no text'); } };
  const upstream = task('upstream', () => {
    throw bare();
  }, { attempts: 1 });
  const { app, snapshot } = await snapshotOfSync(t, upstream, () => {
    after(function bareThrow() { throw bare(); });
    after(function unprintableThrow() { throw unprintable; });
  });
  assert.deepEqual(snapshot.recent[0]!.tasks.map((end) => [end.name, end.state, end.error]), [
    ['bareThrow', 'failed', '[Object: null prototype] { code: 42 }'],
    ['unprintableThrow', 'failed', '{ toString: [Function: toString] }'],
    ['upstream', 'failed', '[Object: null prototype] { code: 42 }'],
  ]);
  assert.deepEqual(app.afterStats().failed, 2);
});

test('request paths are cut to 2,000 characters, in the recent requests and under a failed task: 50 requests of 16 KB paths cost the dashboard 100 KB, not 800 KB a snapshot', async (t) => {
  const ref = 'r'.repeat(12_000);
  const charge = task('charge', () => {
    throw new NonRetryableError('declined');
  });
  const app = createApp({
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: [post('/orders/:ref', () => {
      after(charge, {});
      return new HttpResponse('accepted', { status: 202 });
    }), ...dashboard({ authorize: allowAll })],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  assert.equal((await fetch(`${server.url}/orders/${ref}`, { method: 'POST' })).status, 202);
  assert.equal((await fetch(`${server.url}/missing/${ref}`)).status, 404);
  await app.settle();
  const snapshot = await (await fetch(`${server.url}/coda/snapshot`)).json() as Snapshot;
  const paths = [...snapshot.recent.map((request) => request.path), snapshot.failed[0]!.request!.path];
  assert.deepEqual(paths, [`/missing/${ref.slice(0, 2_000 - '/missing/'.length)}…`, `/orders/${ref.slice(0, 2_000 - '/orders/'.length)}…`, `/orders/${ref.slice(0, 2_000 - '/orders/'.length)}…`]);
});

test('the method of the request under a failed task is cut to 200 characters, as in the recent requests: a task a middleware registers for each request kept a 100 KB method (app.fetch takes any) whole in every snapshot', async (t) => {
  const charge = task('charge', () => {
    throw new NonRetryableError('declined');
  });
  // An audit trail kept for every request, before routing: a request no route answers registers its task too.
  const audit: MiddlewareHooks = {
    processRequest: () => {
      after(charge, {});
      return undefined;
    },
  };
  const app = createApp({
    accessLog: false,
    middleware: [audit],
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: dashboard({ authorize: allowAll }),
  });
  const refused = await app.fetch(new Request('http://localhost/orders', { method: 'M'.repeat(100_000) }));
  assert.equal(refused.status, 404);
  await refused.text();
  await app.settle();
  const snapshot = await (await app.fetch(new Request('http://localhost/coda/snapshot'))).json() as Snapshot;
  assert.equal(snapshot.recent[0]!.method, `${'M'.repeat(200)}…`);
  assert.equal(snapshot.failed[0]!.request!.method, `${'M'.repeat(200)}…`);
});

test('task names and methods are cut to 200 characters: 50 requests whose 20 tasks each are named after a 12 KB path cost the dashboard some 400 KB a snapshot, not 13 MB', async (t) => {
  const app = createApp({
    accessLog: false,
    routes: [get('/notify/:who', (request) => {
      for (let i = 0; i < 20; i++) after(() => {}, { name: `notify ${request.params.who} #${i}` });
      return new HttpResponse('ok');
    }), ...dashboard({ authorize: allowAll })],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const who = 'w'.repeat(12_000);
  for (let i = 0; i < 50; i++) assert.equal((await fetch(`${server.url}/notify/${who}${i}`)).status, 200);
  // app.fetch takes a method of any length (a token): the request is a 405.
  const refused = await app.fetch(new Request(`${server.url}/notify/x`, { method: 'M'.repeat(100_000) }));
  assert.equal(refused.status, 405);
  await refused.text();
  await app.settle();
  const text = await (await fetch(`${server.url}/coda/snapshot`)).text();
  const snapshot = JSON.parse(text) as Snapshot;
  assert.equal(snapshot.recent[0]!.method, `${'M'.repeat(200)}…`);
  const names = [...snapshot.recent.flatMap((request) => request.tasks.map((end) => end.name)), ...snapshot.tasks.map((line) => line.name)];
  // Names alike in their first 200 characters are one task line.
  assert.equal(names.length, 49 * 20 + 1, 'the task ends of the 49 latest requests, and one task line');
  for (const name of names) assert.equal(name, `notify ${who.slice(0, 200 - 'notify '.length)}…`);
  assert.ok(text.length < 500_000, `a snapshot of ${text.length} characters`);
});

test('event streams are bounded: past maxClients a 503, and a client that leaves frees its place', async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll, maxClients: 1 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const first = await openEvents(`${server.url}/coda/events`);
  await snapshotWhere(first.events, () => true);
  const refused = await fetch(`${server.url}/coda/events`);
  assert.equal(refused.status, 503);
  assert.match(await refused.text(), /too many dashboard pages are open \(maxClients\)/);
  first.close();
  await app.settle();
  const second = await openEvents(`${server.url}/coda/events`);
  t.after(second.close);
  assert.equal(second.response.status, 200);
  await snapshotWhere(second.events, () => true);
});

test('an open event stream asks authorize again before each message: once it refuses (false, or a thrown Unauthorized), the stream ends with nothing more sent and frees its place', { timeout: 10_000 }, async (t) => {
  // Each authorize lets in its first two calls (the stream opening, its first snapshot), then refuses: decided where the stream is, so the count is exact.
  let calls = 0;
  const refuseThird = (): boolean => ++calls <= 2;
  const throwThird = (): boolean => {
    if (++calls > 2) throw new Unauthorized('logged out');
    return true;
  };
  /** Reads a stream to its end, counting the snapshots it sent: it must end on its own. */
  const snapshotsUntilEnd = async (events: AsyncGenerator<StreamEvent>): Promise<number> => {
    let sent = 0;
    for await (const event of events) if (event.type === 'snapshot') sent++;
    return sent;
  };
  for (const [authorize, heartbeatMs] of [[refuseThird, 60_000], [throwThird, 20]] as const) {
    const app = createApp({ routes: [get('/work', () => new HttpResponse('done')), ...dashboard({ authorize, intervalMs: 10, heartbeatMs, maxClients: 1 })] });
    const server = await startServer(app);
    t.after(() => server.close());
    calls = 0;
    const stream = await openEvents(`${server.url}/coda/events`);
    t.after(stream.close);
    assert.equal(stream.response.status, 200);
    await snapshotWhere(stream.events, () => true);
    // The next message is a changed snapshot (traffic) in the first app, a heartbeat of the idle stream in the second.
    if (heartbeatMs > 1_000) await (await fetch(`${server.url}/work`)).text();
    assert.equal(await snapshotsUntilEnd(stream.events), 0, authorize.name);
    assert.equal(calls, 3);
    calls = 0;
    const next = await openEvents(`${server.url}/coda/events`);
    t.after(next.close);
    assert.equal(next.response.status, 200, 'the ended stream freed its place (maxClients: 1)');
  }
});

test('an idle event stream carries heartbeat comments', async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll, intervalMs: 10, heartbeatMs: 30 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  for (;;) {
    const { value } = await stream.events.next();
    if (value?.type === 'comment') {
      assert.equal(value.text, 'heartbeat');
      break;
    }
  }
});

test('an open event stream does not hold up graceful shutdown: it ends when close() begins', { timeout: 5_000 }, async () => {
  const app = createApp({ routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  const stream = await openEvents(`${server.url}/coda/events`);
  await snapshotWhere(stream.events, () => true);
  const report = await server.close({ timeoutMs: 60_000 });
  assert.equal(report.requestsInFlightAtClose, 1);
  assert.equal((await stream.events.next()).done, true);
});

test('an app served again after its server closed (a server restarted, a socket test client per test) streams its dashboard again', { timeout: 10_000 }, async () => {
  const app = createApp({ routes: dashboard({ authorize: allowAll }) });
  for (const round of [1, 2]) {
    const server = await startServer(app);
    const stream = await openEvents(`${server.url}/coda/events`);
    assert.equal(stream.response.status, 200, `round ${round}: ${stream.response.status}`);
    await snapshotWhere(stream.events, () => true);
    await server.close({ timeoutMs: 5_000 });
    assert.equal((await stream.events.next()).done, true);
  }
});

test('one app on two servers: closing one ends the event streams on its connections only; a page on the other streams on', { timeout: 10_000 }, async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll, intervalMs: 20 }) });
  const [closing, staying] = [await startServer(app), await startServer(app)];
  t.after(() => staying.close());
  const [onClosing, onStaying] = [await openEvents(`${closing.url}/coda/events`), await openEvents(`${staying.url}/coda/events`)];
  t.after(onStaying.close);
  await snapshotWhere(onClosing.events, () => true);
  await snapshotWhere(onStaying.events, () => true);
  // Its deadline far off: the stream must not hold the drain up to it (the test's timeout would fail first).
  const report = await closing.close({ timeoutMs: 60_000 });
  assert.equal(report.requestsInFlightAtClose, 1);
  assert.equal((await onClosing.events.next()).done, true);
  // The other page still gets snapshots: a request on its server shows in the next one.
  await fetch(`${staying.url}/nothing-here`).then((res) => res.text());
  await snapshotWhere(onStaying.events, (snapshot) => JSON.stringify(snapshot).includes('/nothing-here'));
  const again = await openEvents(`${staying.url}/coda/events`);
  assert.equal(again.response.status, 200);
  again.close();
});

test('an event stream whose client reads nothing does not hold up graceful shutdown either: cut when close() begins, while a page that keeps up ends gracefully', { timeout: 20_000 }, async () => {
  // 500 recent requests of 20 failed tasks, each error 2,000 characters: a 20 MB snapshot, more than a paused client's socket takes.
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/work', () => {
        for (let i = 0; i < 20; i++) after(() => { throw new Error('x'.repeat(2_000)); }, { name: `t${i}` });
        return new HttpResponse('done');
      }),
      ...dashboard({ authorize: allowAll, recentRequests: 500 }),
    ],
  });
  for (let i = 0; i < 500; i++) await (await app.fetch(new Request('http://localhost/work'))).text();
  await app.settle();
  const server = await startServer(app);
  // A tab whose machine went to sleep: it asked for the stream, took its head and reads nothing more.
  const asleep = await connect(server);
  asleep.write('GET /coda/events HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await once(asleep, 'data');
  asleep.pause();
  // The snapshot is handed to every stream at once: once this page has read it whole, the sleeping one is stuck on it.
  const awake = (await fetch(`${server.url}/coda/events`)).body!.getReader();
  const decoder = new TextDecoder();
  // Only the last characters kept: the snapshot is one line of JSON, so "}" and a blank line end it.
  for (let tail = ''; !tail.endsWith('}\n\n');) {
    const { value, done } = await awake.read();
    assert.equal(done, false, 'the stream ended before its snapshot');
    tail = (tail + decoder.decode(value, { stream: true })).slice(-8);
  }
  // Its deadline far off: the sleeping tab held the drain up to it (the test's timeout fails first).
  const report = await server.close({ timeoutMs: 60_000 });
  assert.equal(report.requestsInFlightAtClose, 2);
  assert.equal((await awake.read()).done, true, 'the page that kept up got the stream\'s end, not a cut');
  // The sleeping tab, woken, finds its connection closed (reset, or ended once it reads what was sent).
  const closed = new Promise((resolve) => asleep.once('close', resolve));
  asleep.on('error', () => {});
  asleep.resume();
  await closed;
});

test('an event stream whose client reads nothing, all it was sent already in the kernel\'s buffers (nothing left in Node\'s), is ended gracefully at close() without holding it up: the client, reading later, gets every byte and the stream\'s end', { timeout: 10_000 }, async () => {
  const app = createApp({ routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  // Paused before anything arrives: the snapshot (a few KB) waits in the socket buffers, well under what they hold.
  const asleep = await connect(server);
  asleep.pause();
  asleep.write('GET /coda/events HTTP/1.1\r\nHost: localhost\r\n\r\n');
  // The snapshot is handed to every stream at once: once this page has it, the sleeping one's is written too.
  const awake = await openEvents(`${server.url}/coda/events`);
  await snapshotWhere(awake.events, () => true);
  // Its deadline far off: a stream ended gracefully whose end the kernel could not take would hold the drain up to it.
  const report = await server.close({ timeoutMs: 60_000 });
  assert.equal(report.requestsInFlightAtClose, 2);
  const chunks: Buffer[] = [];
  asleep.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = once(asleep, 'close');
  asleep.resume();
  await closed;
  const text = Buffer.concat(chunks).toString('utf8');
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /\nevent: snapshot\ndata: \{/, 'the snapshot');
  assert.ok(text.endsWith('\r\n0\r\n\r\n'), `the stream's end (the last chunk), not a cut: ${JSON.stringify(text.slice(-20))}`);
});

test('over HTTP/2 an event stream whose client gives it no window is reset when close() begins, not waited for until the drain\'s deadline', { timeout: 20_000 }, async (t) => {
  const { key, cert } = selfSigned();
  const app = createApp({ routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app, { tls: { key, cert }, http2: true });
  // A client that takes nothing: no flow-control window for any stream of its session.
  const session = http2.connect(server.url, { ca: cert, settings: { initialWindowSize: 0 } });
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/coda/events' });
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  assert.equal(headers[':status'], 200);
  const closed = once(stream, 'close');
  const report = await server.close({ timeoutMs: 60_000 });
  assert.equal(report.requestsInFlightAtClose, 1);
  await closed;
  assert.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL);
});

test('failed durable tasks show with payload and errors; Retry and Discard need the action header and act on the store', async (t) => {
  let failing = true;
  const charge = task('charge', (payload: { order: number }) => {
    if (failing) throw new NonRetryableError(`card declined for order ${payload.order}`);
  });
  const app = createApp({
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: [post('/orders/:n', (request) => {
      after(charge, { order: Number(request.params.n) });
      return new HttpResponse('accepted', { status: 202 });
    }), ...dashboard({ authorize: allowAll, intervalMs: 20 })],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const stream = await openEvents(`${server.url}/coda/events`);
  t.after(stream.close);
  for (const n of [1, 2]) assert.equal((await fetch(`${server.url}/orders/${n}`, { method: 'POST' })).status, 202);
  const failedSeen = await snapshotWhere(stream.events, (s) => s.failed.length === 2);
  assert.equal(failedSeen.durable?.failed, 2);
  const [second, first] = failedSeen.failed;
  assert.equal(first!.payload, '{"order":1}');
  assert.equal(first!.name, 'charge');
  assert.equal(first!.attempts, 1);
  assert.deepEqual(first!.errors.map((e) => e.message), ['NonRetryableError: card declined for order 1']);
  assert.equal(first!.request?.path, '/orders/1');

  const bare = await fetch(`${server.url}/coda/tasks/${first!.id}/retry`, { method: 'POST' });
  assert.equal(bare.status, 403);
  assert.match(await bare.text(), /need the x-coda-dashboard: 1 header/);
  const crossSite = await fetch(`${server.url}/coda/tasks/${first!.id}/retry`, { method: 'POST', headers: { ...ACTION, 'sec-fetch-site': 'cross-site' } });
  assert.equal(crossSite.status, 403);

  failing = false;
  const retried = await fetch(`${server.url}/coda/tasks/${first!.id}/retry`, { method: 'POST', headers: ACTION });
  assert.deepEqual(await retried.json(), { id: first!.id, retried: true });
  const discarded = await fetch(`${server.url}/coda/tasks/${second!.id}/discard`, { method: 'POST', headers: ACTION });
  assert.deepEqual(await discarded.json(), { id: second!.id, discarded: true });
  // As every answer of the dashboard's: not sniffed, not cached.
  for (const answer of [retried, discarded]) {
    assert.deepEqual([answer.headers.get('x-content-type-options'), answer.headers.get('cache-control')], ['nosniff', 'no-store']);
  }
  const after_ = await snapshotWhere(stream.events, (s) => s.failed.length === 0 && s.durable?.completed === 1);
  assert.equal(after_.durable?.failed, 0);
  assert.equal(after_.tasks.find((l) => l.name === 'charge' && l.kind === 'durable')?.states.completed, 1);

  const again = await fetch(`${server.url}/coda/tasks/${first!.id}/retry`, { method: 'POST', headers: ACTION });
  assert.equal(again.status, 409);
  assert.match(await again.text(), /is completed: it cannot be retried/);
  const missing = await fetch(`${server.url}/coda/tasks/no-such-task/discard`, { method: 'POST', headers: ACTION });
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /no durable task no-such-task/);
});

test('Retry and Discard with hostile ids (15 KB, emoji, an encoded climb, SQL, lone surrogates) on the SQLite store: a 404 naming the id cut to 200 characters (it was sent back whole), a 400 for bytes that are no UTF-8; app.tasks finds nothing; nothing logged as an error', async (t) => {
  const charge = task('charge', () => {});
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }), run: false }, routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const { id } = await app.tasks.enqueue(charge, {});
  await assertHostileIdsFindNothing(app, server.url, id, lines);
});

test('a task action while the store is unavailable (its file locked by another process past busyTimeoutMs) is a 503 with Retry-After naming the store, not a 500; it acts once the store is back', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-dashboard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const charge = task('charge', () => {});
  const app = createApp({ tasks: { definitions: [charge], store: sqliteStore({ path: file, busyTimeoutMs: 50 }), run: false }, routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const { id } = await app.tasks.enqueue(charge, {});
  const other = new DatabaseSync(file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const refused = await fetch(`${server.url}/coda/tasks/${id}/discard`, { method: 'POST', headers: ACTION });
  const body = await refused.text();
  assert.equal(refused.status, 503, body);
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.match(body, /^the task could not be acted on now: sqlite store .*tasks\.db is unavailable: /);
  other.exec('ROLLBACK');
  const discarded = await fetch(`${server.url}/coda/tasks/${id}/discard`, { method: 'POST', headers: ACTION });
  assert.deepEqual(await discarded.json(), { id, discarded: true });
});

test('an app without durable tasks answers the task actions with 404', async (t) => {
  const app = createApp({ routes: dashboard({ authorize: allowAll }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const res = await fetch(`${server.url}/coda/tasks/x/retry`, { method: 'POST', headers: ACTION });
  assert.equal(res.status, 404);
  assert.match(await res.text(), /this app has no durable tasks/);
});
