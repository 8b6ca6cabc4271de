// Hono with no Node response to watch (its app.request(), another fetch
// runtime): coda-http/hono delivers Hono's Response as app.fetch delivers its
// own; the exchange is done once the body has been read to its end or
// cancelled, or at once when there is none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono, type ExecutionContext } from 'hono';
import { stream } from 'hono/streaming';
import { after, type Outcome } from 'coda-http';
import { coda } from 'coda-http/hono';
import { deferred, memoryLogger } from '../helpers.js';

const encoder = new TextEncoder();

function honoApp(options: Parameters<typeof coda>[0] = {}): { app: Hono; tasks: ReturnType<typeof coda> } {
  const tasks = coda({ logger: memoryLogger().logger, ...options });
  const app = new Hono();
  app.use(tasks);
  return { app, tasks };
}

test('app.request(): after(), c.after() and c.executionCtx.waitUntil() run once the body has been read, with the outcome and the response Hono made (less its connection-specific headers, as app.fetch)', async () => {
  const { app, tasks } = honoApp();
  const ran: string[] = [];
  const seen = deferred<{ outcome: Outcome; status: number; type: string | null }>();
  const tracked = deferred();
  app.get('/', (c) => {
    after(() => { ran.push('after'); });
    c.after(({ outcome, response }) => {
      ran.push('c.after');
      seen.resolve({ outcome, status: response.status, type: response.headers.get('content-type') });
    });
    c.executionCtx.waitUntil(tracked.promise);
    c.header('connection', 'close');
    c.header('x-kept', 'yes');
    return c.text('hello', 201);
  });
  const res = await app.request('/');
  assert.deepEqual([res.status, res.headers.get('x-kept'), res.headers.has('connection')], [201, 'yes', false]);
  assert.equal(tasks.app.requestsInFlight, 1, 'not done before the body is read');
  assert.equal(await res.text(), 'hello');
  const { outcome, status, type } = await seen.promise;
  assert.deepEqual([outcome.completed, outcome.aborted, outcome.status, outcome.bytesSent], [true, false, 201, 5]);
  assert.deepEqual([status, type], [201, 'text/plain; charset=UTF-8']);
  tracked.resolve();
  await tasks.app.settle();
  assert.deepEqual(ran, ['after', 'c.after']);
  assert.equal(tasks.app.afterStats().completed, 3);
});

test("app.request() of a streamed body (hono/streaming): the tasks run once the stream has been read to its end", async () => {
  const { app, tasks } = honoApp();
  const outcome = deferred<Outcome>();
  const release = deferred();
  app.get('/stream', (c) => {
    c.after(({ outcome: o }) => outcome.resolve(o));
    return stream(c, async (s) => {
      await s.write('one,');
      await release.promise;
      await s.write('two');
    });
  });
  const res = await app.request('/stream');
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  assert.equal(decoder.decode((await reader.read()).value), 'one,');
  assert.equal(tasks.app.requestsInFlight, 1, 'not done mid-stream');
  release.resolve();
  assert.equal(decoder.decode((await reader.read()).value), 'two');
  assert.equal((await reader.read()).done, true);
  const o = await outcome.promise;
  assert.deepEqual([o.completed, o.aborted, o.bytesSent], [true, false, 7]);
});

test('app.request() of a stream its consumer cancels: the stream Hono made is cancelled, the tasks see an aborted outcome', async () => {
  const { app } = honoApp();
  const outcome = deferred<Outcome>();
  const cancelled = deferred();
  app.get('/endless', (c) => {
    c.after(({ outcome: o }) => outcome.resolve(o));
    return c.body(new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(encoder.encode('tick\n')),
      cancel: () => cancelled.resolve(),
    }));
  });
  const res = await app.request('/endless');
  const reader = res.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), 'tick\n');
  await reader.cancel();
  const o = await outcome.promise;
  await cancelled.promise;
  assert.deepEqual([o.aborted, o.completed, o.bytesSent], [true, false, 5]);
});

