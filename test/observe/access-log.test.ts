// The access log (one info line per request, on by default) and the request
// id echoed in a response header (when `requestIdHeader` names one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse, StreamingResponse, type AppOptions } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger, startServer, type LogLine } from '../helpers.js';
import { clientLeftRoutes } from './client-left.js';

const routes = [
  get('/users/:id', (request) => new HttpResponse(`user ${request.params.id}`)),
  get('/own-id', () => new HttpResponse('mine', { headers: { 'x-request-id': 'set-by-the-view' } })),
  get('/stream', () => new StreamingResponse((async function* () { yield 'a'; yield 'bc'; })())),
];

function accessLines(lines: LogLine[]): LogLine[] {
  return lines.filter((line) => line.durationMs !== undefined);
}

function appWith(options: AppOptions = {}): { client: ReturnType<typeof createTestClient>; lines: LogLine[] } {
  const { logger, lines } = memoryLogger();
  return { client: createTestClient(createApp({ routes, logger, ...options })), lines };
}

test('one info line per request, once its response is done: method, route, path, status, duration, bytes, request id and the client\'s address', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({ routes, logger, requestIdHeader: 'x-request-id' });
  const server = await startServer(app, { host: '127.0.0.1' });
  try {
    const res = await fetch(`${server.url}/users/7?x=1`);
    assert.equal(await res.text(), 'user 7');
    assert.equal((await fetch(`${server.url}/missing`)).status, 404);
    await app.settle();
    const [hit, miss] = accessLines(lines);
    const id = res.headers.get('x-request-id')!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.deepEqual({ ...hit, durationMs: typeof hit!.durationMs, time: undefined, pid: undefined, hostname: undefined }, {
      level: LEVEL.info, requestId: id, method: 'GET', route: '/users/:id', path: '/users/7', status: 200,
      durationMs: 'number', bytes: 6, remoteAddress: '127.0.0.1', msg: `GET /users/7 200 ${hit!.durationMs} ms`, time: undefined, pid: undefined, hostname: undefined,
    });
    assert.ok((hit!.durationMs as number) >= 0);
    assert.equal(miss!.route, null);
    assert.equal(miss!.status, 404);
    assert.equal(accessLines(lines).length, 2);
  } finally {
    await server.close();
  }
});

test('a client that left before the response\'s head went out is logged with status 499, as nginx logs it, not the status never sent; one that left mid-body with the status sent', async (t) => {
  const { logger, lines } = memoryLogger();
  const { routes: leaving, leave } = clientLeftRoutes();
  const app = createApp({ routes: leaving, logger });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  await leave(server, app);
  const logged = accessLines(lines).map(({ path, status, aborted, msg }) => ({ path, status, aborted, msg: String(msg).replace(/ [\d.]+ ms/, ' ms') }));
  assert.deepEqual(logged, [
    { path: '/left', status: 499, aborted: true, msg: 'GET /left 499 ms (client went away)' },
    { path: '/streamed', status: 200, aborted: true, msg: 'GET /streamed 200 ms (client went away)' },
  ]);
});

test('a streamed response is logged with the bytes it sent', async () => {
  const { client, lines } = appWith();
  assert.equal(await (await client.get('/stream')).text(), 'abc');
  await client.settle();
  assert.deepEqual(accessLines(lines).map((line) => [line.path, line.bytes]), [['/stream', 3]]);
});

