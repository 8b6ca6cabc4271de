import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, serve, StreamingResponse, type ShutdownReport } from 'coda-http';
import { connect, deferred, memoryLogger, spawnFixture } from '../helpers.js';

test('close() runs the pending tasks and reports what ran', async () => {
  const ran: number[] = [];
  const app = createApp({ routes: [get('/', () => new HttpResponse('ok').after(async () => { await null; ran.push(1); }))] });
  const server = await serve(app, { port: 0, handleSignals: false });
  await Promise.all([1, 2, 3].map(() => fetch(server.url).then((r) => r.text())));
  const report = await server.close({ timeoutMs: 5_000 });
  assert.equal(ran.length, 3);
  assert.deepEqual(report, { tasksCompleted: 3, tasksAbandoned: [], requestsInFlightAtClose: 0, tasksLeftInStore: [] });
});

test('at the deadline close() aborts running tasks through their signal and lists every abandoned task', async () => {
  let signal: AbortSignal | undefined;
  const app = createApp({
    after: { concurrency: 1 },
    routes: [get('/', () => new HttpResponse('ok')
      .after((ctx) => { signal = ctx.signal; return new Promise(() => {}); }, { name: 'hangs' })
      .after(() => {}, { name: 'behind-it' }))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  const res = await fetch(server.url, { headers: { 'x-request-id': 'r-1' } });
  await res.text();
  const report = await server.close({ timeoutMs: 50 });
  assert.equal(signal?.aborted, true);
  assert.deepEqual(report.tasksAbandoned, [{ name: 'hangs', requestId: 'r-1' }, { name: 'behind-it', requestId: 'r-1' }]);
  assert.equal(report.tasksCompleted, 0);
});

test('close() without a timeoutMs drains until serve()\'s shutdownTimeoutMs, not a fixed 10 s (attach()\'s close() shares the code)', { timeout: 8_000 }, async () => {
  // A task that never ends: the drain ends at its deadline. With the fixed 10 s this test timed out.
  const hangs = (): Promise<void> => new Promise(() => {});
  const app = createApp({ routes: [get('/', () => new HttpResponse('ok').after(hangs, { name: 'hangs' }))] });
  const server = await serve(app, { port: 0, handleSignals: false, shutdownTimeoutMs: 100 });
  await (await fetch(server.url, { headers: { 'x-request-id': 'served' } })).text();
  assert.deepEqual((await server.close()).tasksAbandoned, [{ name: 'hangs', requestId: 'served' }]);
});

test('a request in flight at close() finishes, with Connection: close; idle keep-alive sockets close without waiting for it; new connections are refused', async () => {
  const viewEntered = deferred();
  const releaseView = deferred();
  const app = createApp({
    routes: [
      get('/slow', async () => { viewEntered.resolve(); await releaseView.promise; return new HttpResponse('finished'); }),
      get('/quick', () => new HttpResponse('quick')),
    ],
  });
  const server = await serve(app, { port: 0, handleSignals: false, keepAliveTimeoutMs: 60_000 });
  const agent = new http.Agent({ keepAlive: true });
  const idle = await new Promise<http.IncomingMessage>((resolve) => http.get(`${server.url}/quick`, { agent }, resolve));
  const idleSocketClosed = new Promise((resolve) => idle.socket.once('close', resolve));
  idle.resume();
  await new Promise((resolve) => idle.on('end', resolve));

  const slow = new Promise<http.IncomingMessage>((resolve) => http.get(`${server.url}/slow`, resolve));
  await viewEntered.promise;
  const closing = server.close({ timeoutMs: 5_000 });
  await idleSocketClosed;
  // It stopped accepting: a new connection is refused while the request in flight is still being answered.
  await assert.rejects(connect(server), { code: 'ECONNREFUSED' });
  releaseView.resolve();
  const res = await slow;
  assert.equal(res.headers.connection, 'close');
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.equal(body, 'finished');
  const report = await closing;
  assert.equal(report.requestsInFlightAtClose, 1);
  agent.destroy();
});

test('a request already sent on an idle keep-alive connection when close() is called is answered with Connection: close, not reset', async () => {
  const app = createApp({ routes: [get('/', () => new HttpResponse('ok'))] });
  const server = await serve(app, { port: 0, handleSignals: false });
  const socket = await connect(server);
  let received = '';
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
  const errors: Error[] = [];
  socket.on('error', (error) => errors.push(error));
  const request = 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n';
  socket.write(request);
  while (!received.endsWith('ok')) await once(socket, 'data');
  // The connection is idle; the next request reaches the server's receive buffer before close() runs.
  socket.write(request);
  const report = server.close({ timeoutMs: 5_000 });
  await once(socket, 'close');
  await report;
  assert.deepEqual(errors, []);
  const second = received.slice(received.indexOf('HTTP/1.1', 1));
  assert.match(second, /^HTTP\/1\.1 200 /);
  assert.match(second, /\r\nConnection: close\r\n/i);
  assert.ok(second.endsWith('ok'));
});

test('SIGTERM under load from 64 keep-alive connections: every request the server received is answered, none is reset', async () => {
  const { child, lines, line, exited } = spawnFixture(new URL('./fixtures/graceful-server.ts', import.meta.url));
  const url = String((await line((l) => l.event === 'ready')).url);

  const CONNECTIONS = 64;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let ok = 0;
  let refused = 0;
  let sent = 0;
  const failures: string[] = [];
  // Refused means the server had stopped accepting: fine. Anything else (a reset, a hang-up, a bad answer) is a failure.
  const one = (): Promise<'ok' | 'refused' | 'failed'> => new Promise((resolve) => {
    sent++;
    http.get(`${url}/work`, { agent }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        if (res.statusCode === 200 && body === 'done') {
          ok++;
          resolve('ok');
        } else {
          failures.push(`${res.statusCode} ${body}`);
          resolve('failed');
        }
      });
      res.on('error', (error: NodeJS.ErrnoException) => {
        failures.push(`response ${error.code} ${error.message}`);
        resolve('failed');
      });
    }).on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') {
        refused++;
        resolve('refused');
      } else {
        failures.push(`${error.code} ${error.message}`);
        resolve('failed');
      }
    });
  });
  // Every connection sends requests back to back; SIGTERM goes out after 1,500 answers. A connection stops once refused.
  let signalled = false;
  const worker = async (): Promise<void> => {
    while (sent < 6_000) {
      if ((await one()) === 'refused') return;
      if (!signalled && ok >= 1_500) {
        signalled = true;
        child.kill('SIGTERM');
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  agent.destroy();
  assert.equal(await exited, 0);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed (${ok} answered, ${refused} refused)`);
  const shutdown = lines.find((l) => String(l.msg).startsWith('shutdown complete')) as ShutdownReport | undefined;
  const exit = lines.find((l) => l.event === 'exit')!;
  assert.ok(shutdown, 'expected the shutdown report on the log');
  assert.equal(ok, exit.handled, 'every request the server received was answered');
  assert.equal(shutdown.tasksCompleted + shutdown.tasksAbandoned.length, exit.handled);
  assert.equal(exit.ran, shutdown.tasksCompleted);
});

test('a response still streaming at the deadline: its response.after() task is listed with the rest, and nothing listed or not the request\'s own is logged as registered too late', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    middleware: [{ name: 'audit', afterResponse() {} }],
    routes: [get('/events', () => {
      after(() => {}, { name: 'via-after' });
      // A stream that never ends: the deadline cuts it.
      return new StreamingResponse(async function* (signal) {
        yield 'data: 1\n\n';
        await once(signal, 'abort');
      }).after(() => {}, { name: 'via-response-after' });
    })],
  });
  app.signals.requestFinished.connect(function metrics() {});
  const server = await serve(app, { port: 0, handleSignals: false });
  const socket = await connect(server);
  socket.on('error', () => {});
  socket.write('GET /events HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: r-7\r\n\r\n');
  await once(socket, 'data');
  const report = await server.close({ timeoutMs: 50 });
  assert.deepEqual(report.tasksAbandoned, [
    { name: 'via-after', requestId: 'r-7' },
    { name: 'via-response-after', requestId: 'r-7' },
    { name: 'audit.afterResponse', requestId: 'r-7' },
  ]);
  await app.settle();
  assert.deepEqual(lines.filter((l) => String(l.msg).includes('registered after shutdown')), []);
  assert.equal(app.afterStats().pending, 0);
});

test('a request still in its view at the deadline: the tasks it registered are listed as abandoned, and one registered later is logged, never silently gone; response.after() then throws saying shutdown gave up on the request (it said another response had answered it)', async () => {
  const viewEntered = deferred();
  const releaseView = deferred();
  const thrown = deferred<unknown>();
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    middleware: [{ name: 'audit', afterResponse() {} }],
    routes: [get('/slow', async () => {
      after(() => {}, { name: 'registered-in-view' });
      viewEntered.resolve();
      await releaseView.promise;
      after(() => {}, { name: 'registered-too-late' });
      const response = new HttpResponse('late');
      // What it throws, if anything.
      thrown.resolve(new Promise((resolve) => resolve(response.after(() => {}))).then(() => 'nothing', (error: unknown) => error));
      return response;
    })],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  const request = http.get(`${server.url}/slow`, { headers: { 'x-request-id': 'r-9' } });
  request.on('error', () => {});
  await viewEntered.promise;
  const report = await server.close({ timeoutMs: 50 });
  assert.equal(report.requestsInFlightAtClose, 1);
  assert.deepEqual(report.tasksAbandoned, [{ name: 'registered-in-view', requestId: 'r-9' }, { name: 'audit.afterResponse', requestId: 'r-9' }]);
  releaseView.resolve();
  const error = await thrown.promise;
  assert.ok(error instanceof Error);
  assert.equal(error.message, 'response.after(): the request was given up by shutdown (its deadline passed while it was handled): nothing registered now runs');
  await app.settle();
  assert.ok(lines.some((l) => l.name === 'registered-too-late' && l.requestId === 'r-9' && String(l.msg).includes('registered after shutdown gave up on its request')));
  assert.equal(app.afterStats().pending, 0);
});

test('a task given up at the deadline that registers another with after() (from an abort listener, or from its own code once it goes on): each is logged as not run, naming the request, never run after the shutdown that reported its task (it ran then, told nowhere)', async () => {
  const started = deferred();
  const registered = deferred();
  const ran: string[] = [];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [get('/p', () => new HttpResponse('ok').after(async ({ signal }) => {
      signal.addEventListener('abort', () => after(() => { ran.push('from-listener'); }, { name: 'from-listener' }));
      started.resolve();
      // It ignores its signal a while, then registers more work.
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      await new Promise((resolve) => setImmediate(resolve));
      after(() => { ran.push('from-task'); }, { name: 'from-task' });
      registered.resolve();
    }, { name: 'given-up' }))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  await fetch(`${server.url}/p`, { headers: { 'x-request-id': 'r-7' } });
  await started.promise;
  const report = await server.close({ timeoutMs: 20 });
  assert.deepEqual(report.tasksAbandoned, [{ name: 'given-up', requestId: 'r-7' }]);
  await registered.promise;
  await app.settle();
  assert.deepEqual(ran, []);
  const lost = lines.filter((l) => String(l.msg).includes('registered after shutdown gave up on its request: not run'));
  assert.deepEqual(lost.map((l) => [l.name, l.requestId, l.state]), [['from-listener', 'r-7', 'abandoned'], ['from-task', 'r-7', 'abandoned']]);
  assert.deepEqual([app.afterStats().pending, app.afterStats().completed], [0, 0]);
});

test('close() runs the tasks still queued when it is called, gives up at the deadline only the one that never ends, and logs the very report it resolves with', async () => {
  const gate = deferred();
  const ran: string[] = [];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    after: { concurrency: 1 },
    routes: [get('/', () => new HttpResponse('ok')
      .after(async () => { await gate.promise; ran.push('first'); }, { name: 'first' })
      .after(() => { ran.push('queued'); }, { name: 'queued' })
      .after(async () => { await null; ran.push('queued async'); }, { name: 'queued async' })
      .after(() => new Promise(() => {}), { name: 'hangs' }))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  await (await fetch(server.url, { headers: { 'x-request-id': 'drained' } })).text();
  const closing = server.close({ timeoutMs: 1_000 });
  // The first task holds the only slot: the other three are queued, not started, as the drain begins.
  assert.deepEqual({ pending: app.afterStats().pending, running: app.afterStats().running }, { pending: 3, running: 1 });
  gate.resolve();
  const report = await closing;
  assert.deepEqual(ran, ['first', 'queued', 'queued async']);
  assert.deepEqual(report, { tasksCompleted: 3, tasksAbandoned: [{ name: 'hangs', requestId: 'drained' }], requestsInFlightAtClose: 0, tasksLeftInStore: [] });
  const logged = lines.find((l) => String(l.msg).startsWith('shutdown complete'));
  assert.equal(logged?.msg, 'shutdown complete: 1 after-response task(s) abandoned');
  assert.deepEqual([logged.tasksCompleted, logged.tasksAbandoned], [report.tasksCompleted, report.tasksAbandoned]);
});
