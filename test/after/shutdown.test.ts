import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, serve } from '../../src/index.js';
import { gate, memoryLogger } from './helpers.js';

test('close() runs the pending tasks and reports what ran', async () => {
  const ran: number[] = [];
  const app = createApp({ routes: [get('/', () => new HttpResponse('ok').after(async () => { await null; ran.push(1); }))] });
  const server = await serve(app, { port: 0, handleSignals: false });
  await Promise.all([1, 2, 3].map(() => fetch(server.url).then((r) => r.text())));
  const report = await server.close({ timeoutMs: 5_000 });
  assert.equal(ran.length, 3);
  assert.deepEqual(report, { tasksCompleted: 3, tasksAbandoned: [], requestsInFlightAtClose: 0 });
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

test('a request in flight at close() finishes, with Connection: close; idle keep-alive sockets close at once', async () => {
  const viewEntered = gate();
  const releaseView = gate();
  const app = createApp({
    routes: [
      get('/slow', async () => { viewEntered.open(); await releaseView.promise; return new HttpResponse('finished'); }),
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
  releaseView.open();
  const res = await slow;
  assert.equal(res.headers.connection, 'close');
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.equal(body, 'finished');
  const report = await closing;
  assert.equal(report.requestsInFlightAtClose, 1);
  agent.destroy();
});

test('SIGTERM to a real server under load: no accepted request fails, every task ran or is reported', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/graceful-server.ts', import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CODA_LOG_LEVEL: 'info' },
  });
  const lines = createInterface({ input: child.stdout! });
  const events: Record<string, unknown>[] = [];
  const ready = gate<string>();
  lines.on('line', (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    if (event.event === 'ready') ready.open(event.url as string);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = await ready.promise;

  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let ok = 0;
  let refused = 0;
  let sent = 0;
  const one = (): Promise<void> => new Promise((resolve) => {
    sent++;
    http.get(`${url}/work`, { agent }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        if (res.statusCode === 200 && body === 'done') ok++;
        resolve();
      });
      res.on('error', () => resolve());
    }).on('error', () => { refused++; resolve(); });
  });
  // 16 workers send requests back to back; SIGTERM goes out after 100 answers.
  let signalled = false;
  const worker = async (): Promise<void> => {
    while (sent < 600) {
      await one();
      if (!signalled && ok >= 100) {
        signalled = true;
        child.kill('SIGTERM');
      }
      if (signalled && refused > 0) return;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  agent.destroy();
  assert.equal(await exited, 0);
  const shutdown = events.find((e) => e.msg !== undefined && String(e.msg).startsWith('shutdown complete')) as
    { tasksCompleted: number; tasksAbandoned: unknown[] } | undefined;
  const exit = events.find((e) => e.event === 'exit') as { handled: number; ran: number };
  assert.ok(shutdown, 'expected the shutdown report on the log');
  assert.equal(ok, exit.handled, 'every request the server accepted was answered');
  assert.equal(shutdown.tasksCompleted + shutdown.tasksAbandoned.length, exit.handled);
  assert.equal(exit.ran, shutdown.tasksCompleted);
});

test('a request still in its view at the deadline: the tasks it registered are listed as abandoned, and one registered later is logged, never silently gone', async () => {
  const viewEntered = gate();
  const releaseView = gate();
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    middleware: [{ name: 'audit', afterResponse() {} }],
    routes: [get('/slow', async () => {
      after(() => {}, { name: 'registered-in-view' });
      viewEntered.open();
      await releaseView.promise;
      after(() => {}, { name: 'registered-too-late' });
      return new HttpResponse('late');
    })],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  const request = http.get(`${server.url}/slow`, { headers: { 'x-request-id': 'r-9' } });
  request.on('error', () => {});
  await viewEntered.promise;
  const report = await server.close({ timeoutMs: 50 });
  assert.equal(report.requestsInFlightAtClose, 1);
  assert.deepEqual(report.tasksAbandoned, [{ name: 'registered-in-view', requestId: 'r-9' }, { name: 'audit.afterResponse', requestId: 'r-9' }]);
  releaseView.open();
  await app.settle();
  assert.ok(lines.some((l) => l.name === 'registered-too-late' && l.requestId === 'r-9' && String(l.msg).includes('registered after shutdown gave up on its request')));
  assert.equal(app.afterStats().pending, 0);
});
