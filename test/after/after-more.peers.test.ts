// More after-response cases ported from peers' own suites, over real sockets
// (after.peers.test.ts has the first ones): Starlette's
// tests/middleware/test_base.py, test_errors.py and test_responses.py,
// Fastify's onResponse hooks (test/hooks.test.js), Laravel's named defer()
// (DeferredCallbackCollection) and request lifecycle duration, Next.js's AfterContext unit tests and Django's
// resource closers (a file response closes its file).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  after, createApp, get, HttpResponse, NotFound, staticFiles, StreamingResponse, type MiddlewareFactory, type Outcome, type TaskFailure,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { connect, deferred, LEVEL, memoryLogger, rawGet, rawRequest, served } from '../helpers.js';

const passthrough: MiddlewareFactory = (next) => (request) => next(request);

test("Starlette test_do_not_block_on_background_tasks: two requests at once, both answered in full while both their tasks are still running", async (t) => {
  const release = deferred();
  const started = [deferred(), deferred()];
  const heard: string[] = [];
  const { app, url } = await served(t, {
    middleware: [passthrough],
    routes: [get('/:n', (request) => new HttpResponse('Hello').after(async () => {
      heard.push('task started');
      started[Number(request.params.n)]!.resolve();
      await release.promise;
      heard.push('task finished');
    }))],
  });
  const bodies = await Promise.all([0, 1].map(async (n) => (await fetch(`${url}/${n}`)).text()));
  assert.deepEqual(bodies, ['Hello', 'Hello']);
  await Promise.all(started.map((s) => s.promise));
  assert.equal(app.afterStats().running, 2);
  release.resolve();
  await app.settle();
  assert.deepEqual(heard, ['task started', 'task started', 'task finished', 'task finished']);
});

test('Starlette test_run_background_tasks_even_if_client_disconnects: a client that leaves once it has the whole response, behind a passthrough middleware: the task runs, its outcome completed, not aborted', async (t) => {
  const release = deferred();
  const outcomes: Outcome[] = [];
  const { app, server } = await served(t, {
    middleware: [passthrough],
    routes: [get('/', () => new HttpResponse('bye').after(async ({ outcome }) => {
      await release.promise;
      outcomes.push(outcome);
    }))],
  });
  const socket = await connect(server);
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
  socket.write(rawGet('/', { connection: 'keep-alive' }));
  // The whole response (its body is the last thing in it), then the client goes.
  while (!received.endsWith('\r\n\r\nbye')) await once(socket, 'data');
  socket.destroy();
  await once(socket, 'close');
  release.resolve();
  await app.settle();
  assert.equal(outcomes.length, 1);
  assert.equal(outcomes[0]?.completed, true);
  assert.equal(outcomes[0]?.aborted, false);
  assert.equal(outcomes[0]?.bytesSent, 3);
});

test('Starlette test_errors test_background_task: a 204 whose task throws is answered 204, and the error reaches after.onError with the response it ran for', async (t) => {
  const failures: TaskFailure[] = [];
  const { app, url } = await served(t, {
    after: { onError: (failure) => { failures.push(failure); } },
    routes: [get('/', () => new HttpResponse(null, { status: 204 }).after(function raiseException() { throw new Error('Something went wrong'); }))],
  });
  const response = await fetch(url);
  assert.equal(response.status, 204);
  assert.equal(await response.text(), '');
  await app.settle();
  assert.equal(failures.length, 1);
  assert.equal((failures[0]?.error as Error).message, 'Something went wrong');
  assert.equal(failures[0]?.name, 'raiseException');
  assert.equal(failures[0]?.context.response.status, 204);
  assert.equal(failures[0]?.context.outcome.completed, true);
  assert.equal(app.afterStats().failed, 1);
});

test("Starlette test_file_response with a background task, Django's closers: a streamed file's task runs once every byte was sent and the file was closed; staticFiles' requestFinished counts the file's bytes (none for HEAD)", async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'coda-after-file-'));
  t.after(() => rmSync(folder, { recursive: true, force: true }));
  const content = Buffer.alloc(256 * 1024, 'x');
  writeFileSync(join(folder, 'example.png'), content);
  const seen: string[] = [];
  const finished: Record<string, Outcome> = {};
  const { app, server, url } = await served(t, {
    routes: [
      get('/download', () => {
        const file = createReadStream(join(folder, 'example.png'));
        return new StreamingResponse(file, { headers: { 'content-type': 'image/png' } })
          .after(({ outcome }) => { seen.push(`${outcome.bytesSent} ${String(outcome.completed)} closed ${String(file.closed)}`); });
      }),
      staticFiles('/static', { root: folder }),
    ],
  });
  app.signals.requestFinished.connect(({ request, outcome }) => { finished[`${request.method} ${request.path}`] = outcome; });
  const download = await fetch(url + '/download');
  assert.equal(download.headers.get('content-type'), 'image/png');
  assert.equal((await download.arrayBuffer()).byteLength, content.length);
  const file = await fetch(url + '/static/example.png');
  assert.equal((await file.arrayBuffer()).byteLength, content.length);
  const head = await rawRequest(server, rawGet('/static/example.png', {}, 'HEAD'));
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(content.length));
  await app.settle();
  assert.deepEqual(seen, [`${content.length} true closed true`]);
  assert.equal(finished['GET /static/example.png']?.bytesSent, content.length);
  assert.equal(finished['GET /static/example.png']?.completed, true);
  assert.equal(finished['HEAD /static/example.png']?.bytesSent, 0);
  assert.equal(finished['HEAD /static/example.png']?.completed, true);
});

