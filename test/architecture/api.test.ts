// The names ../shared/design/api.md fixes, used as it writes them: outside
// suites are written against these, so a rename or a change of shape fails
// here (at run time, and in `npm test`'s type-check, which covers test/).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  createApp, serve,
  route, get, post, put, patch, del,
  HttpRequest, HttpResponse, JsonResponse, StreamingResponse, redirect,
  HttpError, BadRequest, Unauthorized, PermissionDenied, NotFound,
  MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType,
  MiddlewareNotUsed,
  after, signals,
  task, NonRetryableError, runWorker, sqliteStore,
  include, staticFiles, cors, metricsView, dashboard,
  type Middleware, type MiddlewareFactory, type Outcome,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { bullmqStore } from 'coda-http/bullmq';
import { memoryLogger } from '../helpers.js';
import { buildApp, clientCalls, connectSignals, hookLog, servers } from './api-usage.js';

test('every fixed name is exported, with the kind api.md gives it', () => {
  const classes = {
    HttpRequest, HttpResponse, JsonResponse, StreamingResponse, HttpError, BadRequest, Unauthorized, PermissionDenied,
    NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType, MiddlewareNotUsed, NonRetryableError,
  };
  for (const [name, value] of Object.entries(classes)) assert.equal(typeof value?.prototype, 'object', `${name} is a class`);
  const functions = {
    createApp, serve, route, get, post, put, patch, del, redirect, after, task, runWorker, sqliteStore, bullmqStore,
    include, staticFiles, cors, metricsView, dashboard, createTestClient,
  };
  for (const [name, value] of Object.entries(functions)) assert.equal(typeof value, 'function', `${name} is a function`);
  for (const error of [BadRequest, Unauthorized, PermissionDenied, NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType]) {
    assert.ok(error.prototype instanceof HttpError, `${error.name} is an HttpError`);
  }
  assert.equal(typeof signals.requestStarted.connect, 'function');
  assert.equal(typeof signals.requestFinished.connect, 'function');
});

