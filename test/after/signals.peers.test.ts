// Coda's signals judged by Django's own suite, over real sockets:
// tests/dispatch/tests.py (connect, disconnect, send_robust, asend),
// tests/signals/tests.py (test_disconnect_in_dispatch) and
// tests/handlers/tests.py (SignalsTests: request_started, request_finished).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import {
  createApp, get, HttpResponse, post, signals, StreamingResponse, type Outcome,
} from 'coda-http';
import { connect, deferred, LEVEL, memoryLogger, rawGet, rawRequest, served } from '../helpers.js';

const ok = get('/', () => new HttpResponse('ok'));

test('test_multiple_registration: a receiver connected six times is one receiver, heard once per request', async (t) => {
  const { app, url } = await served(t, { routes: [ok] });
  const heard: string[] = [];
  const started = (): void => { heard.push('started'); };
  const finished = (): void => { heard.push('finished'); };
  for (let i = 0; i < 6; i++) {
    app.signals.requestStarted.connect(started);
    app.signals.requestFinished.connect(finished);
  }
  assert.equal(app.signals.requestStarted.receivers.length, 1);
  assert.equal(app.signals.requestFinished.receivers.length, 1);
  assert.equal(await (await fetch(url)).text(), 'ok');
  await app.settle();
  assert.deepEqual(heard, ['started', 'finished']);
});

test('test_values_returned_by_disconnection, test_has_listeners: disconnect() is true once, then false; a disconnected receiver hears no more requests', async (t) => {
  const { app, url } = await served(t, { routes: [ok] });
  const heard: string[] = [];
  const receiver = (): void => { heard.push('finished'); };
  const never = (): void => { heard.push('never connected'); };
  const disconnect = app.signals.requestFinished.connect(receiver);
  assert.deepEqual(app.signals.requestFinished.receivers, [receiver]);
  assert.equal(app.signals.requestFinished.disconnect(never), false);
  assert.equal(app.signals.requestFinished.disconnect(receiver), true);
  assert.equal(app.signals.requestFinished.disconnect(receiver), false);
  // The function connect() returned does the same, as often as it is called.
  disconnect();
  disconnect();
  assert.deepEqual(app.signals.requestFinished.receivers, []);
  await (await fetch(url)).text();
  await app.settle();
  assert.deepEqual(heard, []);
});

test('test_disconnect_in_dispatch: receivers that disconnect themselves as they are sent each run once, skip no other receiver, and hear no later request', async (t) => {
  const { app, url } = await served(t, { routes: [ok] });
  const heard: string[] = [];
  for (const signal of ['requestStarted', 'requestFinished'] as const) {
    for (const name of ['a', 'b']) {
      const receiver = (): void => {
        heard.push(`${signal} ${name}`);
        app.signals[signal].disconnect(receiver);
      };
      app.signals[signal].connect(receiver);
    }
    app.signals[signal].connect(() => { heard.push(`${signal} stays`); });
  }
  for (let i = 0; i < 2; i++) {
    await (await fetch(url)).text();
    await app.settle();
  }
  assert.deepEqual(heard, [
    'requestStarted a', 'requestStarted b', 'requestStarted stays', 'requestFinished a', 'requestFinished b', 'requestFinished stays',
    'requestStarted stays', 'requestFinished stays',
  ]);
  assert.equal(app.signals.requestStarted.receivers.length, 1);
  assert.equal(app.signals.requestFinished.receivers.length, 1);
});

test("a receiver that connects or disconnects others while a signal is sent: send() keeps the receivers connected when it began, the app's and the process's alike", async (t) => {
  const { app, url } = await served(t, { routes: [ok] });
  const heard: string[] = [];
  const processLate = (): void => { heard.push('process late'); };
  const appLate = (): void => { heard.push('app late'); };
  const processDropped = (): void => { heard.push('process dropped'); };
  const appDropped = (): void => { heard.push('app dropped'); };
  let first = true;
  app.signals.requestStarted.connect(() => {
    heard.push('first');
    if (!first) return;
    first = false;
    app.signals.requestStarted.connect(appLate);
    signals.requestStarted.connect(processLate);
    app.signals.requestStarted.disconnect(appDropped);
    signals.requestStarted.disconnect(processDropped);
  });
  app.signals.requestStarted.connect(appDropped);
  signals.requestStarted.connect(processDropped);
  t.after(() => {
    signals.requestStarted.disconnect(processLate);
    signals.requestStarted.disconnect(processDropped);
  });
  for (let i = 0; i < 2; i++) {
    await (await fetch(url)).text();
    await app.settle();
  }
  assert.deepEqual(heard, ['first', 'app dropped', 'process dropped', 'first', 'app late', 'process late']);
});

