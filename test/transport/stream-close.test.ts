// An idle stream (server-sent events, long polling, a proxied stream) is closed
// as soon as its client goes away, not at its next event, which may never come.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createApp, get, StreamingResponse, type Outcome, type Server } from 'coda-http';
import { connect, deferred, rawGet, rawRequest, startServer } from '../helpers.js';
import { untilHead } from './wire.js';

/** Server-sent events from `emitter`, each waited for with the response's signal. */
async function* events(emitter: EventEmitter, signal: AbortSignal, closed: () => void): AsyncGenerator<string> {
  try {
    yield 'retry: 1000\n\n';
    for (;;) {
      const [message] = (await once(emitter, 'message', { signal })) as [string];
      yield `data: ${message}\n\n`;
    }
  } finally {
    closed();
  }
}

describe('a stream whose client goes away while it waits', { timeout: 10_000 }, () => {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let closedCount = 0;
  let allClosed = deferred();
  let expectClosed = 1;
  const onClosed = (): void => {
    if (++closedCount === expectClosed) allClosed.resolve();
  };
  const outcomes: Outcome[] = [];
  let outcomeSeen = deferred<Outcome>();

  let readable: Readable;
  let ignoring = { release: deferred(), resumed: false, finished: deferred(), closeSeen: deferred() };
  let opened = 0;
  let headSignal: AbortSignal | undefined;
  let late = { started: deferred(), made: deferred<AbortSignal>(), opened: false };

  let server: Server;
  before(async () => {
    const app = createApp({
      routes: [
        // The function form: called with the signal when sending starts.
        get('/sse', () => new StreamingResponse((signal) => events(emitter, signal, onClosed))
          .after(({ outcome }) => { outcomes.push(outcome); outcomeSeen.resolve(outcome); }, { name: 'log-outcome' })),
        // The getter form: the generator is made first, the signal read off the response.
        get('/sse-getter', () => {
          const response = new StreamingResponse(sse());
          return response;
          async function* sse(): AsyncGenerator<string> {
            yield* events(emitter, response.signal, onClosed);
          }
        }),
        get('/readable', () => {
          readable = new Readable({ read() {} });
          readable.push('first chunk, then nothing');
          return new StreamingResponse(readable);
        }),
        // A generator that ignores the signal: it is returned once it yields.
        get('/ignoring', () => new StreamingResponse((async function* () {
          try {
            yield 'waiting\n';
            await ignoring.release.promise;
            yield 'released\n';
            ignoring.resumed = true;
            yield 'more\n';
          } finally {
            ignoring.finished.resolve();
          }
        })()).after(() => ignoring.closeSeen.resolve())),
        // The client goes away while the view still works: the stream is never started.
        get('/late', async (request) => {
          const gone = once(request.raw!.socket, 'close');
          late.started.resolve();
          await gone;
          const response = new StreamingResponse(() => {
            late.opened = true;
            return Readable.from(['too late']);
          });
          late.made.resolve(response.signal);
          return response;
        }),
        get('/head-only', () => {
          const response = new StreamingResponse(() => {
            opened++;
            return Readable.from(['never read']);
          });
          headSignal = response.signal;
          return response;
        }),
      ],
    });
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  /** Opens `path`, waits for the response head, then goes away. */
  async function openAndLeave(path: string): Promise<void> {
    const socket = await connect(server);
    const { head } = untilHead(socket);
    socket.write(rawGet(path));
    await head;
    socket.destroy();
  }

  test('an async generator awaiting an event that never comes is finished, its listener removed', async () => {
    closedCount = 0;
    expectClosed = 1;
    allClosed = deferred();
    outcomeSeen = deferred<Outcome>();
    await openAndLeave('/sse');
    await allClosed.promise;
    assert.equal(emitter.listenerCount('message'), 0);
    // The after-response task ran for the aborted response, without any event being emitted.
    const outcome = await outcomeSeen.promise;
    assert.equal(outcome.aborted, true);
    assert.equal(outcome.completed, false);
  });

  test('the same with the signal read from response.signal', async () => {
    closedCount = 0;
    expectClosed = 1;
    allClosed = deferred();
    await openAndLeave('/sse-getter');
    await allClosed.promise;
    assert.equal(emitter.listenerCount('message'), 0);
  });

  test('the events still flow while the client stays', async () => {
    const socket = await connect(server);
    const { head, received } = untilHead(socket);
    socket.write(rawGet('/sse'));
    await head;
    const before = emitter.listenerCount('message');
    assert.equal(before, 1);
    emitter.emit('message', 'hello');
    for (let i = 0; i < 100 && !Buffer.concat(received).includes('data: hello'); i++) await once(socket, 'data');
    assert.match(Buffer.concat(received).toString('latin1'), /data: hello\n\n/);
    closedCount = 0;
    expectClosed = 1;
    allClosed = deferred();
    socket.destroy();
    await allClosed.promise;
  });

  test('200 disconnected SSE clients leave no listener on the emitter', async () => {
    closedCount = 0;
    expectClosed = 200;
    allClosed = deferred();
    const sockets = await Promise.all(Array.from({ length: 200 }, async () => {
      const socket = await connect(server);
      const { head } = untilHead(socket);
      socket.write(rawGet('/sse'));
      await head;
      return socket;
    }));
    assert.equal(emitter.listenerCount('message'), 200);
    for (const socket of sockets) socket.destroy();
    await allClosed.promise;
    assert.equal(emitter.listenerCount('message'), 0);
  });

  test('a Readable that stopped pushing is destroyed', async () => {
    await openAndLeave('/readable');
    if (!readable.destroyed) await once(readable, 'close');
    assert.equal(readable.destroyed, true);
  });

  test('a generator that ignores the signal is returned once it yields: it does not run on', async () => {
    ignoring = { release: deferred(), resumed: false, finished: deferred(), closeSeen: deferred() };
    await openAndLeave('/ignoring');
    // The response's task has run: the server has seen the close before the generator is released.
    await ignoring.closeSeen.promise;
    ignoring.release.resolve();
    await ignoring.finished.promise;
    assert.equal(ignoring.resumed, false, 'the generator ran past the yield after its client left');
  });

  test('a client gone before the view answered: the stream is not started, its signal aborts', async () => {
    late = { started: deferred(), made: deferred<AbortSignal>(), opened: false };
    const socket = await connect(server);
    socket.write(rawGet('/late'));
    await late.started.promise;
    // The view answers once the server has seen the connection close.
    socket.destroy();
    const signal = await late.made.promise;
    if (!signal.aborted) await once(signal, 'abort');
    assert.equal(late.opened, false);
  });

  test('HEAD: a function source is not called, and the signal aborts (the body is released unread)', async () => {
    opened = 0;
    const response = await rawRequest(server, rawGet('/head-only', {}, 'HEAD'));
    assert.equal(response.status, 200);
    assert.equal(opened, 0);
    assert.equal(headSignal?.aborted, true);
    // A GET calls it.
    const got = await rawRequest(server, rawGet('/head-only'));
    assert.equal(got.body.toString(), 'never read');
    assert.equal(opened, 1);
  });
});

describe('StreamingResponse: the source', () => {
  test('a function is accepted; what it returns is checked when the stream is opened', () => {
    const response = new StreamingResponse(() => 'not a stream' as never);
    assert.throws(() => response.stream, { name: 'TypeError', message: /the function given to StreamingResponse returned string "not a stream"/ });
  });

  test('the signal is not aborted while the stream is read to its end', async () => {
    const response = new StreamingResponse((signal) => Readable.from([signal.aborted ? 'aborted' : 'live']));
    const chunks: unknown[] = [];
    for await (const chunk of response.stream) chunks.push(chunk);
    assert.deepEqual(chunks, ['live']);
    assert.equal(response.signal.aborted, false);
  });
});