test('the app, middleware, after-response and testing snippets run as api.md writes them', async () => {
  const outcomes: Outcome[] = [];
  const timing: MiddlewareFactory = (getResponse) => async (request) => {
    const response = await getResponse(request);
    response.headers.set('x-timed', '1');
    return response;
  };
  const auth: Middleware = {
    processRequest(request) {
      if (request.headers.get('authorization') === 'no') throw new PermissionDenied('not you');
    },
    afterResponse(_request, _response, outcome) {
      outcomes.push(outcome);
    },
  };
  const unused: MiddlewareFactory = () => {
    throw new MiddlewareNotUsed('off here');
  };
  const showUser = (request: HttpRequest): HttpResponse => {
    after(({ outcome }) => void outcomes.push(outcome), { name: 'audit', when: 'success', timeoutMs: 1_000 });
    return new JsonResponse({ id: request.params.id });
  };
  const app = createApp({
    routes: [
      get('/users/:id', showUser, { name: 'user' }),
      route(['GET', 'POST'], '/files/*', () => new HttpResponse('file')),
      post('/go', () => redirect('/users/7')),
      put('/p', () => new HttpResponse(null, { status: 204 })),
      patch('/p', () => { throw new BadRequest('bad patch'); }),
      del('/p', () => new StreamingResponse((async function* () { yield 'a'; yield 'b'; })())),
    ],
    middleware: [timing, auth, unused],
    debug: false,
    bodyLimit: 1024 * 1024,
    after: { concurrency: 64, maxPending: 10_000, timeoutMs: 30_000, onError: () => {} },
  });
  assert.equal(app.reverse('user', { id: 7 }), '/users/7');
  const disconnect = signals.requestFinished.connect(({ outcome }) => void outcomes.push(outcome));
  try {
    const client = createTestClient(app);
    const res = await client.get('/users/7', { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-timed'), '1');
    assert.deepEqual(await res.json(), { id: '7' });
    assert.equal((await client.post('/go')).headers.get('location'), '/users/7');
    assert.equal((await client.patch('/p')).status, 400);
    assert.equal(await (await client.delete('/p')).text(), 'ab');
    assert.equal((await client.request('GET', '/users/7', { headers: { authorization: 'no' } })).status, 403);
    await client.settle();
    const states = (name: string): string[] => client.tasks.filter((record) => record.name === name).map(({ state }) => state);
    assert.deepEqual(states('audit'), ['completed'], 'registered by the one view reached');
    assert.deepEqual(states('middleware[1].afterResponse'), Array(5).fill('completed'), 'one per request, the refused one too');
    await app.settle();
    const stats = app.afterStats();
    for (const key of ['pending', 'running', 'completed', 'failed', 'timedOut', 'shed'] as const) assert.equal(typeof stats[key], 'number', key);
    assert.ok(outcomes.length >= 5);
  } finally {
    disconnect();
  }

  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
  assert.equal((await fetch(`${server.url}/users/3`)).status, 200);
  const report = await server.close({ timeoutMs: 10_000 });
  assert.equal(typeof report.tasksCompleted, 'number');
  assert.deepEqual(report.tasksAbandoned, []);
  assert.equal(report.requestsInFlightAtClose, 0);
});

test('the durable-task and web-essentials snippets run as api.md writes them', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const welcomed: string[] = [];
  const sendWelcome = task('send-welcome', async (payload: { userId: string }, ctx) => {
    assert.equal(typeof ctx.id, 'string');
    assert.equal(ctx.name, 'send-welcome');
    assert.equal(ctx.attempt, 1);
    assert.ok(ctx.signal instanceof AbortSignal);
    assert.equal(typeof ctx.log.info, 'function');
    welcomed.push(`${payload.userId}:${ctx.outcome?.status ?? 'none'}:${ctx.request?.path ?? 'none'}`);
  }, { attempts: 5, backoff: { type: 'exponential', delayMs: 1000 }, timeoutMs: 30_000, concurrency: 4 });
  const apiRoutes = [
    post('/users/:id', (request) => {
      after(sendWelcome, { userId: request.params.id }, { when: 'success', key: `welcome:${request.params.id}`, delayMs: 0 });
      const response = new HttpResponse('made', { status: 201 });
      response.setCookie('theme', 'dark', { maxAge: 3600, sameSite: 'lax', httpOnly: true, signed: false });
      return response.after(sendWelcome, { userId: `${request.params.id}-again` });
    }),
    get('/whoami', (request) => new JsonResponse({
      theme: request.cookies.get('theme') ?? null, ip: request.ip, ips: request.ips, protocol: request.protocol, host: request.host,
    })),
  ];
  const app = createApp({
    routes: [include('/api', apiRoutes, { middleware: [] }), staticFiles('/assets', { root: dir })],
    middleware: [cors({ origins: ['https://app.example'], credentials: true })],
    trustProxy: false,
    errorPages: { 404: () => new HttpResponse('no such page', { status: 404 }) },
    appendSlash: false,
    secret: 'a secret of the test, long enough to sign with',
    tasks: { definitions: [sendWelcome], store: sqliteStore({ path: path.join(dir, 'tasks.db') }) },
  });
  await using client = createTestClient(app);
  const made = await client.post('/api/users/7', { headers: { origin: 'https://app.example' } });
  assert.equal(made.status, 201);
  assert.equal(made.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(made.headers.get('set-cookie') ?? '', /^theme=dark; Max-Age=3600;.*HttpOnly/);
  assert.equal((await client.get('/nowhere')).status, 404);
  const who = await (await client.get('/api/whoami', { headers: { cookie: 'theme=light' } })).json() as Record<string, unknown>;
  assert.equal(who.theme, 'light');
  assert.equal(who.protocol, 'http');
  await client.settle();
  assert.deepEqual(welcomed.sort(), ['7-again:201:/api/users/7', '7:201:/api/users/7']);
  const { id } = await app.tasks.enqueue(sendWelcome, { userId: '8' });
  await client.settle();
  assert.equal((await app.tasks.stats()).completed, 3);
  assert.equal((await app.tasks.list({ state: 'failed' })).length, 0);
  assert.equal(await app.tasks.retry(id), false, 'a completed task is not retried');
  assert.equal(await app.tasks.discard(id), true);
});

test('the rest of api.md runs as api-usage.ts writes it: Web Responses, headers, errors, hooks, schema, cookies, signals, app.handler, adapters', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { logger, lines } = memoryLogger();
  const app = buildApp(logger, dir);
  const seen: string[] = [];
  const disconnect = connectSignals(seen);
  await using client = createTestClient(app);
  const web = await client.get('/web/5');
  assert.deepEqual([web.status, await web.text(), web.headers.get('x-web'), web.headers.get('x-hooks')], [200, 'web 5', '1', 'response']);
  assert.ok(hookLog.includes('view function {"id":"5"}'), hookLog.join('; '));
  await client.settle();
  disconnect();
  await client.get('/web/6');
  assert.deepEqual(seen, ['started /web/5', 'finished /web/5 200 200'], 'disconnected after the first');

  const headers = await client.get('/headers');
  assert.equal(await headers.text(), 'bytes');
  assert.deepEqual([headers.headers.get('x-a'), headers.headers.get('x-b')], [null, '2']);
  assert.deepEqual(headers.headers.getSetCookie(), ['a=1', 'b=2'], 'each Set-Cookie kept apart');
  const moved = await client.get('/moved');
  assert.deepEqual([moved.status, moved.headers.get('location')], [301, '/headers']);
  for (const [where, status] of [['/teapot', 418], ['/401', 401], ['/404', 404], ['/405', 405], ['/413', 413], ['/415', 415], ['/caught', 418]] as const) {
    assert.equal((await client.get(where)).status, status, where);
  }
  assert.equal((await client.get('/405')).headers.get('allow'), 'GET');
  assert.equal(await (await client.get('/boom')).text(), 'our fault', 'errorPages[500]');
  assert.ok(lines.some((line) => line.level === 50), 'the error logged through the app\'s logger');

  assert.equal(await (await client.post('/named', { json: { name: 'Ada' } })).text(), 'hello Ada');
  const refused = await client.post('/named', { json: { name: 7 } });
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /name must be a string/);

  const first = await client.get('/cookies', { headers: { cookie: 'theme=dark' } });
  assert.equal(await first.text(), 'none');
  const [session, theme] = first.headers.getSetCookie();
  assert.match(session!, /^session=u1\./, 'signed');
  assert.match(theme!, /^theme=; .*Max-Age=0|^theme=; .*Expires=Thu, 01 Jan 1970/, 'deleted');
  assert.equal(await (await client.get('/cookies', { headers: { cookie: session!.split(';')[0]! } })).text(), 'u1');

  assert.match(await clientCalls(client), /^204 .*send-welcome:string:completed:true/);
  assert.ok(hookLog.includes('welcome 9'));
  assert.ok(hookLog.some((entry) => entry.startsWith('after /headers 200 true false')), hookLog.join('; '));
  const metrics = await client.get('/metrics');
  assert.deepEqual([metrics.status, metrics.headers.get('content-type')?.split(';')[0]], [200, 'text/plain'], 'Prometheus text');
  assert.equal((await client.get('/coda', { headers: { 'x-admin': 'yes' } })).status, 200);
  assert.notEqual((await client.get('/coda')).status, 200, 'authorize() refused it');
  assert.equal(await (await app.fetch(new Request('http://localhost/web/8'))).text(), 'web 8');

  const { own, served } = servers(app);
  own.listen(0, '127.0.0.1');
  await once(own, 'listening');
  t.after(() => new Promise((resolve) => own.close(resolve)));
  assert.equal(await (await fetch(`http://127.0.0.1:${(own.address() as AddressInfo).port}/web/1`)).text(), 'web 1');
  const server = await served();
  assert.equal(await (await fetch(`${server.url}/web/2`)).text(), 'web 2');
  await server.close({ timeoutMs: 10_000 });

  for (const name of ['express', 'fastify', 'koa', 'hono']) {
    const adapter = await import(`coda-http/${name}`) as { coda?: unknown; after?: unknown };
    assert.deepEqual([typeof adapter.coda, typeof adapter.after], ['function', 'function'], `coda-http/${name}`);
  }
});
