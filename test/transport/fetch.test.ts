// app.fetch(request): the Web-standard entry point. Plain Request objects in,
// Response objects out, through the same pipeline as over a socket; the
// after-response work waits for the body to be read or cancelled.
import assert from 'node:assert/strict';
import { getEventListeners, once } from 'node:events';
import { describe, test } from 'node:test';
import {
  after, createApp, get, HttpResponse, JsonResponse, PermissionDenied, post, sqliteStore, StreamingResponse, task,
  type HttpRequest, type MiddlewareHooks, type Outcome,
} from 'coda-http';
import { deferred, memoryLogger, LEVEL } from '../helpers.js';

const BASE = 'http://coda.test';

/** An app whose after-response hook records each request's outcome by path. */
function makeApp(routes: Parameters<typeof createApp>[0] extends infer O ? O extends { routes?: infer R } ? R : never : never) {
  const outcomes = new Map<string, Outcome>();
  const log = memoryLogger();
  const tag: MiddlewareHooks = {
    processRequest(request) {
      request.state.tagged = request.headers.get('x-tag');
    },
    processResponse(request, response) {
      response.headers.set('x-tagged', String(request.state.tagged));
      return response;
    },
    afterResponse(request, _response, outcome) {
      outcomes.set(request.path, outcome);
    },
  };
  const app = createApp({ logger: log.logger, bodyLimit: 1024, middleware: [tag], routes });
  return { app, outcomes, lines: log.lines };
}

async function* chunks(parts: string[], done?: () => void): AsyncGenerator<string> {
  try {
    yield* parts;
  } finally {
    done?.();
  }
}