test("Fastify 'onResponse hook should log request error': an afterResponse hook that throws or rejects is logged at error level, naming the hook and the request; the answer is a 200 and the other hooks run", async (t) => {
  const { logger, lines } = memoryLogger();
  const heard: string[] = [];
  const { app, url } = await served(t, {
    logger,
    middleware: [
      { name: 'outer', afterResponse() { heard.push('outer'); } },
      { name: 'kaboom', afterResponse() { throw new Error('kaboom'); } },
      { name: 'later', async afterResponse() { await Promise.resolve(); throw new Error('later kaboom'); } },
    ],
    routes: [get('/root', () => new HttpResponse(null))],
  });
  const response = await fetch(url + '/root');
  assert.equal(response.status, 200);
  await response.text();
  await app.settle();
  assert.deepEqual(heard, ['outer']);
  const errors = lines.filter((line) => line.level === LEVEL.error);
  // Sorted: the sync throw and the rejection are reported as each happens.
  assert.deepEqual(errors.map((line) => [line.task, (line.err as { message?: string } | undefined)?.message, line.method, line.path]).sort(), [
    ['kaboom.afterResponse', 'kaboom', 'GET', '/root'],
    ['later.afterResponse', 'later kaboom', 'GET', '/root'],
  ]);
  assert.ok(errors.every((line) => typeof line.requestId === 'string'), JSON.stringify(errors));
  assert.equal(app.afterStats().failed, 2);
});

test("Fastify 'hooks that resolve to a value do not cause an error', Next.js callbacks that return a promise: tasks, afterResponse hooks and receivers that return values complete, none failed", async (t) => {
  const { app, url } = await served(t, {
    middleware: [{ async afterResponse() { await Promise.resolve(); return 'a value'; } }],
    routes: [get('/', () => {
      after(() => Promise.resolve(42));
      const thenable: PromiseLike<string> = { then: (onFulfilled) => Promise.resolve('thenable').then(onFulfilled) };
      return new HttpResponse('ok').after(() => thenable);
    })],
  });
  app.signals.requestFinished.connect(async () => 'ignored');
  assert.equal(await (await fetch(url)).text(), 'ok');
  await app.settle();
  const stats = app.afterStats();
  assert.equal(stats.completed, 4);
  assert.equal(stats.failed, 0);
});

test("Laravel's named defer(): two tasks given one name both run, where Laravel keeps only the last (in Coda a name labels the task; it is not a key)", async (t) => {
  const ran: string[] = [];
  const { app, url } = await served(t, {
    routes: [get('/', () => {
      after(() => { ran.push('first'); }, { name: 'refresh-profile' });
      after(() => { ran.push('second'); }, { name: 'refresh-profile' });
      return new HttpResponse('ok');
    })],
  });
  assert.equal(await (await fetch(url)).text(), 'ok');
  await app.settle();
  assert.deepEqual(ran, ['first', 'second']);
  assert.equal(app.afterStats().completed, 2);
});

test("Next.js 'runs after() callbacks from a run() callback that streams': after() in a Web stream's async start(), after awaits, runs its tasks once the stream was consumed", async (t) => {
  const outcomes: Outcome[] = [];
  const record = ({ outcome }: { outcome: Outcome }): void => { outcomes.push(outcome); };
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const { app, server } = await served(t, {
    routes: [get('/', () => new Response(new ReadableStream<string>({
      async start(controller) {
        await turn();
        after(record);
        controller.enqueue('one');
        await turn();
        after(record);
        controller.enqueue('two');
        await turn();
        controller.close();
      },
    }).pipeThrough(new TextEncoderStream())))],
  });
  const socket = await connect(server);
  socket.resume();
  socket.write(rawGet('/'));
  await once(socket, 'close');
  await app.settle();
  assert.equal(outcomes.length, 2);
  for (const outcome of outcomes) {
    assert.equal(outcome.completed, true);
    assert.equal(outcome.bytesSent, 6);
  }
});