test("app.request() whose client leaves while the handler works (its Request's signal aborts): Coda's request.signal aborts then, as in app.fetch, not only once the handler has answered", { timeout: 10_000 }, async () => {
  const { app, tasks } = honoApp();
  const client = new AbortController();
  const seen = deferred<{ aborted: boolean; reason: unknown }>();
  const outcome = deferred<Outcome>();
  const working = deferred();
  let codaSignal: AbortSignal | undefined;
  tasks.app.signals.requestStarted.connect(({ request }) => { codaSignal = request.signal; });
  app.get('/slow', async (c) => {
    c.after(({ outcome: o }) => outcome.resolve(o));
    // Coda's listener was added as the request began: it has run by the time this one runs.
    const left = new Promise((resolve) => c.req.raw.signal.addEventListener('abort', resolve, { once: true }));
    working.resolve();
    await left;
    seen.resolve({ aborted: codaSignal!.aborted, reason: codaSignal!.reason });
    return c.text('nobody reads this');
  });
  const answered = app.request('/slow', { signal: client.signal });
  await working.promise;
  client.abort();
  const { aborted, reason } = await seen.promise;
  assert.equal(aborted, true, "Coda's request.signal follows the client");
  assert.equal((reason as DOMException).name, 'AbortError');
  // Made once its client had left: its body fails at once (it waited for good for its first chunk before).
  await assert.rejects((await answered).text(), { name: 'AbortError' });
  const o = await outcome.promise;
  assert.deepEqual([o.aborted, o.completed], [true, false]);
});

test('a response without a body is done when returned (HEAD too: Hono answers it from GET); close() drains the tasks and reports', async () => {
  const { app, tasks } = honoApp();
  const slow = deferred();
  let done = 0;
  app.get('/none', (c) => {
    c.after(async () => {
      await slow.promise;
      done++;
    });
    return c.body(null, 204);
  });
  app.get('/text', (c) => {
    c.after(() => { done++; });
    return c.text('a GET body');
  });
  assert.equal((await app.request('/none')).status, 204);
  const head = await app.request('/text', { method: 'HEAD' });
  assert.deepEqual([head.status, head.body], [200, null]);
  assert.equal(tasks.app.requestsInFlight, 0);
  const closing = tasks.close({ timeoutMs: 5_000 });
  slow.resolve();
  const report = await closing;
  assert.equal(done, 2);
  assert.deepEqual([report.tasksCompleted, report.tasksAbandoned], [2, []]);
  assert.throws(() => tasks.close({ timeoutMs: -1 }), /coda-http\/hono close\(\): timeoutMs/);
});

test('app.request() at maxPending: a 503 with Retry-After, the route not run; a thrown non-Error is a 500 the tasks see', async () => {
  const { app, tasks } = honoApp({ after: { maxPending: 1 } });
  const hold = deferred();
  let routed = 0;
  app.get('/hold', (c) => {
    routed++;
    c.after(() => hold.promise);
    return c.body(null, 204);
  });
  app.get('/throws', (c) => {
    c.after(({ outcome }) => { statuses.push(outcome.status); });
    throw 'not an Error';
  });
  const statuses: number[] = [];
  assert.equal((await app.request('/hold')).status, 204);
  const refused = await app.request('/hold');
  assert.deepEqual([refused.status, refused.headers.has('retry-after'), routed], [503, true, 1]);
  await refused.text();
  hold.resolve();
  await tasks.app.settle();
  const failed = await app.request('/throws');
  assert.equal(failed.status, 500);
  await failed.text();
  await tasks.app.settle();
  assert.deepEqual(statuses, [500]);
});

test('mounted twice (an app and a sub-app), the first adapter owns the request and its tasks run once', async () => {
  const { app, tasks } = honoApp();
  const inner = coda();
  const sub = new Hono();
  sub.use(inner);
  const ran: string[] = [];
  sub.get('/x', (c) => {
    after(() => { ran.push('after'); });
    c.after(() => { ran.push('c.after'); });
    return c.body(null, 204);
  });
  app.route('/sub', sub);
  assert.equal((await app.request('/sub/x')).status, 204);
  await tasks.app.settle();
  assert.deepEqual(ran, ['after', 'c.after']);
  assert.equal(inner.app.afterStats().completed, 0);
});