test('a requestStarted receiver that connects a requestFinished receiver: it hears the request that is under way, sent when that request ends', async (t) => {
  const { app, url } = await served(t, { routes: [ok] });
  const heard: string[] = [];
  app.signals.requestStarted.connect(({ request }) => {
    const disconnect = app.signals.requestFinished.connect(({ request: finished }) => {
      heard.push(`finished ${String(finished === request)}`);
      disconnect();
    });
  });
  await (await fetch(url)).text();
  await app.settle();
  assert.deepEqual(heard, ['finished true']);
});

test('test_send_robust_fail: receivers that throw or reject are logged with their name and the request id, the others run, the request is answered', async (t) => {
  const { logger, lines } = memoryLogger();
  const { app, url } = await served(t, { logger, routes: [ok] });
  const heard: string[] = [];
  app.signals.requestStarted.connect(function throwsOnStart() { throw new ValueError('this'); });
  app.signals.requestStarted.connect(async function rejectsOnStart() { await Promise.resolve(); throw new ValueError('that'); });
  app.signals.requestStarted.connect(() => { heard.push('started'); });
  app.signals.requestFinished.connect(function throwsOnFinish() { throw new ValueError('this'); });
  app.signals.requestFinished.connect(async function rejectsOnFinish() { await Promise.resolve(); throw new ValueError('that'); });
  app.signals.requestFinished.connect(() => { heard.push('finished'); });
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'ok');
  await app.settle();
  assert.deepEqual(heard, ['started', 'finished']);
  const errors = lines.filter((line) => line.level === LEVEL.error);
  assert.equal(errors.length, 4, JSON.stringify(errors));
  for (const name of ['throwsOnStart', 'rejectsOnStart']) {
    const line = errors.find((l) => l.receiver === name);
    assert.equal(line?.msg, 'a requestStarted receiver failed', name);
    assert.equal(typeof line?.requestId, 'string', name);
    assert.equal((line?.err as { message?: string } | undefined)?.message, name === 'throwsOnStart' ? 'this' : 'that');
  }
  for (const name of ['throwsOnFinish', 'rejectsOnFinish']) {
    const line = errors.find((l) => String(l.msg).includes(`requestFinished:${name}`));
    assert.ok(line !== undefined, `${name} logged: ${JSON.stringify(errors)}`);
    assert.equal(typeof line.requestId, 'string', name);
  }
  assert.equal(app.afterStats().failed, 2);
});

class ValueError extends Error {}

test("test_send_robust_fail, receivers whose name cannot be read (a getter that throws, a Symbol): connected whole, heard, failures logged as 'receiver', the request answered", async (t) => {
  const { logger, lines } = memoryLogger();
  const { app, url } = await served(t, { logger, routes: [ok] });
  const heard: string[] = [];
  const named = <F extends (event: never) => unknown>(name: PropertyDescriptor, receiver: F): F => Object.defineProperty(receiver, 'name', name);
  const trap: PropertyDescriptor = { get() { throw new Error('name trap'); } };
  const symbol: PropertyDescriptor = { value: Symbol('audit') };
  app.signals.requestStarted.connect(named(trap, () => { throw new ValueError('started'); }));
  app.signals.requestStarted.connect(named(symbol, async () => { await Promise.resolve(); throw new ValueError('started later'); }));
  app.signals.requestFinished.connect(named(trap, () => { heard.push('finished, name a trap'); }));
  app.signals.requestFinished.connect(named(symbol, () => { heard.push('finished, name a Symbol'); }));
  app.signals.requestFinished.connect(() => { heard.push('finished'); });
  assert.equal(app.signals.requestStarted.receivers.length, 2);
  assert.equal(app.signals.requestFinished.receivers.length, 3);
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'ok');
  await app.settle();
  assert.deepEqual(heard, ['finished, name a trap', 'finished, name a Symbol', 'finished']);
  assert.deepEqual(lines.filter((l) => l.level === LEVEL.error).map((l) => [l.msg, l.receiver, (l.err as { message?: string } | undefined)?.message]), [
    ['a requestStarted receiver failed', 'receiver', 'started'],
    ['a requestStarted receiver failed', 'receiver', 'started later'],
  ]);
});