test('the request id: a sane incoming X-Request-Id is kept, logged and echoed; a bad one is replaced; a header the app set wins', async () => {
  const { client, lines } = appWith({ requestIdHeader: 'x-request-id' });
  const kept = await client.get('/users/1', { headers: { 'x-request-id': 'edge-42' } });
  assert.equal(kept.headers.get('x-request-id'), 'edge-42');
  const replaced = await client.get('/users/2', { headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(replaced.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  assert.equal((await client.get('/own-id')).headers.get('x-request-id'), 'set-by-the-view');
  await client.settle();
  assert.deepEqual(accessLines(lines).map((line) => line.requestId).slice(0, 2), ['edge-42', replaced.headers.get('x-request-id')]);
});

test('the request id\'s bounds: letters, digits and _.:+=/- up to 200 characters kept; a quote, a brace, a percent sign, a backslash, an angle bracket or an empty id replaced', async () => {
  const { client, lines } = appWith({ requestIdHeader: 'x-request-id' });
  const longest = `aZ09_.:+=/-${'x'.repeat(189)}`;
  assert.equal(longest.length, 200);
  assert.equal((await client.get('/users/1', { headers: { 'x-request-id': longest } })).headers.get('x-request-id'), longest);
  const hostile = ['"quoted"', '{"level":60}', '%0A', 'a\\b', '<script>', ''];
  const replaced: string[] = [];
  for (const id of hostile) {
    const answer = await client.get('/users/2', { headers: { 'x-request-id': id } });
    assert.match(answer.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/, JSON.stringify(id));
    replaced.push(answer.headers.get('x-request-id')!);
  }
  await client.settle();
  assert.deepEqual(accessLines(lines).map((line) => line.requestId), [longest, ...replaced]);
});

test('the request id on a response shared by many requests (a module-level constant): each request gets its own', async () => {
  const shared = new HttpResponse('the same for all');
  await using client = createTestClient(createApp({ routes: [get('/', () => shared)], logger: memoryLogger().logger, requestIdHeader: 'x-request-id' }));
  const ids: (string | null)[] = [];
  for (const id of ['first-1', 'second-2']) ids.push((await client.get('/', { headers: { 'x-request-id': id } })).headers.get('x-request-id'));
  assert.deepEqual(ids, ['first-1', 'second-2']);
  assert.equal(shared.headers.get('x-request-id'), null, 'the shared response itself is left as it was');
});

test('accessLog: false writes no line; requestIdHeader names another header, or false for none', async () => {
  const quiet = appWith({ accessLog: false, requestIdHeader: 'X-Trace-Id' });
  const res = await quiet.client.get('/users/1');
  assert.match(res.headers.get('x-trace-id')!, /^[0-9a-f-]{36}$/);
  assert.equal(res.headers.get('x-request-id'), null);
  await quiet.client.settle();
  assert.deepEqual(accessLines(quiet.lines), []);

  const bare = appWith(); // the default: no header
  assert.equal((await bare.client.get('/users/1')).headers.get('x-request-id'), null);
  await bare.client.settle();
  assert.equal(accessLines(bare.lines).length, 1);
});

test('no line is built when the logger does not write info', async () => {
  const { logger, lines } = memoryLogger();
  logger.level = 'warn';
  await using client = createTestClient(createApp({ routes, logger }));
  await client.get('/users/1');
  await client.settle();
  assert.deepEqual(lines, []);
});

test('bad accessLog and requestIdHeader options are refused, naming the option', () => {
  assert.throws(() => createApp({ accessLog: 'yes' as never }), /createApp\(\): accessLog must be true or false, got string "yes"/);
  assert.throws(() => createApp({ requestIdHeader: 'x request id' }), /createApp\(\): requestIdHeader must be a header name or false, got string "x request id"/);
  assert.throws(() => createApp({ requestIdHeader: true as never }), /requestIdHeader must be a header name or false, got/);
  assert.throws(() => createApp({ acessLog: false } as never), /unknown option "acessLog"; did you mean "accessLog"\?/);
});

test('the access log follows its logger\'s level as it changes: no line while the level drops info, lines again once it does not', async () => {
  const { logger, lines } = memoryLogger();
  const client = createTestClient(createApp({ routes, logger }));
  await client.get('/users/1');
  logger.level = 'warn';
  await client.get('/users/2');
  logger.level = 'info';
  await client.get('/users/3');
  await client.settle();
  assert.deepEqual(accessLines(lines).map((line) => line.path), ['/users/1', '/users/3']);
});