test("Next.js 'runs callbacks from nested after calls': after() three deep, each inside the task before, all run for the request, in order", async (t) => {
  const ran: string[] = [];
  const { app, url } = await served(t, {
    routes: [get('/nested-after', (request) => {
      after(async () => {
        ran.push(`#1 ${request.path}`);
        await Promise.resolve();
        after(() => {
          ran.push('#2');
          after(({ request: own, outcome }) => { ran.push(`#3 ${own.path} ${outcome.status}`); });
        });
      });
      return new HttpResponse('ok');
    })],
  });
  assert.equal(await (await fetch(url + '/nested-after')).text(), 'ok');
  await app.settle();
  assert.deepEqual(ran, ['#1 /nested-after', '#2', '#3 /nested-after 200']);
});

test("Next.js 'runs callbacks if notFound() was called', Django's handler404 and handler500: after() and response.after() in the app's error pages run, with the status sent", async (t) => {
  const ran: string[] = [];
  const { app, server } = await served(t, {
    errorPages: {
      404: (request) => {
        after(({ outcome }) => { ran.push(`404 page after() ${request.path} ${outcome.status}`); });
        return new HttpResponse('not here').after(({ outcome }) => { ran.push(`404 page response.after() ${outcome.status} ${outcome.bytesSent}`); });
      },
      500: async () => {
        await Promise.resolve();
        after(({ outcome }) => { ran.push(`500 page after() ${outcome.status}`); });
        return new HttpResponse('broken');
      },
    },
    routes: [
      get('/calls-not-found', () => { after(() => { ran.push('view after()'); }); throw new NotFound(); }),
      get('/throws-error', () => { throw new Error('render failed'); }),
    ],
  });
  for (const [path, status, body] of [['/nowhere', 404, 'not here'], ['/calls-not-found', 404, 'not here'], ['/throws-error', 500, 'broken']] as const) {
    const answer = await rawRequest(server, rawGet(path));
    assert.equal(answer.status, status, path);
    assert.equal(answer.body.toString(), body, path);
  }
  await app.settle();
  assert.deepEqual(ran, [
    '404 page after() /nowhere 404', '404 page response.after() 404 8',
    'view after()', '404 page after() /calls-not-found 404', '404 page response.after() 404 8',
    '500 page after() 500',
  ]);
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`Starlette test_run_background_tasks_raise_exceptions, test client over ${transport}: a task that fails fails no request and no settle(); client.tasks holds its error (Starlette's TestClient raises it)`, async () => {
    const failure = new Error('TEST');
    const app = createApp({
      after: { onError: () => {} },
      middleware: [passthrough],
      routes: [get('/', () => new HttpResponse('').after(async function sleepAndRaise() { await Promise.resolve(); throw failure; }))],
    });
    await using client = createTestClient(app, { transport });
    const response = await client.get('/');
    assert.equal(response.status, 200);
    await client.settle();
    assert.deepEqual(client.tasks.map((record) => [record.name, record.state, record.error]), [['sleepAndRaise', 'failed', failure]]);
  });
}

test("Laravel's request lifecycle duration (whenRequestLifecycleIsLongerThan): a streamed response's outcome spans from before requestStarted to its last byte, and ends before its task starts", async (t) => {
  const marks: Record<string, number> = {};
  const release = deferred();
  const { app, server } = await served(t, {
    middleware: [(next) => (request) => { marks.middleware = performance.now(); return next(request); }],
    routes: [get('/', () => new StreamingResponse((async function* () {
      yield 'first ';
      await release.promise;
      marks.lastChunk = performance.now();
      yield 'last';
    })()).after(({ outcome }) => {
      marks.task = performance.now();
      marks.startedAt = outcome.startedAt;
      marks.finishedAt = outcome.finishedAt;
    }))],
  });
  app.signals.requestStarted.connect(() => { marks.requestStarted = performance.now(); });
  const socket = await connect(server);
  socket.write(rawGet('/'));
  let received = '';
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
  await once(socket, 'data');
  release.resolve();
  await once(socket, 'close');
  assert.match(received, /first [\s\S]*last/);
  await app.settle();
  const order = ['startedAt', 'requestStarted', 'middleware', 'lastChunk', 'finishedAt', 'task'];
  for (let i = 1; i < order.length; i++) {
    assert.ok(marks[order[i - 1]!]! <= marks[order[i]!]!, `${order[i - 1]!} then ${order[i]!}: ${JSON.stringify(marks)}`);
  }
});
