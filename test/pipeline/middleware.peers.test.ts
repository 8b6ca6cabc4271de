// Pipeline cases ported from peers' own suites, mostly over real sockets:
// Starlette's BaseHTTPMiddleware (tests/middleware/test_base.py) and Django's
// middleware and responses (ConditionalGetMiddleware answering 304 in place of
// a file response; a streaming response has no content). Each test names its
// source; what a response not sent owns (its stream) must be let go.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { after as afterAll, before, describe, test } from 'node:test';
import {
  createApp, get, HttpResponse, sqliteStore, StoreUnavailable, StreamingResponse, task, type App, type MiddlewareFactory, type MiddlewareHooks,
  type Server, type TaskStore,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { connect, deferred, LEVEL, memoryLogger, rawGet, startServer } from '../helpers.js';
import { untilHead } from '../transport/wire.js';

describe('a streaming response that is not sent is let go', { timeout: 10_000 }, () => {
  /** What each view made, by path: its response's signal, and its source when it is a Readable. */
  const made = new Map<string, { signal: AbortSignal; source?: Readable }>();
  function streaming(path: string, source: Readable | (() => AsyncGenerator<string>)): StreamingResponse {
    const response = new StreamingResponse(source instanceof Readable ? source : source());
    made.set(path, { signal: response.signal, source: source instanceof Readable ? source : undefined });
    return response;
  }
  async function* words(): AsyncGenerator<string> {
    yield 'a';
    yield 'b';
  }

  // Starlette's test_fully_evaluated_response: a middleware that awaits the inner response and answers its own.
  const discards: MiddlewareFactory = (next) => async (request) => {
    const response = await next(request);
    return request.path === '/discarded' ? new HttpResponse('custom') : response;
  };
  // Django's ConditionalGetMiddleware answers 304 in process_response, in place of the view's (file) response.
  const replaces: MiddlewareHooks = {
    processResponse(request, response) {
      if (request.path === '/replaced') return new HttpResponse(null, { status: 304 });
      if (request.path === '/hook-fails') throw new Error('processResponse broke');
      if (!(response instanceof StreamingResponse)) return response;
      // A middleware that takes the view's stream to send it within a response of its own: at once,
      if (request.path === '/wrapped') {
        const inner = response.stream;
        return new StreamingResponse(async function* () {
          for await (const chunk of inner) yield String(chunk).toUpperCase();
        }());
      }
      // or only once its own is sent (a function source).
      if (request.path === '/wrapped-later') {
        return new StreamingResponse(async function* () {
          for await (const chunk of response.stream) yield String(chunk).toUpperCase();
        });
      }
      return response;
    },
  };

  let server: Server;
  let app: App;
  before(async () => {
    app = createApp({
      logger: memoryLogger().logger,
      middleware: [discards, replaces],
      routes: [
        get('/discarded', () => streaming('/discarded', words)),
        get('/replaced', () => streaming('/replaced', createReadStream(import.meta.filename))),
        get('/hook-fails', () => streaming('/hook-fails', Readable.from(['x']))),
        get('/view-fails', async () => {
          streaming('/view-fails', createReadStream(import.meta.filename));
          await null;
          throw new Error('the view failed after making its response');
        }),
        get('/wrapped', () => streaming('/wrapped', Readable.from(['a', 'b']))),
        get('/wrapped-later', () => streaming('/wrapped-later', Readable.from(['a', 'b']))),
        get('/sent', () => streaming('/sent', Readable.from(['a', 'b']))),
      ],
    });
    server = await startServer(app);
  });
  afterAll(() => server.close({ timeoutMs: 1_000 }));

  /** The status and body of `GET path`, once its exchange is done (the client may have it first): its streams are let go then. */
  async function fetchText(path: string): Promise<[number, string]> {
    const response = await fetch(server.url + path);
    const answer: [number, string] = [response.status, await response.text()];
    await app.settle();
    return answer;
  }

  test("Starlette's 'app receives http.disconnect if discarded': a factory answers its own response; the view's stream's signal aborts", async () => {
    assert.deepEqual(await fetchText('/discarded'), [200, 'custom']);
    assert.equal(made.get('/discarded')?.signal.aborted, true);
  });

  test('processResponse answers 304 in place of a file response (Django ConditionalGetMiddleware): the file is closed', async () => {
    assert.deepEqual(await fetchText('/replaced'), [304, '']);
    assert.equal(made.get('/replaced')?.source?.destroyed, true);
    assert.equal(made.get('/replaced')?.signal.aborted, true);
  });

  test('a processResponse that throws, and a view that fails after making its response: their streams are let go', async () => {
    assert.equal((await fetchText('/hook-fails'))[0], 500);
    assert.equal(made.get('/hook-fails')?.source?.destroyed, true);
    assert.equal((await fetchText('/view-fails'))[0], 500);
    assert.equal(made.get('/view-fails')?.source?.destroyed, true);
  });

  test('a stream a middleware took into a response of its own, at once or only as that one is sent, goes out whole; one sent as it is is not cut', async () => {
    assert.deepEqual(await fetchText('/wrapped'), [200, 'AB']);
    assert.equal(made.get('/wrapped')?.signal.aborted, false);
    assert.deepEqual(await fetchText('/wrapped-later'), [200, 'AB']);
    assert.equal(made.get('/wrapped-later')?.signal.aborted, false);
    assert.deepEqual(await fetchText('/sent'), [200, 'ab']);
    assert.equal(made.get('/sent')?.signal.aborted, false);
  });

  test('app.fetch() lets go of a replaced stream too', async () => {
    const response = await app.fetch(new Request('http://localhost/replaced'));
    assert.equal(response.status, 304);
    await response.text();
    await app.settle();
    assert.equal(made.get('/replaced')?.source?.destroyed, true);
  });
});

test('a streaming response whose durable task the store refuses: the 503 goes out, and the stream is let go', async () => {
  const noted = task('noted', () => {});
  const inner = sqliteStore({ path: ':memory:' });
  // The store refuses every task, as a locked file or a lost Redis connection would.
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'add') return () => Promise.reject(new StoreUnavailable(inner.description, new Error('database is locked')));
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as TaskStore;
  const source = Readable.from(['never sent']);
  const app = createApp({
    logger: memoryLogger().logger,
    tasks: { definitions: [noted], store },
    routes: [get('/', () => new StreamingResponse(source).after(noted, {}))],
  });
  const server = await startServer(app);
  try {
    assert.equal((await fetch(server.url + '/')).status, 503);
    assert.equal(source.destroyed, true);
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
});

describe("Starlette's 'multiple middlewares stacked, client disconnected'", { timeout: 10_000 }, () => {
  const events = new EventEmitter();
  const finished = deferred();
  // A middleware that sends the view's stream within a response of its own (each chunk framed).
  const framing: MiddlewareHooks = {
    processResponse(_request, response) {
      if (!(response instanceof StreamingResponse)) return response;
      const inner = response.stream;
      return new StreamingResponse(async function* () {
        for await (const chunk of inner) yield `[${String(chunk)}]`;
      }());
    },
  };
  let file: Readable | undefined;
  let server: Server;
  let app: App;
  before(async () => {
    server = await startServer(app = createApp({
      middleware: [framing],
      routes: [
        get('/file', () => new StreamingResponse(file = createReadStream(import.meta.filename))),
        get('/events', () => new StreamingResponse(async function* (signal) {
          try {
            yield 'hello';
            // Waits with the view's own response's signal: only its aborting ends the wait.
            for (;;) yield String((await once(events, 'message', { signal }))[0]);
          } finally {
            finished.resolve();
          }
        })),
      ],
    }));
  });
  afterAll(() => server.close({ timeoutMs: 1_000 }));

  test("a view's idle stream a middleware took into its own ends when the client leaves", async () => {
    const socket = await connect(server);
    const { head } = untilHead(socket);
    socket.write(rawGet('/events'));
    await head;
    socket.destroy();
    await finished.promise;
    assert.equal(events.listenerCount('message'), 0);
  });

  test('a HEAD, whose body is not sent: the file a middleware took into its own stream is closed all the same', async () => {
    const response = await fetch(server.url + '/file', { method: 'HEAD' });
    assert.equal(response.status, 200);
    // Let go when the exchange is done, which the client may learn of first.
    await app.settle();
    assert.equal(file?.destroyed, true);
  });
});

test("a processResponse that sets a streaming response's body is told so, not ignored while the stream goes out (Django: a streaming response has no content)", async () => {
  const { logger, lines } = memoryLogger();
  const redacting: MiddlewareHooks = {
    name: 'redacting',
    processResponse(_request, response) {
      response.body = String(response.body).replaceAll('secret', '******');
      return response;
    },
  };
  const app = createApp({ logger, middleware: [redacting], routes: [get('/', () => new StreamingResponse(Readable.from(['the secret'])))] });
  const response = await createTestClient(app).get('/');
  assert.equal(response.status, 500);
  assert.doesNotMatch(await response.text(), /secret/);
  const errors = lines.filter((line) => line.level === LEVEL.error).map((line) => line.msg);
  assert.deepEqual(errors, [
    'unhandled error in middleware redacting processResponse: a StreamingResponse sends its stream, not a body: setting its body to string "null" would change nothing that is sent; return new HttpResponse(body, { status, headers }) in its place',
  ]);
  assert.equal(new StreamingResponse(Readable.from([])).body, null);
});