describe('app.fetch: the pipeline', () => {
  const { app, outcomes } = makeApp([
    get('/notes/:id', (request) => new JsonResponse({ id: request.params.id, query: request.query.get('q'), host: request.headers.get('host') })),
    post('/notes', async (request) => new JsonResponse({ got: await request.json() }, { status: 201 })),
    get('/forbidden', () => {
      throw new PermissionDenied('not yours');
    }),
    get('/crash', () => {
      throw new Error('boom');
    }),
  ]);

  test('GET: routing, params, query, middleware on the way in and out; Host from the URL', async () => {
    const response = await app.fetch(new Request(`${BASE}/notes/7?q=x`, { headers: { 'x-tag': 'yes' } }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-tagged'), 'yes');
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await response.json(), { id: '7', query: 'x', host: 'coda.test' });
    await app.settle();
    assert.deepEqual([outcomes.get('/notes/7')!.completed, outcomes.get('/notes/7')!.status], [true, 200]);
  });

  test('POST: the body is read from the Request', async () => {
    const response = await app.fetch(new Request(`${BASE}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hi"}' }));
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), { got: { text: 'hi' } });
  });

  test('errors and routing errors are the same responses as over a socket', async () => {
    const forbidden = await app.fetch(new Request(`${BASE}/forbidden`, { headers: { accept: 'application/json' } }));
    assert.equal(forbidden.status, 403);
    assert.match(await forbidden.text(), /not yours/);
    const crash = await app.fetch(new Request(`${BASE}/crash`));
    assert.equal(crash.status, 500);
    assert.doesNotMatch(await crash.text(), /boom/, 'no detail outside debug mode');
    const missing = await app.fetch(new Request(`${BASE}/nothing`));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const wrongMethod = await app.fetch(new Request(`${BASE}/notes/7`, { method: 'DELETE' }));
    assert.deepEqual([wrongMethod.status, wrongMethod.headers.get('allow')], [405, 'GET, HEAD, OPTIONS']);
    await wrongMethod.text();
  });

  test('HEAD: no body, the Content-Length a GET would get; the tasks run at once', async () => {
    const response = await app.fetch(new Request(`${BASE}/notes/7`, { method: 'HEAD' }));
    assert.equal(response.status, 200);
    assert.equal(response.body, null);
    assert.equal(response.headers.get('content-length'), String(JSON.stringify({ id: '7', query: null, host: 'coda.test' }).length));
    await app.settle();
    assert.deepEqual([outcomes.get('/notes/7')!.completed, outcomes.get('/notes/7')!.bytesSent], [true, 0]);
  });

  test('app.fetch is bound: a host can call it detached, as `export default { fetch: app.fetch }` does', async () => {
    const { fetch } = app;
    const response = await fetch(new Request(`${BASE}/notes/1`));
    assert.equal(response.status, 200);
    await response.text();
  });

  test('what is not a Request, or a Request whose body was read, is a TypeError saying so', async () => {
    await assert.rejects(app.fetch('/notes/7' as unknown as Request), { name: 'TypeError', message: 'app.fetch() takes a Request, got string "/notes/7"' });
    const used = new Request(`${BASE}/notes`, { method: 'POST', body: 'x' });
    await used.text();
    await assert.rejects(app.fetch(used), { name: 'TypeError', message: `app.fetch(): the body of the Request to POST ${BASE}/notes has been read already` });
    assert.equal(app.requestsInFlight, 0);
  });
});

describe('app.fetch: request bodies', () => {
  const { app } = makeApp([post('/size', async (request) => new HttpResponse(String((await request.bytes()).length)))]);

  test('a streamed body (no Content-Length) is read whole under the limit', async () => {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(500));
        controller.enqueue(new Uint8Array(500));
        controller.close();
      },
    });
    const response = await app.fetch(new Request(`${BASE}/size`, { method: 'POST', body, duplex: 'half' } as RequestInit));
    assert.deepEqual([response.status, await response.text()], [200, '1000']);
  });

  test('past bodyLimit: 413 naming the limit, declared or streamed; the connection-specific header of a 413 is left out', async () => {
    const declared = await app.fetch(new Request(`${BASE}/size`, { method: 'POST', body: 'x'.repeat(2000), headers: { 'content-length': '2000' } }));
    assert.equal(declared.status, 413);
    assert.match(await declared.text(), /request body too large: Content-Length 2000, the limit is 1024 bytes/);
    assert.equal(declared.headers.get('connection'), null);
    let pulled = 0;
    const endless = new ReadableStream({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(512));
      },
    });
    const streamed = await app.fetch(new Request(`${BASE}/size`, { method: 'POST', body: endless, duplex: 'half' } as RequestInit));
    assert.equal(streamed.status, 413);
    assert.match(await streamed.text(), /more than 1024 bytes/);
    assert.ok(pulled < 10, `reading stopped at the limit (${pulled} chunks pulled)`);
  });
});

describe('app.fetch: after-response work waits for the body', () => {
  test('a fixed body: the tasks run once it has been read, with the bytes counted', async () => {
    const ran = deferred<Outcome>();
    const { app } = makeApp([get('/text', () => {
      after(({ outcome }) => ran.resolve(outcome));
      return new HttpResponse('hello fetch');
    })]);
    const response = await app.fetch(new Request(`${BASE}/text`));
    assert.equal(response.headers.get('content-length'), '11');
    assert.equal(app.requestsInFlight, 1, 'not done before the body is read');
    assert.equal(await response.text(), 'hello fetch');
    const outcome = await ran.promise;
    assert.deepEqual([outcome.completed, outcome.aborted, outcome.bytesSent], [true, false, 11]);
  });

  test('a stream: its first chunk read before the Response (as a socket\'s head waits for it), the rest as it is read, in the request\'s context (after() works there); the tasks run after its end', async () => {
    const order: string[] = [];
    const outcome = deferred<Outcome>();
    const { app } = makeApp([get('/stream', () => new StreamingResponse(async function* () {
      order.push('first chunk');
      yield 'one,';
      after(({ outcome: o }) => {
        order.push('task');
        outcome.resolve(o);
      });
      order.push('second chunk');
      yield 'two';
    }))]);
    const response = await app.fetch(new Request(`${BASE}/stream`));
    assert.deepEqual(order, ['first chunk'], 'the first chunk, and nothing more, before the consumer asks');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    assert.equal(decoder.decode((await reader.read()).value), 'one,');
    assert.deepEqual(order, ['first chunk']);
    assert.equal(decoder.decode((await reader.read()).value), 'two');
    assert.equal((await reader.read()).done, true);
    const o = await outcome.promise;
    assert.deepEqual(order, ['first chunk', 'second chunk', 'task']);
    assert.deepEqual([o.completed, o.bytesSent], [true, 7]);
  });

  test('a stream cancelled by its consumer (the client going away): the source is closed, the tasks see an aborted outcome', async () => {
    const closed = deferred();
    const outcome = deferred<Outcome>();
    let signal: AbortSignal | undefined;
    const { app } = makeApp([get('/endless', () => {
      after(({ outcome: o }) => outcome.resolve(o));
      return new StreamingResponse(async function* (s) {
        signal = s;
        try {
          for (;;) yield 'tick\n';
        } finally {
          closed.resolve();
        }
      });
    })]);
    const response = await app.fetch(new Request(`${BASE}/endless`));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    const o = await outcome.promise;
    await closed.promise;
    assert.equal(signal?.aborted, true);
    assert.deepEqual([o.aborted, o.completed, o.bytesSent], [true, false, 5]);
  });

  test('the Request\'s signal aborting mid-stream: reads fail, the source is closed, the outcome is aborted', async () => {
    const outcome = deferred<Outcome>();
    const closed = deferred();
    const { app } = makeApp([get('/endless', () => {
      after(({ outcome: o }) => outcome.resolve(o));
      return new StreamingResponse(chunks(Array.from({ length: 1_000 }, () => 'tick\n'), closed.resolve));
    })]);
    const controller = new AbortController();
    const response = await app.fetch(new Request(`${BASE}/endless`, { signal: controller.signal }));
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort(new Error('client gone'));
    await assert.rejects(reader.read(), /client gone/);
    assert.deepEqual([(await outcome.promise).aborted, (await outcome.promise).completed], [true, false]);
    await closed.promise;
  });

  test('the Request\'s signal is followed only while the body is being read: no listener is left behind', async () => {
    const { app } = makeApp([get('/text', () => new HttpResponse('x')), get('/stream', () => new StreamingResponse(chunks(['a', 'b'])))]);
    for (const [path, done] of [['/text', 'read'], ['/stream', 'read'], ['/stream', 'cancelled']] as const) {
      const request = new Request(`${BASE}${path}`, { signal: new AbortController().signal });
      const before = getEventListeners(request.signal, 'abort').length;
      const response = await app.fetch(request);
      assert.equal(getEventListeners(request.signal, 'abort').length, before + 1, `${path}: followed while its body is open`);
      if (done === 'read') await response.text();
      else await response.body!.cancel();
      assert.equal(getEventListeners(request.signal, 'abort').length, before, `${path}: let go once ${done}`);
    }
  });

  test('a fixed body never read but cancelled: aborted, nothing counted', async () => {
    const { app, outcomes } = makeApp([get('/text', () => new HttpResponse('unread'))]);
    const response = await app.fetch(new Request(`${BASE}/text`));
    await response.body!.cancel();
    await app.settle();
    assert.deepEqual([outcomes.get('/text')!.aborted, outcomes.get('/text')!.bytesSent], [true, 0]);
  });

  test('a stream whose source fails mid-way: the consumer\'s read fails, the error is logged and in the outcome', async () => {
    const { app, outcomes, lines } = makeApp([get('/fails', () => new StreamingResponse(async function* () {
      yield 'partial';
      throw new Error('source broke');
    }))]);
    const response = await app.fetch(new Request(`${BASE}/fails`));
    await assert.rejects(response.text(), /source broke/);
    await app.settle();
    const outcome = outcomes.get('/fails')!;
    assert.deepEqual([outcome.aborted, (outcome.error as Error).message, outcome.bytesSent], [true, 'source broke', 7]);
    assert.ok(lines.some((l) => l.level === LEVEL.error && l.msg === 'streaming response failed mid-way; the Response body stream errored'));
  });

  test('a stream that fails before its first chunk: the error\'s own response instead (a 500, an HttpError\'s status), logged; the source let go, the tasks see it', async () => {
    const closed = deferred();
    const { app, outcomes, lines } = makeApp([
      get('/broken', () => new StreamingResponse(async function* () {
        throw new Error('no file');
      })),
      get('/denied', () => new StreamingResponse(async function* () {
        try {
          await Promise.resolve();
          throw new PermissionDenied('not yours either');
        } finally {
          closed.resolve();
        }
      })),
      get('/empty', () => new StreamingResponse(chunks([]))),
    ]);
    const broken = await app.fetch(new Request(`${BASE}/broken`));
    assert.equal(broken.status, 500);
    assert.match(await broken.text(), /Internal Server Error/);
    const denied = await app.fetch(new Request(`${BASE}/denied`));
    assert.equal(denied.status, 403);
    await denied.text();
    await closed.promise;
    const empty = await app.fetch(new Request(`${BASE}/empty`));
    assert.deepEqual([empty.status, await empty.text()], [200, '']);
    await app.settle();
    assert.equal((outcomes.get('/broken')!.error as Error).message, 'no file');
    assert.deepEqual([outcomes.get('/broken')!.status, outcomes.get('/broken')!.completed], [500, true]);
    assert.equal(outcomes.get('/denied')!.status, 403);
    assert.equal(outcomes.get('/empty')!.completed, true);
    assert.ok(lines.some((l) => l.level === LEVEL.error && (l.err as { message?: string } | undefined)?.message === 'no file'), 'the failure is logged');
  });

  test('the Request\'s signal aborting while the first chunk is awaited: the source is let go, the Response\'s body fails, the outcome is aborted', { timeout: 10_000 }, async () => {
    const closed = deferred();
    const started = deferred();
    const outcome = deferred<Outcome>();
    const { app } = makeApp([get('/idle', () => {
      after(({ outcome: o }) => outcome.resolve(o));
      return new StreamingResponse(async function* (signal) {
        try {
          started.resolve();
          await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
          yield 'never';
        } finally {
          closed.resolve();
        }
      });
    })]);
    const controller = new AbortController();
    const fetching = app.fetch(new Request(`${BASE}/idle`, { signal: controller.signal }));
    await started.promise;
    controller.abort(new Error('client gone'));
    const response = await fetching;
    await assert.rejects(response.text(), /client gone/);
    await closed.promise;
    assert.deepEqual([(await outcome.promise).aborted, (await outcome.promise).completed], [true, false]);
  });

  test('the Request\'s signal aborting while the view works: nothing was delivered, so the outcome says the head was not sent (a 499 in the access log), with a body, a stream (the Response made at once, its body failing) or without; a Response read whole says it was', { timeout: 10_000 }, async () => {
    const gate = deferred();
    const { app, outcomes, lines } = makeApp([
      get('/text', async () => {
        await gate.promise;
        return new HttpResponse('late');
      }),
      get('/none', async () => {
        await gate.promise;
        return new HttpResponse(null, { status: 204 });
      }),
      // A stream's first chunk is awaited before the Response is made: not once its body stopped (that waited for good).
      get('/stream', async () => {
        await gate.promise;
        return new StreamingResponse(new ReadableStream({ start: (stream) => stream.enqueue(new TextEncoder().encode('late')) }));
      }),
      get('/read', () => new HttpResponse('read')),
    ]);
    const controller = new AbortController();
    const late = ['/text', '/none', '/stream'].map((path) => app.fetch(new Request(`${BASE}${path}`, { signal: controller.signal })));
    controller.abort(new Error('client gone'));
    gate.resolve();
    // The body of the one that has one failed with the signal's reason: let go of.
    await Promise.all(late.map(async (fetching) => (await fetching).body?.cancel().catch(() => {})));
    assert.equal(await (await app.fetch(new Request(`${BASE}/read`))).text(), 'read');
    await app.settle();
    const seen = (path: string) => ({ headersSent: outcomes.get(path)!.headersSent, aborted: outcomes.get(path)!.aborted });
    assert.deepEqual([seen('/text'), seen('/none'), seen('/stream'), seen('/read')], [
      { headersSent: false, aborted: true }, { headersSent: false, aborted: true }, { headersSent: false, aborted: true }, { headersSent: true, aborted: false },
    ]);
    assert.deepEqual(lines.filter((line) => line.durationMs !== undefined).map((line) => [line.path, line.status]).sort(), [['/none', 499], ['/read', 200], ['/stream', 499], ['/text', 499]]);
  });

  test('the Request\'s signal aborting while the view works aborts request.signal, as a client leaving a socket does; one aborted before the call is aborted already in the view; one never aborted leaves it alone', async () => {
    const waiting = deferred();
    const seen: { path: string; aborted: boolean; reason?: string }[] = [];
    const { app } = makeApp([
      get('/wait', async (request) => {
        const { signal } = request;
        waiting.resolve();
        // Bounded: the test fails ('not aborted') rather than hangs when the signal is never followed.
        let timer: NodeJS.Timeout | undefined;
        const ended = await Promise.race([once(signal, 'abort').then(() => 'aborted'), new Promise<string>((resolve) => { timer = setTimeout(resolve, 2_000, 'not aborted'); })]);
        clearTimeout(timer);
        seen.push({ path: '/wait', aborted: ended === 'aborted', reason: (signal.reason as DOMException | undefined)?.name });
        return new HttpResponse('late');
      }),
      get('/first', (request) => {
        seen.push({ path: '/first', aborted: request.signal.aborted, reason: (request.signal.reason as DOMException | undefined)?.name });
        return new HttpResponse('late');
      }),
      get('/kept', async (request) => {
        const { signal } = request;
        await Promise.resolve();
        seen.push({ path: '/kept', aborted: signal.aborted });
        return new HttpResponse('ok');
      }),
    ]);
    const controller = new AbortController();
    const waited = app.fetch(new Request(`${BASE}/wait`, { signal: controller.signal }));
    await waiting.promise;
    controller.abort(new Error('client gone'));
    const gone = new AbortController();
    gone.abort();
    const late = [waited, app.fetch(new Request(`${BASE}/first`, { signal: gone.signal }))];
    await Promise.all(late.map(async (fetching) => (await fetching).body?.cancel().catch(() => {})));
    const kept = new AbortController();
    assert.equal(await (await app.fetch(new Request(`${BASE}/kept`, { signal: kept.signal }))).text(), 'ok');
    kept.abort();
    await app.settle();
    assert.deepEqual(seen.sort((a, b) => a.path.localeCompare(b.path)), [
      { path: '/first', aborted: true, reason: 'AbortError' },
      { path: '/kept', aborted: false },
      { path: '/wait', aborted: true, reason: 'AbortError' },
    ]);
    assert.equal(getEventListeners(kept.signal, 'abort').length, 0, 'no listener left on a signal once its view is done');
  });

  test('the Request\'s signal aborting while the view reads a body that stalls: the read fails with ClientDisconnected (499), as a socket\'s client leaving mid-body; the view waited for good, its request in flight', { timeout: 5_000 }, async () => {
    const reading = deferred();
    const failures: unknown[] = [];
    const { app, lines } = makeApp([
      post('/upload', async (request) => {
        reading.resolve();
        try {
          return new HttpResponse(await request.text());
        } catch (error) {
          failures.push(error);
          throw error;
        }
      }),
    ]);
    const controller = new AbortController();
    let pulled = false;
    // One chunk, then nothing: an upload whose client went silent.
    const body = new ReadableStream<Uint8Array>({ pull(stream) { if (!pulled) stream.enqueue(new TextEncoder().encode('part')); pulled = true; } });
    const fetching = app.fetch(new Request(`${BASE}/upload`, { method: 'POST', body, duplex: 'half', signal: controller.signal } as RequestInit));
    await reading.promise;
    controller.abort(new Error('client gone'));
    await (await fetching).body?.cancel().catch(() => {});
    await app.settle();
    assert.equal(failures.length, 1);
    assert.equal((failures[0] as { status?: number }).status, 499);
    assert.deepEqual(lines.filter((line) => line.durationMs !== undefined).map((line) => [line.path, line.status]), [['/upload', 499]]);
  });

  test('a Request body that fails while nobody reads it (the host errors it as its client goes mid-upload): the view that ignored it is answered, one reading it later gets ClientDisconnected (499), and the process lives (it was an uncaught error)', async () => {
    const uploads: ReadableStreamDefaultController<Uint8Array>[] = [];
    const upload = (): ReadableStream<Uint8Array> => new ReadableStream<Uint8Array>({ start(stream) { uploads.push(stream); } });
    const gate = deferred();
    const failures: unknown[] = [];
    const { app } = makeApp([
      post('/ignore', () => new HttpResponse('ignored')),
      post('/later', async (request) => {
        await gate.promise;
        try {
          return new HttpResponse(await request.text());
        } catch (error) {
          failures.push(error);
          throw error;
        }
      }),
    ]);
    const post_ = (path: string): Promise<Response> => app.fetch(new Request(`${BASE}${path}`, { method: 'POST', body: upload(), duplex: 'half' } as RequestInit));
    assert.equal(await (await post_('/ignore')).text(), 'ignored');
    const later = post_('/later');
    for (const stream of uploads) stream.error(new Error('the client went mid-upload'));
    gate.resolve();
    assert.equal((await later).status, 499);
    await (await later).body?.cancel();
    await app.settle();
    assert.equal((failures[0] as { status?: number }).status, 499);
  });

  test('a stream that breaks its declared Content-Length errors the body before the byte past it', async () => {
    const { app, outcomes } = makeApp([get('/long', () => new StreamingResponse(chunks(['12345', '678']), { headers: { 'content-length': '5' } }))]);
    const response = await app.fetch(new Request(`${BASE}/long`));
    await assert.rejects(response.text(), /declared Content-Length 5 but its stream produced more \(at least 8 bytes\)/);
    await app.settle();
    assert.equal(outcomes.get('/long')!.bytesSent, 5);
  });

  test('a status a Web Response cannot carry is a 500 naming it', async () => {
    const { app, lines } = makeApp([get('/past', () => new HttpResponse(null, { status: 600 }))]);
    const response = await app.fetch(new Request(`${BASE}/past`));
    assert.equal(response.status, 500);
    await response.text();
    assert.ok(lines.some((l) => String(l.msg).includes('app.fetch() cannot answer with status 600')));
  });
});

describe('app.fetch: durable tasks', () => {
  test('a durable task registered in the view is journaled before the Response is returned', async () => {
    const ran = deferred<string>();
    const audit = task('audit', async (payload: { id: string }) => ran.resolve(payload.id));
    const app = createApp({
      logger: memoryLogger().logger,
      tasks: { definitions: [audit], store: sqliteStore({ path: ':memory:' }) },
      routes: [get('/notes/:id', (request: HttpRequest) => {
        after(audit, { id: request.params.id! });
        return new HttpResponse('ok');
      })],
    });
    const response = await app.fetch(new Request(`${BASE}/notes/9`));
    const journaled = await app.tasks.list({ name: 'audit' });
    assert.equal(journaled.length, 1, 'in the store when the Response is handed over');
    assert.equal(journaled[0]!.state, 'held', 'held until the body has been read');
    await response.text();
    assert.equal(await ran.promise, '9');
    await app.settle();
    await app.tasks.close(performance.now() + 1_000);
  });
});