/**
 * The ExecutionContext a fetch runtime gives `app.fetch(request, env, ctx)`, made by hand: the runtime itself
 * (workerd, which freezes the isolate once the response is out and its waitUntil promises have settled) is not
 * available here. It records what it is given, and when each promise settles.
 */
function runtimeContext(): { ctx: ExecutionContext; given: { settled: boolean; promise: Promise<unknown> }[]; passedThrough: number } {
  const runtime = {
    given: [] as { settled: boolean; promise: Promise<unknown> }[],
    passedThrough: 0,
    ctx: {
      waitUntil(promise: Promise<unknown>): void {
        const entry = { settled: false, promise };
        void promise.then(() => { entry.settled = true; });
        runtime.given.push(entry);
      },
      passThroughOnException(): void {
        runtime.passedThrough++;
      },
      props: { tenant: 'a' },
    },
  };
  return runtime;
}

test("on a runtime that gives Hono its ExecutionContext (Workers' app.fetch(request, env, ctx)), each request hands the runtime's waitUntil one promise, settled only once that request's after-response work has run", async () => {
  const { app } = honoApp();
  const runtime = runtimeContext();
  const started = deferred();
  const release = deferred();
  const tracked = deferred();
  const ran: string[] = [];
  app.get('/', (c) => {
    c.after(async () => {
      started.resolve();
      await release.promise;
      ran.push('c.after');
    });
    after(() => { ran.push('after'); });
    c.executionCtx.waitUntil(tracked.promise.then(() => { ran.push('waitUntil'); }));
    // The runtime's own, through Coda's c.executionCtx.
    c.executionCtx.passThroughOnException();
    assert.deepEqual(c.executionCtx.props, { tenant: 'a' });
    return c.text('hello');
  });
  app.get('/nothing-after', (c) => c.text('plain'));
  const res = await app.fetch(new Request('http://localhost/'), {}, runtime.ctx);
  assert.equal(runtime.given.length, 1, 'one waitUntil for the request, given while it was handled');
  assert.equal(runtime.passedThrough, 1);
  assert.equal(await res.text(), 'hello');
  await started.promise;
  tracked.resolve();
  // A turn of the event loop for anything that would settle it early (the other tasks end meanwhile).
  await new Promise((turn) => setImmediate(turn));
  assert.equal(runtime.given[0]!.settled, false, 'not settled while a task of the request still runs');
  release.resolve();
  await runtime.given[0]!.promise;
  assert.deepEqual(ran.sort(), ['after', 'c.after', 'waitUntil'], 'settled after every task of the request ran');

  // A request with no after-response work: its promise settles once its body has been read (its response done).
  const plain = await app.fetch(new Request('http://localhost/nothing-after'), {}, runtime.ctx);
  assert.equal(runtime.given.length, 2);
  await new Promise((turn) => setImmediate(turn));
  assert.equal(runtime.given[1]!.settled, false, 'not settled before the response is done');
  assert.equal(await plain.text(), 'plain');
  await runtime.given[1]!.promise;
});

test("on such a runtime, work that never ends is still reported: a task timed out, or given up by close(), settles the runtime's promise", async () => {
  const { app, tasks } = honoApp({ after: { timeoutMs: 20 } });
  const runtime = runtimeContext();
  const started = deferred();
  app.get('/times-out', (c) => {
    c.after(() => new Promise(() => {}));
    return c.body(null, 204);
  });
  app.get('/given-up', (c) => {
    c.after(() => {
      started.resolve();
      return new Promise(() => {});
    }, { timeoutMs: 60_000 });
    return c.body(null, 204);
  });
  await app.fetch(new Request('http://localhost/times-out'), {}, runtime.ctx);
  await runtime.given[0]!.promise;
  assert.equal(tasks.app.afterStats().timedOut, 1);
  await app.fetch(new Request('http://localhost/given-up'), {}, runtime.ctx);
  await started.promise;
  const report = await tasks.close({ timeoutMs: 10 });
  assert.equal(report.tasksAbandoned.length, 1);
  await runtime.given[1]!.promise;
});