test('asend, a receiver that never settles: a requestFinished one is timed out at after.timeoutMs (its signal aborted), a requestStarted one let go, and neither holds up the next request', async (t) => {
  const { logger, lines } = memoryLogger();
  const { app, url } = await served(t, { logger, after: { timeoutMs: 50 }, routes: [ok] });
  const aborted = deferred<unknown>();
  app.signals.requestStarted.connect(function startsForever() { return new Promise<void>(() => {}); });
  app.signals.requestFinished.connect(function finishesForever({ signal }) {
    signal.addEventListener('abort', () => aborted.resolve(signal.reason));
    return new Promise<void>(() => {});
  });
  assert.equal(await (await fetch(url)).text(), 'ok');
  assert.equal(await (await fetch(url)).text(), 'ok');
  const reason = await aborted.promise;
  assert.equal((reason as Error).name, 'TaskTimeoutError');
  await app.settle();
  assert.equal(app.afterStats().timedOut, 2);
  assert.equal(lines.filter((l) => l.receiver === 'startsForever' && l.level === LEVEL.warn).length, 2);
});

test('test_asend_correct_ordering, sync and async receivers mixed: called in the order connected, the app\'s before the process\'s', async (t) => {
  const { app, url } = await served(t, { routes: [ok] });
  const heard: string[] = [];
  const receivers = (signal: string, who: string) => [
    (): void => { heard.push(`${signal} ${who} sync 1`); },
    async (): Promise<void> => { heard.push(`${signal} ${who} async 2`); await Promise.resolve(); },
    (): void => { heard.push(`${signal} ${who} sync 3`); },
  ];
  for (const receiver of receivers('finished', 'process')) t.after(signals.requestFinished.connect(receiver));
  for (const receiver of receivers('started', 'process')) t.after(signals.requestStarted.connect(receiver));
  for (const receiver of receivers('finished', 'app')) app.signals.requestFinished.connect(receiver);
  for (const receiver of receivers('started', 'app')) app.signals.requestStarted.connect(receiver);
  await (await fetch(url)).text();
  await app.settle();
  assert.deepEqual(heard, ['started', 'finished'].flatMap((signal) => ['app', 'process'].flatMap((who) => [1, 2, 3].map((n) => `${signal} ${who} ${n === 2 ? 'async' : 'sync'} ${n}`))));
});

test('test_request_signals: requestStarted before any middleware and the view, requestFinished after the response, with the request the view saw', async (t) => {
  const heard: string[] = [];
  let started: unknown;
  let viewed: unknown;
  let finished: unknown;
  const { app, url } = await served(t, {
    middleware: [(next) => (request) => { heard.push('middleware factory'); return next(request); }, { processRequest() { heard.push('processRequest'); } }],
    routes: [get('/regular', (request) => { heard.push('view'); viewed = request; return new HttpResponse('regular content'); })],
  });
  app.signals.requestStarted.connect(({ request }) => { heard.push('started'); started = request; });
  app.signals.requestFinished.connect(({ request, response, outcome }) => {
    heard.push(`finished ${response.status} ${String(outcome.completed)}`);
    finished = request;
  });
  assert.equal(await (await fetch(url + '/regular')).text(), 'regular content');
  await app.settle();
  assert.deepEqual(heard, ['started', 'middleware factory', 'processRequest', 'view', 'finished 200 true']);
  assert.equal(started, viewed);
  assert.equal(finished, viewed);
});

test('test_request_signals_streaming_response: while the stream is read only requestStarted was sent; requestFinished comes once, after the last byte', async (t) => {
  const heard: string[] = [];
  const release = deferred();
  const { app, server } = await served(t, {
    routes: [get('/streaming', () => new StreamingResponse((async function* () {
      yield 'streaming ';
      await release.promise;
      yield 'content';
    })()))],
  });
  app.signals.requestStarted.connect(() => { heard.push('started'); });
  app.signals.requestFinished.connect(({ outcome }) => { heard.push(`finished ${outcome.bytesSent} ${String(outcome.completed)}`); });
  const socket = await connect(server);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(rawGet('/streaming'));
  await once(socket, 'data');
  assert.equal(app.afterStats().pending + app.afterStats().running, 0);
  assert.deepEqual(heard, ['started']);
  release.resolve();
  await once(socket, 'close');
  assert.match(Buffer.concat(chunks).toString('latin1'), /streaming [\s\S]*content/);
  await app.settle();
  assert.deepEqual(heard, ['started', 'finished 17 true']);
});

