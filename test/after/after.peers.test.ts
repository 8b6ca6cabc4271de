// After-response cases ported from peers' own suites, run over real sockets:
// Next.js after() (test/e2e/app-dir/next-after-app*), Starlette's
// BackgroundTasks (tests/test_background.py), Fastify's onResponse
// (test/hooks.test.js), Laravel's terminable middleware and defer(), Django's
// request_started and request_finished (tests/handlers, tests/signals).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { after as afterAll, before, describe, test } from 'node:test';
import {
  after, createApp, get, HttpResponse, NotFound, post, redirect, StreamingResponse, type App, type MiddlewareHooks, type Outcome, type Server,
} from 'coda-http';
import { connect, deferred, rawGet, rawRequest, startServer } from '../helpers.js';

describe('after-response work, as peers test it', { timeout: 10_000 }, () => {
  const seen: Record<string, Outcome[]> = {};
  const log: string[] = [];
  const viewStarted = deferred();
  function record(key: string) {
    return ({ outcome }: { outcome: Outcome }) => { (seen[key] ??= []).push(outcome); };
  }
  const terminable: MiddlewareHooks = {
    afterResponse(request, _response, outcome) { if (request.path.startsWith('/mw')) (seen[`mw:${request.path}`] ??= []).push(outcome); },
  };
  let server: Server;
  let app: App;
  const innerApp = createApp({ routes: [get('/inner', () => { after(record('inner')); return new HttpResponse('inner response'); })] });
  before(async () => {
    app = createApp({
      after: { onError: () => {} },
      middleware: [terminable, (next) => async (request) => {
        // Next.js "after() in middleware": registered on the way in, before the view.
        if (request.path === '/mw/factory') after(record('factory'));
        const response = await next(request);
        // Laravel: a terminable middleware inside this one is terminated with the response sent, not the one it saw.
        return request.path === '/mw/replaced' ? new HttpResponse('replaced', { status: 202 }) : response;
      }, {
        processRequest(request) {
          if (request.path === '/mw/short') {
            after(record('short'));
            return redirect('/elsewhere');
          }
          // Next.js "runs in middleware": a redirect, followed; the task reads the request's query and cookies.
          if (request.path === '/mw/redirect-source') {
            after(({ request: own }) => { log.push(`middleware task: ${own.query.get('requestId')} ${own.cookies.get('testCookie')}`); });
            return redirect('/mw/factory');
          }
        },
        afterResponse(request, response, outcome) {
          if (request.path === '/mw/replaced') (seen['inner terminate'] ??= []).push({ ...outcome, status: response.status });
        },
      }],
      routes: [
        // Next.js: "runs after() callbacks even if the page calls notFound()" / throws.
        get('/throws-not-found', () => { after(record('not-found')); throw new NotFound('gone'); }),
        get('/throws', () => { after(record('throws')); throw new Error('boom'); }),
        get('/redirects', () => { after(record('redirect')); return redirect('/target', 307); }),
        get('/mw/factory', () => new HttpResponse('ok')),
        get('/mw/replaced', () => new HttpResponse('replaced soon')),
        // Starlette's background task on an error response the view returns (not throws).
        get('/error-response', () => new HttpResponse('unavailable', { status: 503 })
          .after(record('error-response')).after(record('error-response success'), { when: 'success' })),
        // Django's request_finished for a client that leaves mid-stream: the stream waits for it to go.
        get('/stream-hangs', (request) => new StreamingResponse((async function* () {
          yield 'a';
          await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
        })())),
        // Next.js nested after(): after() after an await inside a task.
        get('/nested', () => {
          after(async () => {
            log.push('outer');
            await Promise.resolve();
            after(() => { log.push('inner'); });
          });
          return new HttpResponse('ok');
        }),
        // Fastify onResponse for HEAD, 204 and 304.
        get('/head', () => new HttpResponse('0123456789').after(record('head'))),
        get('/no-content', () => new HttpResponse(null, { status: 204 }).after(record('204'))),
        get('/not-modified', () => new HttpResponse('stale', { status: 304 }).after(record('304'))),
        // Starlette: a background task on a streaming response runs after the stream.
        get('/stream', () => {
          const response = new StreamingResponse(Readable.from(['a', 'b', 'c']));
          return response.after(({ outcome }) => { (seen.stream ??= []).push(outcome); });
        }),
        // Starlette's background task on a streaming response, Next.js's incomplete stream: the source fails after its first chunk.
        get('/stream-fails', () => new StreamingResponse((async function* () {
          yield 'ab';
          throw new Error('source failed');
        })()).after(record('stream-fails')).after(record('stream-fails completed'), { when: 'completed' }).after(record('stream-fails success'), { when: 'success' })),
        // Fastify's onRequestAbort: the client leaves while the view works.
        get('/slow', async (request) => {
          after(record('left'));
          after(record('left-completed'), { when: 'completed' });
          viewStarted.resolve();
          // Answers only once the client is gone.
          await once(request.raw!.socket, 'close');
          return new HttpResponse('too late');
        }),
        // Starlette's test_multiple_tasks (and, unlike Starlette, a failing task does not stop the next).
        get('/many', () => new HttpResponse('ok')
          .after(() => { log.push('task 1'); })
          .after(() => { throw new Error('task 2 fails'); })
          .after(async () => { await Promise.resolve(); log.push('task 3'); })),
        post('/echo', async (request) => new HttpResponse(await request.text()).after(record('echo')), { bodyLimit: 2 }),
        // Next.js "runs after() callbacks from a run() callback that streams": after() in a Web stream's pull().
        get('/web-stream', () => {
          let pulls = 0;
          return new Response(new ReadableStream<Uint8Array>({
            pull(controller) {
              if (pulls === 1) after(record('web-stream'));
              if (pulls++ < 2) controller.enqueue(new TextEncoder().encode('ab'));
              else controller.close();
            },
          }));
        }),
        // Laravel's "deferred callback is not discarded by sync job": a nested request in between keeps its own tasks.
        get('/nested-request', async () => {
          after(record('outer before'));
          const inner = await innerApp.fetch(new Request('http://localhost/inner'));
          await inner.text();
          after(record('outer after'));
          return new HttpResponse('outer');
        }),
      ],
    });
    // Django's request_finished for a streaming response: sent once the stream was consumed.
    app.signals.requestFinished.connect(({ request, outcome }) => { if (request.path === '/stream') (seen['finished stream'] ??= []).push(outcome); });
    app.signals.requestFinished.connect(({ request, outcome }) => { (seen[`finished:${request.method} ${request.path}`] ??= []).push(outcome); });
    app.signals.requestStarted.connect(({ request }) => { if (request.path === '/keep-alive') log.push('started'); });
    app.signals.requestFinished.connect(({ request }) => { if (request.path === '/keep-alive') log.push('finished'); });
    server = await startServer(app);
  });
  afterAll(() => server.close({ timeoutMs: 1_000 }));

  const settled = (): Promise<void> => app.settle();

  test('a view that registers after() then throws NotFound or crashes: the task still runs, with the error status', async () => {
    assert.equal((await fetch(server.url + '/throws-not-found')).status, 404);
    assert.equal((await fetch(server.url + '/throws')).status, 500);
    await settled();
    assert.equal(seen['not-found']?.[0]?.status, 404);
    assert.equal(seen['throws']?.[0]?.status, 500);
  });

  test('after() in middleware: from a factory on the way in, and from a processRequest that answers with a redirect', async () => {
    assert.equal((await fetch(server.url + '/mw/factory')).status, 200);
    assert.equal((await fetch(server.url + '/mw/short', { redirect: 'manual' })).status, 302);
    await settled();
    assert.equal(seen['factory']?.[0]?.status, 200);
    assert.equal(seen['short']?.[0]?.status, 302);
    // Laravel: terminate() runs for the middleware that let the request through and for the one that answered.
    assert.equal(seen['mw:/mw/short']?.[0]?.status, 302);
    assert.equal(seen['mw:/mw/factory']?.[0]?.completed, true);
  });

  test('after() from a view that redirects runs, with the redirect status', async () => {
    const response = await fetch(server.url + '/redirects', { redirect: 'manual' });
    assert.equal(response.status, 307);
    assert.equal(response.headers.get('location'), '/target');
    await settled();
    assert.equal(seen['redirect']?.[0]?.status, 307);
  });

  test('after() inside a task, after an await, runs too (nested after)', async () => {
    await (await fetch(server.url + '/nested')).text();
    await settled();
    assert.deepEqual(log, ['outer', 'inner']);
  });

  test('HEAD, 204 and 304: tasks run with a completed outcome and no body bytes', async () => {
    const head = await rawRequest(server, rawGet('/head', {}, 'HEAD'));
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '10');
    assert.equal(head.body.length, 0);
    const noContent = await rawRequest(server, rawGet('/no-content'));
    assert.equal(noContent.status, 204);
    assert.equal(noContent.headers['content-length'], undefined);
    const notModified = await rawRequest(server, rawGet('/not-modified'));
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    await settled();
    for (const key of ['head', '204', '304']) {
      const outcome = seen[key]?.[0];
      assert.equal(outcome?.completed, true, key);
      assert.equal(outcome?.aborted, false, key);
      assert.equal(outcome?.bytesSent, 0, key);
    }
  });

  test('a streaming response: its task runs after the stream ended, with every byte counted', async () => {
    assert.equal(await (await fetch(server.url + '/stream')).text(), 'abc');
    await settled();
    assert.equal(seen.stream?.[0]?.completed, true);
    assert.equal(seen.stream?.[0]?.bytesSent, 3);
  });

  test("a stream that fails after its first chunk: 'always' tasks and requestFinished get the error, the bytes sent, completed false; 'completed' and 'success' ones are skipped", async () => {
    const socket = await connect(server);
    socket.on('error', () => {});
    socket.resume();
    socket.write(rawGet('/stream-fails'));
    await once(socket, 'close');
    await settled();
    for (const key of ['stream-fails', 'finished:GET /stream-fails']) {
      const outcome = seen[key]?.[0];
      assert.equal(outcome?.status, 200, key);
      assert.equal(outcome?.completed, false, key);
      assert.equal((outcome?.error as Error | undefined)?.message, 'source failed', key);
      assert.equal(outcome?.bytesSent, 2, key);
    }
    assert.equal(seen['stream-fails completed'], undefined);
    assert.equal(seen['stream-fails success'], undefined);
  });

  test('requestFinished (Fastify onResponse) fires for routing errors and for bodies refused before the view', async () => {
    assert.equal((await fetch(server.url + '/nowhere')).status, 404);
    assert.equal((await fetch(server.url + '/echo')).status, 405);
    const tooLarge = await rawRequest(server, 'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc');
    assert.equal(tooLarge.status, 413);
    await settled();
    assert.equal(seen['finished:GET /nowhere']?.[0]?.status, 404);
    assert.equal(seen['finished:GET /echo']?.[0]?.status, 405);
    assert.equal(seen['finished:POST /echo']?.[0]?.status, 413);
    assert.equal(seen['echo'], undefined);
  });

  test('a client that leaves while the view works: its tasks run with aborted, when: completed ones are skipped', async () => {
    const socket = await connect(server);
    socket.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await viewStarted.promise;
    socket.destroy();
    await settled();
    assert.equal(seen.left?.[0]?.aborted, true);
    assert.equal(seen.left?.[0]?.completed, false);
    assert.equal(seen['left-completed'], undefined);
  });

  test('several tasks run in order; one that fails does not stop the next (Starlette stops there)', async () => {
    await (await fetch(server.url + '/many')).text();
    await settled();
    assert.deepEqual(log.filter((line) => line.startsWith('task')), ['task 1', 'task 3']);
    assert.equal(app.afterStats().failed, 1);
  });

  test('requestFinished for a streaming response comes once the stream was consumed (Django request_finished)', async () => {
    seen['finished stream'] = [];
    assert.equal(await (await fetch(server.url + '/stream')).text(), 'abc');
    await settled();
    assert.equal(seen['finished stream'][0]?.bytesSent, 3);
    assert.equal(seen['finished stream'][0]?.completed, true);
  });

  test('after() inside a Web ReadableStream the view returns runs once the stream was read (Next.js)', async () => {
    assert.equal(await (await fetch(server.url + '/web-stream')).text(), 'abab');
    await settled();
    assert.equal(seen['web-stream']?.[0]?.bytesSent, 4);
    assert.equal(seen['web-stream']?.[0]?.completed, true);
  });

  test("a nested request between two after() calls: both stay the outer request's, the inner's its own (Laravel's deferred callbacks and a sync job)", async () => {
    assert.equal(await (await fetch(server.url + '/nested-request')).text(), 'outer');
    await settled();
    await innerApp.settle();
    assert.equal(seen['outer before']?.[0]?.bytesSent, 5);
    assert.equal(seen['outer after']?.[0]?.bytesSent, 5);
    assert.equal(seen['inner']?.length, 1);
    assert.equal(seen['inner']?.[0]?.bytesSent, 14);
  });

  test('after() in a middleware that redirects, the redirect followed: the task reads the request\'s query and cookies (Next.js "runs in middleware")', async () => {
    const response = await fetch(server.url + '/mw/redirect-source?requestId=r-17', { headers: { cookie: 'testCookie=testValue' } });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok');
    await settled();
    assert.ok(log.includes('middleware task: r-17 testValue'), log.join(', '));
  });

  test('a terminable middleware inside one that replaces the response is terminated with the response sent (Laravel)', async () => {
    assert.equal(await (await fetch(server.url + '/mw/replaced')).text(), 'replaced');
    await settled();
    assert.equal(seen['inner terminate']?.length, 1);
    assert.equal(seen['inner terminate']?.[0]?.status, 202);
    assert.equal(seen['mw:/mw/replaced']?.[0]?.status, 202);
  });

  test("a view that returns an error response: its 'always' tasks run with the status, 'success' ones are skipped (Starlette's background task on an error response)", async () => {
    assert.equal((await fetch(server.url + '/error-response')).status, 503);
    await settled();
    assert.equal(seen['error-response']?.[0]?.status, 503);
    assert.equal(seen['error-response']?.[0]?.completed, true);
    assert.equal(seen['error-response success'], undefined);
  });

  test('requestStarted then requestFinished, once each, for each of three requests (Django test_request_signals)', async () => {
    // fetch keeps its connection alive; each request's tasks are awaited before the next, as Django's test client runs them.
    for (let i = 0; i < 3; i++) {
      assert.equal((await fetch(server.url + '/keep-alive')).status, 404);
      await settled();
    }
    assert.deepEqual(log.filter((line) => line === 'started' || line === 'finished'), ['started', 'finished', 'started', 'finished', 'started', 'finished']);
  });

  test('a client that leaves mid-stream: requestFinished is sent once, after it left, with an aborted outcome (Django request_finished)', async () => {
    const socket = await connect(server);
    socket.on('error', () => {});
    socket.write(rawGet('/stream-hangs'));
    await once(socket, 'data');
    socket.destroy();
    await settled();
    const finished = seen['finished:GET /stream-hangs'];
    assert.equal(finished?.length, 1);
    assert.equal(finished[0]?.aborted, true);
    assert.equal(finished[0]?.completed, false);
    assert.equal(finished[0]?.bytesSent, 1);
  });
});
