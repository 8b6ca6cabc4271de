// The after-response guarantees, black-box over real sockets, written once
// and run against every target (Coda itself and each framework with its
// adapter), as a conformance case file: `guarantees(target)` registers the
// cases with node:test. The techniques are test/after/'s: a paused reader and
// a round trip on another connection, a gate the test opens, settle().
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { once } from 'node:events';
import { after, sqliteStore, task, type App, type Outcome, type Server, type ShutdownReport, type TaskFailure } from 'coda-http';
import { kClosingSignal } from '../../src/symbols.js';
import { deferred, memoryLogger } from '../helpers.js';
import { pipelined, request, responses } from '../transport/wire.js';
import type { Reply, Route, Running, Target, TargetOptions } from './targets.js';

/** Starts `target` for one test and closes it when the test ends (unless the test closed it). */
async function start(t: TestContext, target: Target, routes: Route[], options?: TargetOptions): Promise<Running> {
  const running = await target.start(routes, options);
  let closed: Promise<unknown> | undefined;
  const close = running.close;
  running.close = (timeoutMs) => (closed ??= close(timeoutMs)) as ReturnType<typeof close>;
  t.after(() => running.close(100));
  return running;
}

/** A GET whose response the test reads by hand. */
function open(url: string, agent?: http.Agent, headers?: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get(url, { agent, headers }, resolve).on('error', reject));
}

async function readAll(res: http.IncomingMessage): Promise<number> {
  let bytes = 0;
  for await (const chunk of res) bytes += (chunk as Buffer).length;
  return bytes;
}

const text = (body: string) => ({ body });

/** A connection to `url` that has sent `data` as it is: for what a client library would not send (a body cut short, pipelined requests). */
function sent(url: string, data: string): net.Socket {
  const { hostname, port } = new URL(url);
  const client = net.connect(Number(port), hostname);
  client.on('error', () => {});
  client.write(data);
  return client;
}

/**
 * Starts `target` with a route whose handler calls `first()`, then waits until
 * the server has seen its client (request id `r-left`) leave, then answers
 * with `rest()`. Resolves once the handler is in `rest()`.
 */
async function leftWhileHandled(t: TestContext, target: Target, first: () => void, rest: () => Promise<Reply>, options?: TargetOptions): Promise<Running> {
  const handling = deferred();
  const seen = deferred();
  const running = await start(t, target, [{
    path: '/left',
    async handle(_onResponse, _body, left) {
      const gone = left();
      first();
      handling.resolve();
      await gone;
      seen.resolve();
      return rest();
    },
  }], options);
  const client = sent(running.url, 'GET /left HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: r-left\r\n\r\n');
  await handling.promise;
  client.destroy();
  await seen.promise;
  return running;
}

/** Resolves once `app`'s shutdown has begun (a framework's close() reaches Coda's a few turns later). */
async function closingBegun(app: App): Promise<void> {
  const signal = app[kClosingSignal];
  if (!signal.aborted) await once(signal, 'abort');
}