test('request_finished for a client that leaves before the view answers: sent once, aborted, after it left', async (t) => {
  const entered = deferred();
  const outcomes: Outcome[] = [];
  let startedCount = 0;
  const { app, server } = await served(t, {
    routes: [get('/slow', async (request) => {
      entered.resolve();
      await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
      return new HttpResponse('too late');
    })],
  });
  app.signals.requestStarted.connect(() => { startedCount += 1; });
  app.signals.requestFinished.connect(({ outcome }) => { outcomes.push(outcome); });
  const socket = await connect(server);
  socket.on('error', () => {});
  socket.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await entered.promise;
  socket.destroy();
  await app.settle();
  assert.equal(startedCount, 1);
  assert.equal(outcomes.length, 1);
  assert.equal(outcomes[0]?.aborted, true);
  assert.equal(outcomes[0]?.completed, false);
});

test('request_started and request_finished once each, started first, for 404, 405, 413, a view that crashes, middleware that throws, and pipelined requests on one connection', async (t) => {
  const heard = new Map<object, string[]>();
  const { app, server, url } = await served(t, {
    bodyLimit: 2,
    middleware: [{ processRequest(request) { if (request.path === '/mw-throws') throw new Error('middleware broke'); } }],
    routes: [
      get('/crash', () => { throw new Error('view broke'); }),
      post('/echo', async (request) => new HttpResponse(await request.text())),
      ok,
    ],
  });
  app.signals.requestStarted.connect(({ request }) => { heard.set(request, [`started ${request.method} ${request.path}`]); });
  app.signals.requestFinished.connect(({ request, outcome }) => { heard.get(request)?.push(`finished ${outcome.status}`); });
  const expect = async (path: string, status: number): Promise<void> => {
    assert.equal((await fetch(url + path)).status, status, path);
  };
  await expect('/nowhere', 404);
  await expect('/echo', 405);
  const tooLarge = await rawRequest(server, 'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc');
  assert.equal(tooLarge.status, 413);
  await expect('/crash', 500);
  await expect('/mw-throws', 500);
  // Pipelined requests parsed in one read run side by side: each still has its pair.
  const answer = await rawRequest(server, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2) + rawGet('/'));
  assert.equal(answer.raw.toString('latin1').match(/HTTP\/1\.1 200/g)?.length, 3);
  await app.settle();
  assert.deepEqual([...heard.values()], [
    ['started GET /nowhere', 'finished 404'],
    ['started GET /echo', 'finished 405'],
    ['started POST /echo', 'finished 413'],
    ['started GET /crash', 'finished 500'],
    ['started GET /mw-throws', 'finished 500'],
    ...Array.from({ length: 3 }, () => ['started GET /', 'finished 200']),
  ]);
});

test("the sender: an app's receivers never hear another app, served apart or fetched from inside its view; the process's hear both", async (t) => {
  const heard: string[] = [];
  const inner = createApp({ routes: [get('/inner', () => new HttpResponse('inner'))] });
  const { app: outer, url } = await served(t, {
    routes: [get('/outer', async () => new HttpResponse(`outer+${await (await inner.fetch(new Request('http://localhost/inner'))).text()}`))],
  });
  const { app: other, url: otherUrl } = await served(t, { routes: [ok] });
  for (const [name, app] of [['outer', outer], ['inner', inner], ['other', other]] as const) {
    app.signals.requestStarted.connect(({ request }) => { heard.push(`${name} started ${request.path}`); });
    app.signals.requestFinished.connect(({ request }) => { heard.push(`${name} finished ${request.path}`); });
  }
  t.after(signals.requestFinished.connect(({ request }) => { heard.push(`process finished ${request.path}`); }));
  assert.equal(await (await fetch(url + '/outer')).text(), 'outer+inner');
  await inner.settle();
  await outer.settle();
  assert.equal(await (await fetch(otherUrl)).text(), 'ok');
  await other.settle();
  assert.deepEqual(heard, [
    'outer started /outer', 'inner started /inner', 'inner finished /inner', 'process finished /inner', 'outer finished /outer', 'process finished /outer',
    'other started /', 'other finished /', 'process finished /',
  ]);
});