export function guarantees(target: Target): void {
  test(`${target.name}: after() from deep in the request's async call tree and the per-response registration run after the response, with its outcome`, async (t) => {
    const seen: { how: string; outcome: Outcome; requestId: string }[] = [];
    const deep = async (note: unknown): Promise<void> => {
      await new Promise((resolve) => setImmediate(resolve));
      after(({ outcome, request }) => { seen.push({ how: `after ${JSON.stringify(note)}`, outcome, requestId: request.id }); }, { name: 'deep' });
    };
    const running = await start(t, target, [{
      method: 'POST',
      path: '/notes',
      async handle(onResponse, body) {
        await deep(body);
        onResponse(({ outcome, request }) => { seen.push({ how: 'on the response', outcome, requestId: request.id }); });
        return text('saved');
      },
    }]);
    const res = await fetch(`${running.url}/notes`, {
      method: 'POST', body: JSON.stringify({ n: 1 }), headers: { 'content-type': 'application/json', 'x-request-id': 'req-1' },
    });
    assert.equal(await res.text(), 'saved');
    await running.app.settle();
    assert.deepEqual(seen.map(({ how, requestId }) => [how, requestId]), [['after {"n":1}', 'req-1'], ['on the response', 'req-1']]);
    const { outcome } = seen[0]!;
    assert.equal(outcome.status, 200);
    assert.equal(outcome.completed, true);
    assert.equal(outcome.aborted, false);
    assert.equal(outcome.bytesSent, 5);
    assert.ok(outcome.finishedAt >= outcome.startedAt);
  });

  test(`${target.name}: a HEAD request (a GET route): the head goes out without the body, the tasks run with a complete outcome of no body bytes`, async (t) => {
    const seen = deferred<Outcome>();
    const running = await start(t, target, [{
      path: '/page',
      handle(onResponse) {
        onResponse(({ outcome }) => { seen.resolve(outcome); });
        return text('the page');
      },
    }]);
    const res = await fetch(`${running.url}/page`, { method: 'HEAD' });
    assert.deepEqual([res.status, await res.text()], [200, '']);
    const outcome = await seen.promise;
    assert.deepEqual([outcome.status, outcome.completed, outcome.aborted, outcome.bytesSent], [200, true, false, 0]);
  });

  test(`${target.name}: with a slow client reading 20 MB, tasks start only after the last byte was handed over`, async (t) => {
    const size = 20 * 1024 * 1024;
    let outcome: Outcome | undefined;
    const running = await start(t, target, [
      { path: '/big', handle: (onResponse) => { onResponse((ctx) => { outcome = ctx.outcome; }); return { body: new Uint8Array(size) }; } },
      { path: '/ping', handle: () => text('pong') },
    ]);
    const res = await open(`${running.url}/big`);
    res.pause();
    // A round trip on another connection: the server's loop has turned (a task queued at end() would have run), while this client reads nothing.
    assert.equal(await (await fetch(`${running.url}/ping`)).text(), 'pong');
    assert.equal(outcome, undefined, 'the task ran before the client had the body');
    assert.equal(running.app.afterStats().running, 0);
    assert.equal(await readAll(res), size);
    await running.app.settle();
    const known = outcome as Outcome | undefined;
    assert.equal(known?.completed, true);
    assert.equal(known?.bytesSent, size);
  });

  test(`${target.name}: keep-alive: a long task of request 1 does not delay request 2 on the same socket`, async (t) => {
    const release = deferred();
    const running = await start(t, target, [
      { path: '/slow-task', handle: () => { after(() => release.promise, { name: 'long' }); return text('one'); } },
      { path: '/second', handle: () => text('two') },
    ]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await open(`${running.url}/slow-task`, agent);
      const port = first.socket.localPort;
      await readAll(first);
      const second = await open(`${running.url}/second`, agent);
      assert.equal(second.socket.localPort, port, 'expected the same keep-alive socket');
      assert.equal(await readAll(second), 3);
      assert.equal(running.app.afterStats().running, 1, 'request 2 was answered while the task of request 1 ran');
    } finally {
      release.resolve();
      agent.destroy();
    }
    await running.app.settle();
    assert.equal(running.app.afterStats().completed, 1);
  });

  test(`${target.name}: a task that throws, rejects or hangs is reported and counted; the others run; the server lives`, async (t) => {
    const failures: TaskFailure[] = [];
    const ran: string[] = [];
    let signal: AbortSignal | undefined;
    const running = await start(t, target, [
      {
        path: '/',
        handle(onResponse) {
          after(() => { throw new Error('sync boom'); }, { name: 'throws' });
          after(async () => { throw new Error('async boom'); }, { name: 'rejects' });
          onResponse((ctx) => { signal = ctx.signal; return new Promise(() => {}); }, { name: 'hangs', timeoutMs: 20 });
          onResponse(() => { ran.push('last'); }, { name: 'last' });
          return text('ok');
        },
      },
    ], { after: { onError: (failure) => failures.push(failure) } });
    const res = await fetch(`${running.url}/`, { headers: { 'x-request-id': 'r-iso' } });
    assert.equal(await res.text(), 'ok');
    await running.app.settle();
    assert.deepEqual(ran, ['last']);
    assert.deepEqual(failures.map((f) => [f.name, f.context.request.id, (f.error as Error).message]).sort(), [
      ['hangs', 'r-iso', 'task hangs timed out after 20 ms'],
      ['rejects', 'r-iso', 'async boom'],
      ['throws', 'r-iso', 'sync boom'],
    ]);
    assert.equal(signal?.aborted, true);
    const stats = running.app.afterStats();
    assert.deepEqual([stats.failed, stats.timedOut, stats.completed], [2, 1, 1]);
    assert.equal(await (await fetch(`${running.url}/`)).text(), 'ok', 'the server still answers');
  });

  test(`${target.name}: a client that aborts mid-stream: outcome.aborted, 'completed' tasks skipped, 'always' tasks run`, async (t) => {
    const ran: Outcome[] = [];
    const firstChunk = deferred();
    const running = await start(t, target, [{
      path: '/stream',
      handle(onResponse) {
        onResponse(({ outcome }) => { ran.push(outcome); }, { name: 'always' });
        after(() => { ran.push({} as Outcome); }, { name: 'only-if-completed', when: 'completed' });
        return {
          async *stream() {
            for (let i = 0; i < 10_000; i++) {
              yield Buffer.alloc(64 * 1024, i);
              firstChunk.resolve();
            }
          },
        };
      },
    }]);
    const res = await open(`${running.url}/stream`);
    await firstChunk.promise;
    res.destroy();
    await running.app.settle();
    assert.equal(ran.length, 1);
    assert.equal(ran[0]!.aborted, true);
    assert.equal(ran[0]!.completed, false);
    assert.equal(ran[0]!.status, 200);
    assert.equal(ran[0]!.error, undefined, 'a client that left is no failure of the response');
    assert.ok(ran[0]!.bytesSent > 0);
    assert.equal(running.app.afterStats().skipped, 1);
  });

  test(`${target.name}: a response written by hand (res.write() waiting for 'drain', reply.hijack(), ctx.respond = false, Hono's stream()): read whole, its tasks see every byte sent; its client gone mid-way, they see it aborted; each runs once`, async (t) => {
    const ran: [string, Outcome][] = [];
    const firstChunk = deferred();
    const written = (path: string, count: number, size: number): Route => ({
      path,
      handle(onResponse) {
        onResponse(({ outcome }) => { ran.push([path, outcome]); });
        after(({ outcome }) => { ran.push([path, outcome]); });
        return {
          async *written() {
            for (let i = 0; i < count; i++) {
              yield Buffer.alloc(size, i);
              firstChunk.resolve();
            }
          },
        };
      },
    });
    const running = await start(t, target, [written('/whole', 4, 16 * 1024), written('/endless', 10_000, 64 * 1024)]);
    assert.equal(await readAll(await open(`${running.url}/whole`)), 64 * 1024);
    const res = await open(`${running.url}/endless`);
    await firstChunk.promise;
    res.destroy();
    await running.app.settle();
    const seen = ran.map(([path, { completed, aborted, error, bytesSent }]) => [path, completed, aborted, error, path === '/whole' ? bytesSent : 'some']).sort();
    const endless = ['/endless', false, true, undefined, 'some'];
    const whole = ['/whole', true, false, undefined, 64 * 1024];
    assert.deepEqual(seen, [endless, endless, whole, whole]);
  });

  test(`${target.name}: a client that leaves mid-body (its request body cut short): the request ends aborted, before the handler, its tasks run, nothing stays in flight`, { timeout: 10_000 }, async (t) => {
    const handled: string[] = [];
    const started = deferred();
    const seen = deferred<Outcome>();
    const running = await start(t, target, [{
      method: 'POST',
      path: '/upload',
      handle() {
        handled.push('the handler ran');
        return text('saved');
      },
    }], { logger: memoryLogger().logger });
    // As the request starts, before any body is read: after() there is code of the request.
    running.app.signals.requestStarted.connect(() => {
      after(({ outcome }) => { seen.resolve(outcome); }, { name: 'always' });
      started.resolve();
    });
    const client = sent(running.url, 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"n":');
    await started.promise;
    client.destroy();
    const outcome = await seen.promise;
    assert.deepEqual([outcome.aborted, outcome.completed], [true, false]);
    await running.app.settle();
    assert.equal(running.app.requestsInFlight, 0);
    assert.deepEqual(handled, [], 'a body cut short is never handed to the handler');
  });

  test(`${target.name}: a response whose stream fails mid-way: outcome.error is the stream's failure, not a client that left`, async (t) => {
    const failure = new Error('the source broke');
    const breaks = deferred();
    const seen = deferred<Outcome>();
    const running = await start(t, target, [{
      path: '/broken',
      handle(onResponse) {
        onResponse(({ outcome }) => { seen.resolve(outcome); });
        return {
          async *stream() {
            yield Buffer.from('partial');
            await breaks.promise;
            throw failure;
          },
        };
      },
    }], { logger: memoryLogger().logger });
    const res = await open(`${running.url}/broken`);
    await once(res, 'data');
    breaks.resolve();
    await assert.rejects(readAll(res), 'the response is cut short');
    const outcome = await seen.promise;
    assert.deepEqual([outcome.aborted, outcome.error], [true, failure]);
  });

  test(`${target.name}: an error after the response's head went out (thrown, or given to next()): the response is cut once what was written went out, outcome.error is that error, outcome.status the status sent, the tasks run`, {
    timeout: 10_000,
  }, async (t) => {
    const failure = new Error('failed after the head');
    const seen = deferred<Outcome>();
    const running = await start(t, target, [{
      path: '/late',
      handle(onResponse) {
        onResponse(({ outcome }) => { seen.resolve(outcome); });
        return { partial: 'partial', failure };
      },
    }], { logger: memoryLogger().logger });
    const received: string[] = [];
    const response = await open(`${running.url}/late`);
    await assert.rejects(async () => {
      for await (const chunk of response) received.push(String(chunk));
    }, 'the client sees the response fail, not end');
    // Written in the tick of the error, corked until the next: destroyed at once (Fastify, Hono), it never left, not even the head.
    assert.equal(received.join(''), 'partial', 'what was written before the error reaches the client before the cut');
    const outcome = await seen.promise;
    assert.deepEqual([outcome.aborted, outcome.headersSent, outcome.bytesSent, outcome.error], [true, true, 7, failure]);
    // The status the head went out with (Koa's 404 until a body is set), not the 500 an error handler set after it (Fastify's).
    assert.equal(outcome.status, response.statusCode);
    await running.app.settle();
    assert.equal(running.app.requestsInFlight, 0);
  });

  test(`${target.name}: pipelined requests whose client leaves while the first is handled: every task runs and the app settles`, async (t) => {
    const outcomes = new Map<string, Outcome>();
    const handling = deferred();
    const gone = deferred();
    const route = (name: string): Route => ({
      path: `/${name}`,
      async handle() {
        after(({ outcome }) => { outcomes.set(name, outcome); }, { name });
        if (name === 'slow') {
          handling.resolve();
          await gone.promise;
        }
        return text('ok');
      },
    });
    const running = await start(t, target, ['slow', 'fast1', 'fast2'].map(route));
    const client = sent(running.url, ['slow', 'fast1', 'fast2'].map((name) => `GET /${name} HTTP/1.1\r\nHost: localhost\r\n\r\n`).join(''));
    await handling.promise;
    client.destroy();
    await new Promise((resolve) => client.once('close', resolve));
    gone.resolve();
    // Node 22 emits no 'close' for a response still queued behind another when its connection dies: the connection's own finishes it.
    // (Whether each counts as aborted depends on when the server learns the client left: Node 22 may hand an answer to the kernel first.)
    await running.app.settle();
    // serve() runs pipelined requests one at a time: those behind the first never started, and never run (pipelining-turns.test.ts).
    assert.deepEqual([...outcomes.keys()].sort(), target.name === 'coda' ? ['slow'] : ['fast1', 'fast2', 'slow']);
    assert.equal(running.app.requestsInFlight, 0);
  });

  test(`${target.name}: a client that leaves before the handler answers: the request stays in flight until it has; close() waits for it and runs what it registered`, async (t) => {
    const outcomes: [string, Outcome][] = [];
    const release = deferred();
    const running = await leftWhileHandled(t, target, () => {
      after(({ outcome }) => { outcomes.push(['before', outcome]); }, { name: 'before' });
    }, async () => {
      await release.promise;
      after(({ outcome }) => { outcomes.push(['after', outcome]); }, { name: 'after' });
      // A stream: a framework may write none of it to a client that left (nothing then says the handler answered but its return).
      return { async *stream() { yield Buffer.from('nobody reads this'); } };
    });
    assert.equal(running.app.requestsInFlight, 1, 'the request is in flight while its handler runs');
    assert.equal(outcomes.length, 0, 'no task ran before the handler answered');
    const closing = running.close(5_000);
    await closingBegun(running.app);
    release.resolve();
    const report = await closing;
    // Nothing went out: what the handler wrote to a response whose client had left is not counted as sent.
    assert.deepEqual(outcomes.map(([name, o]) => [name, o.aborted, o.headersSent, o.bytesSent]), [['before', true, false, 0], ['after', true, false, 0]]);
    assert.deepEqual([report.tasksCompleted, report.tasksAbandoned, report.requestsInFlightAtClose], [2, [], 1]);
  });

  test(`${target.name}: a handler that never answers after its client left: close() gives up on it at the deadline and lists its tasks`, async (t) => {
    const running = await leftWhileHandled(t, target, () => {
      after(() => {}, { name: 'never-run' });
    }, () => new Promise<never>(() => {}), { logger: memoryLogger().logger });
    const report = await running.close(100);
    assert.deepEqual([report.tasksAbandoned, report.requestsInFlightAtClose], [[{ name: 'never-run', requestId: 'r-left' }], 1]);
  });

  test(`${target.name}: at maxPending new requests get 503 with Retry-After; nothing accepted is lost; service resumes`, async (t) => {
    const release = deferred();
    const running = await start(t, target, [
      { path: '/work', handle: () => { after(() => release.promise, { name: 'queued' }); return text('ok'); } },
    ], { after: { concurrency: 1, maxPending: 2, lowWater: 0 } });
    let accepted = 0;
    let refused: Response | undefined;
    for (let i = 0; i < 10 && refused === undefined; i++) {
      const res = await fetch(`${running.url}/work`, { headers: { accept: 'application/json' } });
      if (res.status === 200) {
        accepted++;
        await res.text();
      } else {
        refused = res;
      }
    }
    assert.ok(refused !== undefined, 'expected a 503 once the queue was full');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(await refused.text(), /after-response queue is full/);
    assert.equal(running.app.afterStats().shed, 1);
    release.resolve();
    await running.app.settle();
    assert.equal(running.app.afterStats().completed, accepted);
    assert.equal((await fetch(`${running.url}/work`)).status, 200);
    await running.app.settle();
    assert.equal(running.app.afterStats().completed, accepted + 1);
  });

  test(`${target.name}: a request in flight when close() begins is answered with Connection: close`, async (t) => {
    const handling = deferred();
    const release = deferred();
    const running = await start(t, target, [{ path: '/slow', handle: async () => { handling.resolve(); await release.promise; return text('ok'); } }]);
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const answer = open(`${running.url}/slow`, agent);
    await handling.promise;
    const closing = running.close(5_000);
    await closingBegun(running.app);
    release.resolve();
    const res = await answer;
    assert.equal(res.headers.connection, 'close');
    assert.equal(await readAll(res), 2);
    await closing;
  });

  test(`${target.name}: close() while three pipelined requests are handled: none is dropped by a Connection: close ahead of it, the last asks for it`, async (t) => {
    const closed = deferred<{ report: Promise<ShutdownReport> }>();
    let handled = 0;
    const running: Running = await start(t, target, [{
      path: '/',
      async handle() {
        const n = ++handled;
        // The first closes the server once the other two are in flight (the framework got them while it works); they answer after.
        if (n === 1) {
          for (let i = 0; i < 100 && running.app.requestsInFlight < 3; i++) await new Promise((resolve) => setImmediate(resolve));
          const report = running.close(2_000);
          await closingBegun(running.app);
          closed.resolve({ report });
        } else {
          await closed.promise;
        }
        return text(`answer ${n}`);
      },
    }]);
    const raw = await pipelined({ port: Number(new URL(running.url).port) } as Server, [request('/'), request('/'), request('/')]);
    const { list, rest } = responses(raw);
    assert.equal(rest.length, 0);
    if (target.name === 'coda') {
      // serve() runs pipelined requests one at a time: the two behind had not started, and never run (RFC 9112 9.6, as Go; close.peers.test.ts).
      assert.deepEqual(list.map((r) => [r.body.toString(), r.headers.connection]), [['answer 1', 'close']], raw.toString('latin1'));
      assert.equal((await (await closed.promise).report).requestsInFlightAtClose, 1);
      return;
    }
    assert.deepEqual(list.map((r) => [r.body.toString(), r.headers.connection]), [['answer 1', 'keep-alive'], ['answer 2', 'keep-alive'], ['answer 3', 'close']], raw.toString('latin1'));
    assert.equal((await (await closed.promise).report).requestsInFlightAtClose, 3);
  });

  test(`${target.name}: close() runs the pending tasks and reports what ran`, async (t) => {
    const ran: number[] = [];
    const running = await start(t, target, [{ path: '/', handle: () => { after(async () => { await null; ran.push(1); }); return text('ok'); } }]);
    await Promise.all([1, 2, 3].map(() => fetch(running.url).then((r) => r.text())));
    const report = await running.close(5_000);
    assert.equal(ran.length, 3);
    assert.deepEqual(report, { tasksCompleted: 3, tasksAbandoned: [], requestsInFlightAtClose: 0, tasksLeftInStore: [] });
  });

  test(`${target.name}: at the deadline close() aborts running tasks through their signal and lists every abandoned task`, async (t) => {
    let signal: AbortSignal | undefined;
    const running = await start(t, target, [{
      path: '/',
      handle(onResponse) {
        onResponse((ctx) => { signal = ctx.signal; return new Promise(() => {}); }, { name: 'hangs' });
        onResponse(() => {}, { name: 'behind-it' });
        return text('ok');
      },
    }], { after: { concurrency: 1 }, logger: memoryLogger().logger });
    await (await fetch(running.url, { headers: { 'x-request-id': 'r-1' } })).text();
    const report = await running.close(50);
    assert.equal(signal?.aborted, true);
    assert.deepEqual(report.tasksAbandoned, [{ name: 'hangs', requestId: 'r-1' }, { name: 'behind-it', requestId: 'r-1' }]);
    assert.equal(report.tasksCompleted, 0);
  });

  test(`${target.name}: a durable task is in the store before the first byte of its response reaches the client, and runs after it`, async (t) => {
    const file = tempFile(t);
    const ran = deferred<{ payload: unknown; status: number | undefined }>();
    const noted = task('noted', (payload: { n: number }, ctx) => { ran.resolve({ payload, status: ctx.outcome?.status }); });
    const running = await start(t, target, [{
      method: 'POST',
      path: '/notes',
      handle(onResponse, body) {
        void after(noted, body as { n: number });
        void onResponse(noted, { n: 2 });
        return text('saved');
      },
    }], { tasks: { definitions: [noted], store: sqliteStore({ path: file }) } });
    const res = await fetch(`${running.url}/notes`, { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } });
    // The head is here: read the file through a connection of our own.
    const reader = new DatabaseSync(file, { readOnly: true });
    const row = reader.prepare("SELECT count(*) AS n FROM coda_tasks WHERE name = 'noted'").get() as { n: number };
    reader.close();
    assert.equal(row.n, 2);
    assert.equal(await res.text(), 'saved');
    const first = await ran.promise;
    assert.equal(first.status, 200);
    await running.app.settle();
    assert.equal((await running.app.tasks.stats()).completed, 2);
  });

  test(`${target.name}: a durable task of a response whose client aborts mid-stream (the response held until the task was journaled, then streamed): the task runs once, its outcome aborted with the bytes handed over, no outcome.error`, async (t) => {
    const ran: Outcome[] = [];
    const runs = deferred();
    const firstChunk = deferred();
    const noted = task('noted', (_payload: Record<string, never>, ctx) => {
      ran.push(ctx.outcome!);
      runs.resolve();
    });
    const running = await start(t, target, [{
      path: '/stream',
      handle() {
        void after(noted, {});
        return {
          async *stream() {
            for (let i = 0; i < 10_000; i++) {
              yield Buffer.alloc(64 * 1024, i);
              firstChunk.resolve();
            }
          },
        };
      },
    }], { tasks: { definitions: [noted], store: sqliteStore({ path: tempFile(t) }) } });
    const res = await open(`${running.url}/stream`);
    await firstChunk.promise;
    res.destroy();
    await runs.promise;
    await running.app.settle();
    assert.equal(ran.length, 1);
    const [{ status, completed, aborted, error, bytesSent }] = ran as [Outcome];
    assert.deepEqual({ status, completed, aborted, error }, { status: 200, completed: false, aborted: true, error: undefined });
    assert.ok(bytesSent > 0 && bytesSent < 10_000 * 64 * 1024, `some of the body was sent: ${bytesSent}`);
    assert.equal((await running.app.tasks.stats()).completed, 1);
  });

  test(`${target.name}: a store that cannot take the durable task: 503 with Retry-After naming the store instead of the response`, async (t) => {
    const file = tempFile(t);
    const noted = task('noted', () => {});
    const running = await start(t, target, [{ method: 'POST', path: '/notes', handle: () => { void after(noted, {}); return text('saved'); } }], {
      tasks: { definitions: [noted], store: sqliteStore({ path: file, busyTimeoutMs: 50 }) },
      logger: memoryLogger().logger,
    });
    await running.app.tasks.stats(); // opened: the schema exists before the lock
    const locker = new DatabaseSync(file);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      const res = await fetch(`${running.url}/notes`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', accept: 'application/json' } });
      const { error } = (await res.json()) as { error: { message: string } };
      assert.deepEqual([res.status, res.headers.get('retry-after')], [503, '1']);
      assert.ok(error.message.startsWith("the request's durable tasks could not be journaled") && error.message.includes(file), `the message names the store: ${error.message}`);
      locker.exec('ROLLBACK');
      assert.equal((locker.prepare('SELECT count(*) AS n FROM coda_tasks').get() as { n: number }).n, 0);
      const again = await fetch(`${running.url}/notes`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(await again.text(), 'saved', 'the store is free again: service resumes by itself');
    } finally {
      locker.close();
    }
  });
}

function tempFile(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-adapters-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'tasks.db');
}
