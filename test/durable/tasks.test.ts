import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import {
  after, createApp, get, HttpResponse, include, JsonResponse, NonRetryableError, post, serve, sqliteStore, StoreUnavailable, StreamingResponse, task, type TaskContext,
  type App, type Logger, type Server, type TaskStore,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, memoryLogger, watchUncaught } from '../helpers.js';
import { intercepting } from './intercepting.js';
import { makeReadOnly } from './read-only.js';
import { assertShutdownAbortsThroughSignal } from './shutdown-signal.js';
import type { Released, StoredTask } from '../../src/durable/store.js';

function tempFile(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'tasks.db');
}

/** The store, except that the first `times` calls of `method` are refused, as a locked file or a dropped Redis connection would refuse them. */
function refusing(inner: TaskStore, method: 'release' | 'complete', times = 1): { store: TaskStore; calls: () => number; written: Promise<void> } {
  let calls = 0;
  const written = deferred();
  const store = intercepting(inner, method, async (call, args) => {
    if (calls++ < times) throw new StoreUnavailable(inner.description, new Error('database is locked'));
    const result = await call(...args);
    written.resolve();
    return result;
  });
  return { store, calls: () => calls, written: written.promise };
}

/** The store, telling the ids its `claim()` calls returned, and each `release()` call's result once the store has taken it (`released(n)`, from 0). */
function watchingClaims(inner: TaskStore): { store: TaskStore; claimed: string[]; released: (n: number) => Promise<Released> } {
  const claimed: string[] = [];
  const releases: ReturnType<typeof deferred<Released>>[] = [];
  const nth = (n: number) => (releases[n] ??= deferred<Released>());
  let count = 0;
  const claiming = intercepting(inner, 'claim', async (call, args) => {
    const tasks = (await call(...args)) as StoredTask[];
    claimed.push(...tasks.map(({ id }) => id));
    return tasks;
  });
  const store = intercepting(claiming, 'release', async (call, args) => {
    const result = (await call(...args)) as Released;
    nth(count++).resolve(result);
    return result;
  });
  return { store, claimed, released: (n) => nth(n).promise };
}

test('after(task, payload) in a view runs once the response is done, with its id, attempt, request snapshot and outcome', async () => {
  const seen: { payload: unknown; ctx: TaskContext }[] = [];
  const welcome = task('welcome', (payload: { userId: string }, ctx) => { seen.push({ payload, ctx }); });
  const app = createApp({
    tasks: { definitions: [welcome] },
    routes: [post('/users/:id', (request) => {
      after(welcome, { userId: request.params.id });
      return new JsonResponse({ ok: true }, { status: 201 });
    })],
  });
  await using client = createTestClient(app);
  assert.equal((await client.post('/users/7', { headers: { 'x-request-id': 'req-7' } })).status, 201);
  await client.settle();
  assert.equal(seen.length, 1);
  const { payload, ctx } = seen[0]!;
  assert.deepEqual(payload, { userId: '7' });
  assert.equal(ctx.name, 'welcome');
  assert.equal(ctx.attempt, 1);
  assert.match(ctx.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(ctx.request, { id: 'req-7', method: 'POST', path: '/users/7', route: '/users/:id', ip: '127.0.0.1', protocol: 'http', host: 'localhost' });
  assert.equal(ctx.outcome?.status, 201);
  assert.equal(ctx.outcome?.completed, true);
  assert.deepEqual(client.tasks.map((t) => [t.name, t.state, t.requestId]), [['welcome', 'completed', 'req-7']]);
  assert.equal((await app.tasks.stats()).completed, 1);
});

test("a task's request snapshot names its route when the route has a name, through the store and back", async () => {
  const seen: TaskContext[] = [];
  const audit = task('audit', (_payload: object, ctx) => { seen.push(ctx); });
  const app = createApp({
    tasks: { definitions: [audit] },
    routes: [post('/notes/:id/share', () => new HttpResponse('shared').after(audit, {}), { name: 'share-note' })],
  });
  await using client = createTestClient(app);
  assert.equal((await client.post('/notes/3/share')).status, 200);
  await client.settle();
  assert.equal(seen[0]?.request?.route, '/notes/:id/share');
  assert.equal(seen[0]?.request?.routeName, 'share-note');
});

test("a task's request snapshot names a route inside include() with its namespace, as app.reverse() takes it", async () => {
  const seen: TaskContext[] = [];
  const audit = task('audit', (_payload: object, ctx) => { seen.push(ctx); });
  const notes = [post('/:id/share', () => new HttpResponse('shared').after(audit, {}), { name: 'share' })];
  const app = createApp({
    tasks: { definitions: [audit] },
    routes: [include('/notes', [include('/v1', notes, { namespace: 'v1' })], { namespace: 'notes' })],
  });
  await using client = createTestClient(app);
  assert.equal((await client.post('/notes/v1/3/share')).status, 200);
  await client.settle();
  assert.equal(seen[0]?.request?.routeName, 'notes:v1:share');
  assert.equal(app.reverse(seen[0]!.request!.routeName!, { id: 3 }), '/notes/v1/3/share');
});

test('ctx.log is the app\'s logger bound to the task\'s id and name, and the request id when a request caused it', async () => {
  const { logger, lines } = memoryLogger();
  const logged = task('logged', (payload: { n: number }, ctx) => {
    assert.equal(ctx.log, ctx.log, 'made once an attempt');
    ctx.log.info({ n: payload.n }, 'hello from a task');
  });
  const app = createApp({
    logger,
    tasks: { definitions: [logged] },
    routes: [post('/', () => new HttpResponse('ok').after(logged, { n: 1 }))],
  });
  await using client = createTestClient(app);
  await client.post('/', { headers: { 'x-request-id': 'req-9' } });
  const { id: enqueued } = await app.tasks.enqueue(logged, { n: 2 });
  await client.settle();
  const said = lines.filter(({ msg }) => msg === 'hello from a task').map(({ taskId, task: name, requestId, n }) => ({ taskId, name, requestId, n }));
  assert.equal(said.length, 2);
  const [fromRequest, outside] = said[0]!.n === 1 ? said : [said[1]!, said[0]!];
  assert.deepEqual({ ...fromRequest, taskId: typeof fromRequest!.taskId }, { taskId: 'string', name: 'logged', requestId: 'req-9', n: 1 });
  assert.deepEqual(outside, { taskId: enqueued, name: 'logged', requestId: undefined, n: 2 });
});

test('a durable task is in the store before the first byte of its response reaches the client', async (t) => {
  const file = tempFile(t);
  const noted = task('noted', () => {});
  const app = createApp({
    tasks: { definitions: [noted], store: sqliteStore({ path: file }) },
    routes: [post('/notes', () => new HttpResponse('saved').after(noted, { n: 1 }))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  try {
    const res = await fetch(`${server.url}/notes`, { method: 'POST' });
    // The head is here: read the file through a connection of our own.
    const reader = new DatabaseSync(file, { readOnly: true });
    const row = reader.prepare("SELECT count(*) AS n FROM coda_tasks WHERE name = 'noted'").get() as { n: number };
    reader.close();
    assert.equal(row.n, 1);
    assert.equal(await res.text(), 'saved');
  } finally {
    await server.close();
  }
});

test('group commit: the registrations of requests handled in one turn reach the SQLite store in one add() (one transaction); a later turn\'s in another (promise 1)', async (t) => {
  const file = tempFile(t);
  const noted = task('noted', () => {});
  const batches: number[] = [];
  const store = intercepting(sqliteStore({ path: file }), 'add', (call, args) => {
    batches.push((args[0] as unknown[]).length);
    return call(...args);
  });
  // Five requests wait at one gate, opened by the last to arrive: all five then register in the same turn.
  const N = 5;
  const gate = deferred();
  let arrived = 0;
  const app = createApp({
    tasks: { definitions: [noted], store },
    routes: [
      post('/together', async () => {
        if (++arrived === N) gate.resolve();
        await gate.promise;
        after(noted, { together: true });
        return new HttpResponse('saved');
      }),
      post('/alone', () => new HttpResponse('saved').after(noted, { together: false })),
    ],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  try {
    const responses = await Promise.all(Array.from({ length: N }, () => fetch(`${server.url}/together`, { method: 'POST' })));
    assert.deepEqual(responses.map(({ status }) => status), Array(N).fill(200));
    assert.deepEqual(batches, [N], 'one add() for the turn\'s five registrations');
    assert.equal((await fetch(`${server.url}/alone`, { method: 'POST' })).status, 200);
    assert.deepEqual(batches, [N, 1], 'a later turn\'s registration in an add() of its own');
    const reader = new DatabaseSync(file, { readOnly: true });
    t.after(() => reader.close());
    assert.equal((reader.prepare("SELECT count(*) AS n FROM coda_tasks WHERE name = 'noted'").get() as { n: number }).n, N + 1);
  } finally {
    await server.close();
  }
});

test('a durable task registered as a streamed body is sent (after(task) in its generator, not awaited) is journaled before the body ends: a store that refuses it cuts the response, which a client would have taken whole (promise 1)', async (t) => {
  const file = tempFile(t);
  const noted = task('noted', () => {});
  let refuse = false;
  const store = intercepting(sqliteStore({ path: file }), 'add', (call, args) => {
    if (refuse) return Promise.reject(new StoreUnavailable('the test store', new Error('database is locked')));
    return call(...args);
  });
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [noted], store },
    routes: [
      get('/stream', () => new StreamingResponse((async function* () {
        yield 'first\n';
        void after(noted, { mid: true });
        yield 'second\n';
      })())),
    ],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  t.after(() => server.close());
  // The store takes it: the whole body, and the task is in the file by the time the client has read it.
  const whole = await fetch(`${server.url}/stream`);
  assert.equal(await whole.text(), 'first\nsecond\n');
  const reader = new DatabaseSync(file, { readOnly: true });
  t.after(() => reader.close());
  assert.equal((reader.prepare("SELECT count(*) AS n FROM coda_tasks WHERE name = 'noted'").get() as { n: number }).n, 1);
  // The store refuses it: the response is cut (no last chunk), never a whole 200 for a task that is nowhere.
  refuse = true;
  const cut = await fetch(`${server.url}/stream`);
  assert.equal(cut.status, 200, 'the head was out before the task was registered');
  await assert.rejects(cut.text(), 'the body is cut short');
  assert.ok(lines.some((line) => line.msg?.includes('streaming response failed mid-way') && JSON.stringify(line.err).includes('database is locked')), 'the cut is logged with the store\'s refusal');
  assert.equal((reader.prepare("SELECT count(*) AS n FROM coda_tasks WHERE name = 'noted'").get() as { n: number }).n, 1);
});

test('a flood of registrations in one turn is written in several add()s (transactions), the event loop turning between them, each request\'s tasks whole in one: one transaction of 100,000 held the loop for over a second', async (t) => {
  const file = tempFile(t);
  const noted = task('noted', () => {});
  // A loop of immediates counts the event loop's turns (bounded: it stops when the test is done, or at a cap).
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns++;
    if (counting && turns < 1_000_000) setImmediate(count);
  };
  setImmediate(count);
  t.after(() => (counting = false));
  const batches: { turn: number; requests: Map<string, number> }[] = [];
  const store = intercepting(sqliteStore({ path: file }), 'add', (call, args) => {
    const requests = new Map<string, number>();
    for (const { payload } of args[0] as { payload: string }[]) {
      const { r } = JSON.parse(payload) as { r: string };
      requests.set(r, (requests.get(r) ?? 0) + 1);
    }
    batches.push({ turn: turns, requests });
    return call(...args);
  });
  // Three requests register in one turn (the last to arrive opens the gate): more tasks than one chunk, a request more than one alone.
  const sizes: Record<string, number> = { a: 1500, b: 600, c: 600 };
  const gate = deferred();
  let arrived = 0;
  const app = createApp({
    tasks: { definitions: [noted], store, run: false },
    routes: [
      post('/flood/:r', async (request) => {
        if (++arrived === 3) gate.resolve();
        await gate.promise;
        for (let i = 0; i < sizes[request.params.r]!; i++) after(noted, { r: request.params.r, i });
        return new HttpResponse('saved');
      }),
    ],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  try {
    const responses = await Promise.all(Object.keys(sizes).map((r) => fetch(`${server.url}/flood/${r}`, { method: 'POST' })));
    assert.deepEqual(responses.map(({ status }) => status), [200, 200, 200]);
    assert.ok(batches.length > 1, `written in ${batches.length} add()`);
    for (const [r, size] of Object.entries(sizes)) {
      assert.deepEqual(batches.flatMap(({ requests }) => (requests.has(r) ? [requests.get(r)] : [])), [size], `request ${r}'s ${size} tasks in one add()`);
    }
    for (let i = 1; i < batches.length; i++) assert.ok(batches[i]!.turn > batches[i - 1]!.turn, `the event loop turned between add() ${i} and ${i + 1}`);
  } finally {
    await server.close();
  }
  const reader = new DatabaseSync(file, { readOnly: true });
  t.after(() => reader.close());
  assert.equal((reader.prepare("SELECT count(*) AS n FROM coda_tasks WHERE name = 'noted'").get() as { n: number }).n, 2700);
});

test('each attempt is told with how long it waited after its runAt and how long it ran, on the runner\'s clock', async (t) => {
  const slow = task('slow', () => {
    const until = Date.now() + 3;
    while (Date.now() < until) { /* the task's work */ }
  });
  const app = createApp({
    tasks: { definitions: [slow], store: sqliteStore({ path: tempFile(t) }) },
    routes: [get('/', () => new HttpResponse('ok').after(slow, {}))],
  });
  await using client = createTestClient(app, { tasks: 'app' });
  const before = Date.now();
  await client.get('/');
  await client.settle();
  const elapsed = Date.now() - before;
  const [attempt] = client.tasks;
  assert.equal(attempt?.state, 'completed');
  assert.ok(attempt.runMs! >= 3 && attempt.runMs! <= elapsed, `runMs ${attempt.runMs} is not within [3, ${elapsed}]`);
  assert.ok(attempt.waitMs! >= 0 && attempt.waitMs! <= elapsed, `waitMs ${attempt.waitMs} is not within [0, ${elapsed}]`);
});

test('a task released while the runner has room runs straight from its hold, with no claim; one released without room waits for a claim', async () => {
  const { store, claimed, released } = watchingClaims(sqliteStore({ path: ':memory:' }));
  const gate = deferred();
  const firstRunning = deferred();
  const ran: number[] = [];
  const slow = task('slow', async ({ n }: { n: number }) => {
    ran.push(n);
    if (n !== 1) return;
    firstRunning.resolve();
    await gate.promise;
  });
  const app = createApp({
    tasks: { definitions: [slow], store, concurrency: 1, pollMs: 60_000 },
    routes: [get('/:n', (request) => new HttpResponse('ok').after(slow, { n: Number(request.params.n) }))],
  });
  await using client = createTestClient(app, { tasks: 'app' });
  await client.get('/1');
  const first = await released(0);
  assert.equal(first.claimed.length, 1, 'claimed by its release');
  assert.deepEqual(first.ready, []);
  await firstRunning.promise;
  // The one slot is taken: the second task's release claims nothing, and leaves it ready.
  await client.get('/2');
  const second = await released(1);
  assert.deepEqual(second.claimed, []);
  assert.equal(second.ready.length, 1);
  assert.deepEqual(ran, [1]);
  gate.resolve();
  await client.settle();
  assert.deepEqual(ran, [1, 2]);
  assert.ok(!claimed.includes(first.claimed[0]!.id), 'the first task was never claimed by claim()');
  assert.ok(claimed.includes(second.ready[0]!), 'the second task was claimed by claim() once the slot was free');
  assert.deepEqual(client.tasks.map(({ state, attempt }) => [state, attempt]), [['completed', 1], ['completed', 1]]);
});

test('an attempt that ends with nothing left waiting claims nothing: the tasks a process releases with room cost no claim of their own', async (t) => {
  let claims = 0;
  const store = intercepting(sqliteStore({ path: tempFile(t) }), 'claim', (call, args) => {
    claims++;
    return call(...args);
  });
  let ran = 0;
  const counted = task('counted', () => { ran++; });
  const app = createApp({
    tasks: { definitions: [counted], store, pollMs: 60_000 },
    routes: [get('/', () => new HttpResponse('ok').after(counted, {}))],
  });
  await using client = createTestClient(app, { tasks: 'app' });
  await client.get('/');
  await client.settle();
  const before = claims;
  for (let i = 0; i < 10; i++) {
    await client.get('/');
    await client.settle();
  }
  assert.equal(ran, 11);
  assert.equal(claims, before, 'no claim after an attempt ended with nothing waiting');
});

test('a release the store refuses is written again: the hold, which this process keeps renewing, does not strand the task', { timeout: 10_000 }, async (t) => {
  const { store: flaky, calls } = refusing(sqliteStore({ path: tempFile(t) }), 'release');
  let ran: () => void;
  const running = new Promise<void>((resolve) => { ran = resolve; });
  const noted = task('noted', () => ran());
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [noted], store: flaky }, routes: [get('/', () => new HttpResponse('ok').after(noted, {}))] });
  await using client = createTestClient(app, { tasks: 'app' });
  assert.equal((await client.get('/')).status, 200);
  // The retry's timer does not hold the process open (a server's socket does): here, an interval does, until the task runs.
  const alive = setInterval(() => {}, 1_000);
  t.after(() => clearInterval(alive));
  await running;
  assert.equal(calls(), 2);
  assert.ok(lines.some((line) => /^durable task calls to the .* refused: database is locked/.test(String(line.msg))), 'the refusal is logged, as the store\'s outage');
});

test('a completion the store refuses is written again, its lease renewed meanwhile: the task that succeeded does not run again', { timeout: 10_000 }, async (t) => {
  // Refused three times: the retries (after 100, 200 and 400 ms) outlast the 300 ms lease, which only the heartbeat keeps.
  const { store: flaky, calls, written } = refusing(sqliteStore({ path: tempFile(t) }), 'complete', 3);
  const attempts: number[] = [];
  const noted = task('noted', (_payload, ctx) => { attempts.push(ctx.attempt); });
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger, tasks: { definitions: [noted], store: flaky, leaseMs: 300, pollMs: 50 },
    routes: [get('/', () => new HttpResponse('ok').after(noted, {}))],
  });
  await using client = createTestClient(app, { tasks: 'app' });
  assert.equal((await client.get('/')).status, 200);
  // The retries' timers are unref'd: an interval holds the process open until the completion is written.
  const alive = setInterval(() => {}, 1_000);
  t.after(() => clearInterval(alive));
  await written;
  await client.settle();
  assert.equal(calls(), 4);
  assert.deepEqual(attempts, [1], 'run once: its lease never ran out');
  assert.ok(lines.some((line) => /^durable task calls to the .* refused: database is locked/.test(String(line.msg))), 'the refusal is logged, as the store\'s outage');
  const stats = await app.tasks.stats();
  assert.equal(stats.completed, 1);
  assert.equal(stats.running, 0);
});

test('a failing task is retried by its backoff, without the test sleeping: settle() moves the clock, and waits for retries due at once', async () => {
  for (const backoff of [{ type: 'exponential', delayMs: 60 * 60_000 }, { type: 'fixed', delayMs: 0, jitter: 0 }] as const) {
    let calls = 0;
    const flaky = task('flaky', () => {
      calls++;
      if (calls < 3) throw new Error(`attempt ${calls} broke`);
    }, { attempts: 5, backoff });
    const { logger } = memoryLogger();
    const app = createApp({ logger, tasks: { definitions: [flaky] }, routes: [get('/', () => new HttpResponse('ok').after(flaky, {}))] });
    await using client = createTestClient(app);
    await client.get('/');
    await client.settle();
    assert.equal(calls, 3, backoff.type);
    assert.deepEqual(client.tasks.map((r) => [r.state, r.attempt]), [['retrying', 1], ['retrying', 2], ['completed', 3]]);
  }
});

test('an attempt\'s error is kept to 10,000 characters of its message and of its stack, saying how many more there were: a megabyte\'s message was kept whole for every attempt', async () => {
  const loud = task('loud', () => {
    throw new Error(`upstream answered ${'x'.repeat(1_000_000)}`);
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
  const { logger } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [loud] } });
  await using client = createTestClient(app);
  await app.tasks.enqueue(loud, {});
  await client.settle();
  const [failed] = await app.tasks.list({ state: 'failed' });
  assert.equal(failed?.errors.length, 2);
  for (const { message, stack } of failed.errors) {
    assert.equal(message, `Error: upstream answered ${'x'.repeat(10_000 - 'Error: upstream answered '.length)}… (${1_000_000 + 'Error: upstream answered '.length - 10_000} more characters not kept)`);
    assert.ok(stack !== undefined && stack.length < 10_100 && stack.endsWith('more characters not kept)'), `a stack of ${stack?.length} characters`);
  }
});

test('NonRetryableError fails at once; the failed task keeps its payload and every error; retry() runs it again, discard() removes it', async () => {
  let broken = true;
  const charge = task('charge', (payload: { cents: number }) => {
    if (broken) throw new NonRetryableError(`card declined for ${payload.cents}`);
  }, { attempts: 5 });
  const { logger } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [charge] }, routes: [get('/', () => new HttpResponse('ok').after(charge, { cents: 500 }))] });
  await using client = createTestClient(app);
  await client.get('/');
  await client.settle();
  const [failed] = await app.tasks.list({ state: 'failed' });
  assert.ok(failed);
  assert.equal(failed.attempt, 1);
  assert.equal(failed.payload, '{"cents":500}');
  assert.deepEqual(failed.errors.map((e) => e.message), ['NonRetryableError: card declined for 500']);
  broken = false;
  assert.equal(await app.tasks.retry(failed.id), true);
  await client.settle();
  assert.equal((await app.tasks.get(failed.id))?.state, 'completed');
  assert.equal(await app.tasks.retry(failed.id), false, 'only a failed task can be retried');
  assert.equal(await app.tasks.discard(failed.id), true);
  assert.equal(await app.tasks.get(failed.id), null);
});

test('a NonRetryableError from a second copy of coda-http (two versions installed, a bundled worker) fails at once, as does an error carrying its brand; instanceof holds across the copies, a subclass\'s own instanceof by its class', async () => {
  // The same source file loaded under another URL: a distinct module, its class another, as a second install's would be.
  const copy = await import(`${new URL('../../src/durable/task.ts', import.meta.url).href}?copy`) as { NonRetryableError: typeof NonRetryableError };
  assert.notEqual(copy.NonRetryableError, NonRetryableError);
  const branded = Object.assign(new Error('branded'), { [Symbol.for('coda-http.NonRetryableError')]: true });
  const throws = task('throws', (payload: { how: string }) => {
    throw payload.how === 'copy' ? new copy.NonRetryableError('from the copy') : branded;
  }, { attempts: 5, backoff: { type: 'fixed', delayMs: 0 } });
  const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [throws] } });
  await using client = createTestClient(app);
  const ids = [(await app.tasks.enqueue(throws, { how: 'copy' })).id, (await app.tasks.enqueue(throws, { how: 'brand' })).id];
  await client.settle();
  for (const id of ids) {
    const stored = (await app.tasks.get(id))!;
    assert.deepEqual([stored.state, stored.attempt], ['failed', 1], `${stored.errors[0]?.message}: failed at its first attempt, not retried`);
  }
  assert.deepEqual(client.tasks.map(({ state }) => state), ['failed', 'failed']);
  assert.equal(new copy.NonRetryableError('x') instanceof NonRetryableError, true);
  assert.equal(new NonRetryableError('x') instanceof copy.NonRetryableError, true);
  assert.equal(new Error('x') instanceof NonRetryableError, false);
  class Rejected extends NonRetryableError {}
  assert.equal(new Rejected('x') instanceof NonRetryableError, true);
  assert.equal(new NonRetryableError('x') instanceof Rejected, false, 'a subclass answers by its own prototype');
});

test('a custom store that throws the StoreUnavailable of its own copy of coda-http as it cannot open yet is tried again until it opens, and its tasks run (instanceof alone took it for a mistake in the app: logged once, never tried again)', { timeout: 10_000 }, async (t) => {
  const copy = await import(`${new URL('../../src/durable/errors.ts', import.meta.url).href}?copy`) as { StoreUnavailable: typeof StoreUnavailable };
  assert.notEqual(copy.StoreUnavailable, StoreUnavailable);
  const file = tempFile(t);
  const inner = sqliteStore({ path: file });
  let refusing = true;
  // A store of its own (a database of the user's), which imports coda-http's error from its own copy.
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'open') return () => (refusing ? Promise.reject(new copy.StoreUnavailable('a custom store', new Error('its database is not up yet'))) : target.open());
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const ran = deferred();
  const noted = task('noted', () => ran.resolve());
  const app = createApp({ logger: memoryLogger().logger, tasks: { definitions: [noted], store, pollMs: 10 }, routes: [get('/', () => new HttpResponse('up'))] });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  // Served (through app.fetch(), as the adapters serve), which starts opening the store; a listening socket would hold the loop.
  assert.equal((await app.fetch(new Request('http://app.test/'))).status, 200);
  const serving = setInterval(() => {}, 60_000);
  t.after(() => clearInterval(serving));
  refusing = false;
  const other = createApp({ tasks: { definitions: [noted], store: sqliteStore({ path: file }), run: false } });
  await other.tasks.enqueue(noted, {});
  await other.tasks.close(performance.now() + 1_000);
  await ran.promise;
  assert.equal(new copy.StoreUnavailable('a store', new Error('x')) instanceof StoreUnavailable, true);
});

test("when: 'success' on a 500: the held task is removed once the outcome is known, and never runs", async () => {
  let ran = 0;
  const audit = task('audit', () => { ran++; });
  const app = createApp({
    tasks: { definitions: [audit] },
    routes: [get('/boom', () => {
      after(audit, {}, { when: 'success' });
      throw new Error('boom');
    })],
  });
  await using client = createTestClient(app);
  assert.equal((await client.get('/boom')).status, 500);
  await client.settle();
  assert.equal(ran, 0);
  const stats = await app.tasks.stats();
  assert.equal(stats.held + stats.ready + stats.running + stats.completed + stats.failed, 0);
  // Counted: told as skipped (the test client's records, metrics and the dashboard hear it).
  assert.deepEqual(client.tasks.filter(({ name }) => name === 'audit').map(({ state, attempt, id }) => [state, attempt, id?.length]), [['skipped', 0, 36]]);
});

test("when: 'success' judged at once for a task registered after its 500 was sent (from an after-response task): not journaled, told as skipped", async () => {
  const audit = task('audit', () => assert.fail('must not run'));
  const app = createApp({
    tasks: { definitions: [audit] },
    routes: [get('/late', () => new HttpResponse('no', { status: 500 }).after(() => void after(audit, {}, { when: 'success' })))],
  });
  await using client = createTestClient(app);
  assert.equal((await client.get('/late')).status, 500);
  await client.settle();
  assert.deepEqual(client.tasks.filter(({ name }) => name === 'audit').map(({ state, attempt, id }) => [state, attempt, id]), [['skipped', 0, '']]);
  assert.equal((await app.tasks.stats()).completed, 0);
});

/** Collects the process's unhandled rejections while the test runs (a listener that threw in a promise's callback). */
function unhandledRejections(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', listener);
  t.after(() => process.off('unhandledRejection', listener));
  return seen;
}

/** A tasks.observe() listener that throws, observing before the test client (so that it is told first), and the lines it logs. */
function throwingObserver(app: ReturnType<typeof createApp>): void {
  app.tasks.observe(({ state }) => {
    throw new Error(`the listener broke on ${state}`);
  });
}

test('a tasks.observe() listener that throws stops no hold: a hold its when skips is still removed (it stayed held, renewed for good, and an unhandled rejection was raised), and after() judged at once still returns; the throw is logged, the other listeners told', async (t) => {
  const rejections = unhandledRejections(t);
  const audit = task('audit', () => assert.fail('must not run'));
  const returned: unknown[] = [];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [audit] },
    routes: [
      get('/boom', () => {
        after(audit, {}, { when: 'success' });
        throw new Error('boom');
      }),
      get('/late', () => new HttpResponse('no', { status: 500 }).after(async () => {
        returned.push(await after(audit, {}, { when: 'success' }));
      })),
    ],
  });
  throwingObserver(app);
  await using client = createTestClient(app);
  assert.equal((await client.get('/boom')).status, 500);
  assert.equal((await client.get('/late')).status, 500);
  await client.settle();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(rejections, []);
  const { held, ready, running } = await app.tasks.stats();
  assert.deepEqual({ held, ready, running }, { held: 0, ready: 0, running: 0 }, 'the skipped hold was released (removed)');
  assert.deepEqual(returned, [{ id: '', duplicate: false, skipped: true }]);
  assert.deepEqual(client.tasks.filter(({ name }) => name === 'audit').map(({ state }) => state), ['skipped', 'skipped'], 'the listeners after it are told');
  const logged = lines.filter(({ msg }) => /listener threw/.test(String(msg)));
  assert.deepEqual(logged.map(({ msg, err }) => [msg, (err as { message: string }).message]), [
    ['a tasks.observe() listener threw when told that durable task audit was skipped: ignored', 'the listener broke on skipped'],
    ['a tasks.observe() listener threw when told that durable task audit was skipped: ignored', 'the listener broke on skipped'],
  ]);
});

test('a tasks.observe() listener that throws stops no attempt\'s end: a failure and a completion are told to the listeners after it (a completion\'s throw was an unhandled rejection, a failure\'s logged as its end not recorded); the throw is logged', async (t) => {
  const rejections = unhandledRejections(t);
  const flaky = task('flaky', (_payload: object, ctx) => {
    if (ctx.attempt === 1) throw new Error('first attempt fails');
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [flaky] } });
  throwingObserver(app);
  await using client = createTestClient(app);
  const { id } = await app.tasks.enqueue(flaky, {});
  await client.settle();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(rejections, []);
  assert.equal((await app.tasks.get(id))?.state, 'completed');
  assert.deepEqual(client.tasks.map(({ state, attempt }) => [state, attempt]), [['retrying', 1], ['completed', 2]]);
  assert.deepEqual(lines.filter(({ msg }) => /could not record the end/.test(String(msg))), [], 'its end was recorded');
  assert.deepEqual(lines.filter(({ msg }) => /listener threw/.test(String(msg))).map(({ msg }) => msg), [
    'a tasks.observe() listener threw when told that durable task flaky was retrying: ignored',
    'a tasks.observe() listener threw when told that durable task flaky was completed: ignored',
  ]);
});

test('a held task keeps its delayMs in the store from its registration: a recovery (its process killed during the request) runs it no sooner', async () => {
  const later = task('later', () => {});
  const registered = deferred<string>();
  const finish = deferred();
  const app = createApp({
    tasks: { definitions: [later] },
    routes: [post('/later', async () => {
      registered.resolve((await after(later, {}, { delayMs: 60_000 })).id);
      await finish.promise;
      return new HttpResponse('ok');
    })],
  });
  // The test client's clock stands still from its start, no sooner than this.
  const before = Date.now();
  await using client = createTestClient(app);
  const response = client.post('/later');
  const held = (await app.tasks.get(await registered.promise))!;
  assert.equal(held.state, 'held');
  assert.ok(held.runAt >= before + 60_000, `a held task's runAt is its registration's time and delay, got ${held.runAt - before} ms after the start`);
  finish.resolve();
  assert.equal((await response).status, 200);
});

test('a key allows one pending task: a second registration adds nothing and says it is a duplicate', async () => {
  const welcome = task('welcome', () => {});
  const app = createApp({
    tasks: { definitions: [welcome] },
    routes: [post('/users/:id', async (request) => {
      const registration = await after(welcome, {}, { key: `welcome:${request.params.id}` });
      return new JsonResponse(registration);
    })],
  });
  await using client = createTestClient(app);
  const first = await (await client.post('/users/1')).json<{ id: string; duplicate: boolean }>();
  const second = await (await client.post('/users/1')).json<{ id: string; duplicate: boolean }>();
  assert.equal(first.duplicate, false);
  assert.deepEqual(second, { id: first.id, duplicate: true });
});

test("a key held by a request's task whose when then skips it (when: 'success', a 500): a registration made meanwhile is not absorbed, and runs", async () => {
  const ran: string[] = [];
  const welcome = task('welcome', (payload: { from: string }) => { ran.push(payload.from); });
  const registered = deferred();
  const fail = deferred();
  const app = createApp({
    tasks: { definitions: [welcome] },
    routes: [post('/signup', async () => {
      await after(welcome, { from: 'request' }, { when: 'success', key: 'welcome:1' });
      registered.resolve();
      await fail.promise;
      return new HttpResponse('failed', { status: 500 });
    })],
  });
  await using client = createTestClient(app);
  const response = client.post('/signup');
  await registered.promise;
  const meanwhile = await app.tasks.enqueue(welcome, { from: 'enqueue' }, { key: 'welcome:1' });
  assert.equal(meanwhile.duplicate, false, 'a hold its when may skip does not absorb it');
  fail.resolve();
  assert.equal((await response).status, 500);
  await client.settle();
  assert.deepEqual(ran, ['enqueue']);
});

test('a payload that does not survive JSON is refused at registration, naming the task, the route and the path', async () => {
  const welcome = task('welcome', () => {});
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [welcome] },
    routes: [
      get('/date/:day', () => { void after(welcome, { at: new Date() }); return new HttpResponse('never'); }),
      get('/bigint', () => new HttpResponse('never').after(welcome, { n: 1n })),
      get('/cycle', () => { const a: Record<string, unknown> = {}; a.self = a; void after(welcome, a); return new HttpResponse('never'); }),
      get('/fn', () => { void after(welcome, { f: () => 1 }); return new HttpResponse('never'); }),
    ],
  });
  await using client = createTestClient(app);
  for (const route of ['/date/monday', '/bigint', '/cycle', '/fn']) assert.equal((await client.get(route)).status, 500, route);
  const messages = lines.filter((l) => l.level === 50).map((l) => String(l.msg));
  assert.match(messages[0]!, /after\(\): the payload of task 'welcome' \(route GET \/date\/:day\) does not survive JSON: an instance of Date \(it would lose its type\) at \$\.at/);
  assert.match(messages[1]!, /response\.after\(\): the payload of task 'welcome' \(route GET \/bigint\) does not survive JSON: bigint 1 at \$\.n/);
  assert.match(messages[2]!, /a cycle at \$\.self/);
  assert.match(messages[3]!, /a function \(f\) at \$\.f/);
});

test('a payload past tasks.payloadLimit (1 MiB by default; bytes of JSON in UTF-8) is refused at registration, naming the task and its size: a 500 in a request, a rejection from enqueue(), nothing journaled; a 50 MB payload was taken, and held the event loop a third of a second at registration and at every attempt', async () => {
  const ran: unknown[] = [];
  const upload = task('upload', (payload: { data: string }) => { ran.push(payload.data.length); });
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [upload] },
    routes: [
      post('/after/:n', (request) => { void after(upload, { data: 'x'.repeat(Number(request.params.n)) }); return new HttpResponse('kept'); }),
      post('/response/:n', (request) => new HttpResponse('kept').after(upload, { data: 'x'.repeat(Number(request.params.n)) })),
    ],
  });
  await using client = createTestClient(app);
  // {"data":"…"} is 11 bytes around the string: 1 MiB exactly is taken, a byte more is not.
  const fits = 1024 * 1024 - 11;
  for (const route of ['/after', '/response']) {
    assert.equal((await client.post(`${route}/${fits + 1}`)).status, 500, route);
    assert.equal((await client.post(`${route}/${fits}`)).status, 200, route);
  }
  await assert.rejects(app.tasks.enqueue(upload, { data: 'x'.repeat(50_000_000) }), {
    name: 'RangeError',
    message: "the payload of durable task 'upload' is at least 50000011 bytes of JSON, over the limit of 1048576 (createApp({ tasks: { payloadLimit } })): pass a reference to large data (a row's id, a file's path), not the data",
  });
  await client.settle();
  assert.deepEqual(ran, [fits, fits], 'only the payloads within the limit were journaled and run');
  assert.equal((await app.tasks.stats()).completed, 2);
  const refused = lines.filter((l) => l.level === 50).map((l) => String(l.msg));
  assert.equal(refused.length, 2);
  for (const message of refused) assert.ok(message.includes(`the payload of durable task 'upload' is at least ${fits + 12} bytes of JSON, over the limit of 1048576`), message);

  // Another limit, counted in UTF-8 bytes (an 'é' is two), and checked when the app is made.
  const small = createApp({ tasks: { definitions: [upload], payloadLimit: 20 } });
  await using smallClient = createTestClient(small);
  await small.tasks.enqueue(upload, { data: 'éééé' });
  await assert.rejects(small.tasks.enqueue(upload, { data: 'ééééé' }), /is 21 bytes of JSON, over the limit of 20/);
  for (const payloadLimit of [0, -1, 1.5, '1mb']) {
    assert.throws(() => createApp({ tasks: { definitions: [upload], payloadLimit: payloadLimit as number } }), /createApp\(\) tasks\.payloadLimit must be (a whole number of bytes|at least 1 byte)/, String(payloadLimit));
  }
  await smallClient.settle();
});

test('a payload past tasks.payloadLimit is refused once the check has counted past the limit, neither read nor serialized whole: a 50 MB string was serialized (some 90 ms of a blocked loop) before it was refused; one whose JSON is counted within the limit is still measured exactly', async () => {
  const upload = task('upload', () => {});
  /** 1,000 properties of 1,000 characters each (about 1 MB of JSON), counting how many times they are read. */
  const counted = (): { payload: Record<string, string>; reads: () => number } => {
    let reads = 0;
    const payload: Record<string, string> = {};
    for (let i = 0; i < 1_000; i++) Object.defineProperty(payload, `p${i}`, { enumerable: true, get: () => { reads++; return 'x'.repeat(1_000); } });
    return { payload, reads: () => reads };
  };
  const inView: ReturnType<typeof counted>[] = [];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [upload], payloadLimit: 10_000 },
    routes: [
      post('/after', () => { const c = counted(); inView.push(c); void after(upload, c.payload); return new HttpResponse('kept'); }),
      post('/response', () => { const c = counted(); inView.push(c); return new HttpResponse('kept').after(upload, c.payload); }),
    ],
  });
  await using client = createTestClient(app);
  const enqueued = counted();
  await assert.rejects(app.tasks.enqueue(upload, enqueued.payload), { name: 'RangeError', message: /^the payload of durable task 'upload' is at least 1\d{4} bytes of JSON, over the limit of 10000 / });
  // The limit is passed at the tenth property: each read once, by the check.
  assert.equal(enqueued.reads(), 10);
  for (const route of ['/after', '/response']) assert.equal((await client.post(route)).status, 500, route);
  assert.deepEqual(inView.map((c) => c.reads()), [10, 10]);
  assert.equal(lines.filter((l) => l.level === 50 && /is at least 1\d{4} bytes of JSON, over the limit of 10000/.test(String(l.msg))).length, 2);
  // Counted within the limit (a character is at least a byte), measured over it: 4,000 'é' are 8,000 bytes of UTF-8.
  await assert.rejects(app.tasks.enqueue(upload, { a: 'é'.repeat(4_000), b: 'é'.repeat(1_000) }), /is 10015 bytes of JSON, over the limit of 10000/);
  // A response made outside any request knows no app: its payload is serialized whole, and refused when registered.
  const shared = new HttpResponse('shared').after(upload, { data: 'x'.repeat(20_000) });
  const fromShared = createApp({ logger, tasks: { definitions: [upload], payloadLimit: 10_000 }, routes: [post('/shared', () => shared)] });
  await using sharedClient = createTestClient(fromShared);
  assert.equal((await sharedClient.post('/shared')).status, 500);
  assert.ok(lines.some((l) => String(l.msg).includes("the payload of durable task 'upload' is 20011 bytes of JSON, over the limit of 10000")));
  await client.settle();
  assert.equal((await app.tasks.stats()).ready, 0);
});

test('a payload within tasks.payloadLimit whose JSON may be over it (3 bytes a character) is measured once on its way to the store, enqueued or registered in a request: it was measured again as it was journaled', async (t) => {
  const upload = task('upload', () => {});
  // 3,998 characters of JSON, 7,988 bytes: measured (over 10,000 at 3 bytes a character), within the limit.
  const payload = { a: 'é'.repeat(3_990) };
  const json = JSON.stringify(payload);
  const app = createApp({
    tasks: { definitions: [upload], payloadLimit: 10_000 },
    routes: [
      post('/after', () => { void after(upload, payload); return new HttpResponse('kept'); }),
      post('/response', () => new HttpResponse('kept').after(upload, payload)),
    ],
  });
  await using client = createTestClient(app);
  const byteLength = t.mock.method(Buffer, 'byteLength');
  const measured = () => byteLength.mock.calls.filter(({ arguments: [text] }) => text === json).length;
  await app.tasks.enqueue(upload, payload);
  assert.equal(measured(), 1, 'enqueued');
  for (const [route, times] of [['/after', 2], ['/response', 3]] as const) {
    assert.equal((await client.post(route)).status, 200, route);
    assert.equal(measured(), times, route);
  }
  await client.settle();
  assert.equal((await app.tasks.stats()).completed, 3);
});

test('a backoff given as a number of milliseconds (BullMQ\'s backoff: 1000) is refused saying how to write it', () => {
  assert.throws(() => task('x', () => {}, { backoff: 1000 as never }), {
    name: 'TypeError',
    message: "task('x'): backoff takes { type: 'fixed' | 'exponential', delayMs }, got number 1000; for a fixed 1000 ms between attempts (BullMQ's backoff: 1000), pass { type: 'fixed', delayMs: 1000 }",
  });
});

test('a backoff given as a list of waits (Laravel\'s backoff: [1, 5, 10]) is refused saying how to write it', () => {
  assert.throws(() => task('x', () => {}, { backoff: [1000, 5000, 10_000] as never }), {
    name: 'TypeError',
    message: /^task\('x'\): backoff takes \{ type: 'fixed' \| 'exponential', delayMs, maxDelayMs\? \}, got a list of 3; a list of waits, one per retry \(Laravel's backoff\), is not taken: for waits that grow, pass \{ type: 'exponential', delayMs \} with the first, and maxDelayMs for the last$/,
  });
});

test('task definitions and options are checked: a duplicate name, a task not in the app, bad options, a generator function', async () => {
  const one = task('same', () => {});
  const two = task('same', () => {});
  assert.throws(() => createApp({ tasks: { definitions: [one, two] } }), /two tasks are named 'same'/);
  assert.throws(() => task('x', () => {}, { attempts: 0 }), /task\('x'\): attempts must be a whole number of at least 1, got number 0/);
  assert.throws(() => task('x', () => {}, { backoff: { type: 'linear' as never, delayMs: 1 } }), /backoff\.type must be 'fixed' or 'exponential'/);
  assert.throws(() => task('x', () => {}, { timeout: 5 } as never), /unknown option "timeout"; did you mean "timeoutMs"\?/);
  assert.throws(() => task('bad name!', () => {}), /the name must be 1 to 200 letters/);
  assert.throws(() => task('', () => {}), { name: 'TypeError', message: /^task\(\): the name must be 1 to 200 letters.*, got string ""$/ });
  // Called, a generator function runs none of its body: every attempt "completed" with nothing done.
  assert.throws(() => task('sync-rows', async function* sync() { /* never runs */ } as never), {
    name: 'TypeError', message: "task('sync-rows') takes a function whose call does the work, got an async generator function (sync): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }",
  });
  // retentionMs is an age, not a timer: thirty days is taken; past ten years is not.
  assert.doesNotThrow(() => createApp({ tasks: { definitions: [task('kept', () => {})], retentionMs: 30 * 24 * 3_600_000 } }));
  assert.throws(() => createApp({ tasks: { definitions: [task('kept', () => {})], retentionMs: 11 * 366 * 24 * 3_600_000 } }), /tasks\.retentionMs must be a positive number of milliseconds, at most 316224000000/);
  const stranger = task('stranger', () => {});
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [one] },
    routes: [
      get('/stranger', () => { void after(stranger, {}); return new HttpResponse('never'); }),
      get('/delay', () => { void after(one, {}, { delayMs: -1 }); return new HttpResponse('never'); }),
    ],
  });
  await using client = createTestClient(app);
  assert.equal((await client.get('/stranger')).status, 500);
  assert.equal((await client.get('/delay')).status, 500);
  const messages = lines.filter((l) => l.level === 50).map((l) => String(l.msg));
  assert.match(messages[0]!, /the task 'stranger' is not among this app's durable tasks: add it to createApp/);
  assert.match(messages[1]!, /after\(\): delayMs must be zero or more milliseconds/);
});

test('a store locked past its busy timeout: the request gets 503 with Retry-After naming the store, and no task is half written', async (t) => {
  const file = tempFile(t);
  const noted = task('noted', () => {});
  const app = createApp({
    tasks: { definitions: [noted], store: sqliteStore({ path: file, busyTimeoutMs: 50 }) },
    routes: [post('/notes', () => new HttpResponse('saved').after(noted, {}))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  const locker = new DatabaseSync(file);
  try {
    locker.exec('BEGIN EXCLUSIVE');
    const res = await fetch(`${server.url}/notes`, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    const { error } = (await res.json()) as { error: { message: string } };
    assert.match(error.message, /durable tasks could not be journaled/);
    assert.ok(error.message.includes(file), `the message names the store: ${error.message}`);
    locker.exec('ROLLBACK');
    const row = locker.prepare('SELECT count(*) AS n FROM coda_tasks').get() as { n: number };
    assert.equal(row.n, 0);
    // The store is free again: service resumes by itself.
    assert.equal((await fetch(`${server.url}/notes`, { method: 'POST' })).status, 200);
  } finally {
    locker.close();
    await server.close();
  }
});

test('another process holding the store\'s write lock: other requests are served while a registration waits for it, and that request is answered once the lock is let go, its task run', { timeout: 30_000 }, async (t) => {
  const file = tempFile(t);
  const ran = deferred();
  const noted = task('noted', () => ran.resolve());
  const adding = deferred();
  const store = intercepting(sqliteStore({ path: file, busyTimeoutMs: 10_000 }), 'add', (add, args) => {
    adding.resolve();
    return add(...args);
  });
  const app = createApp({
    tasks: { definitions: [noted], store },
    routes: [post('/notes', () => new HttpResponse('saved').after(noted, {})), get('/ping', () => new HttpResponse('pong'))],
  });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close());
  const locker = spawn(process.execPath, [fileURLToPath(new URL('fixtures/locker.ts', import.meta.url)), file], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => locker.kill('SIGKILL'));
  const exited = once(locker, 'exit');
  assert.equal((await createInterface({ input: locker.stdout! })[Symbol.asyncIterator]().next()).value, 'locked');
  let answered = false;
  const saving = fetch(`${server.url}/notes`, { method: 'POST' }).then((res) => {
    answered = true;
    return res;
  });
  await adding.promise;
  // Served while the registration waits: a store waiting in SQLite's busy handler froze every request until its timeout.
  const ping = await fetch(`${server.url}/ping`);
  assert.equal(await ping.text(), 'pong');
  assert.equal(answered, false, 'the registration still waits for the lock');
  locker.stdin!.write('release\n');
  const saved = await saving;
  assert.equal(saved.status, 200);
  await ran.promise;
  assert.equal((await exited)[0], 0);
});

test('a store whose file has become read-only: the request gets 503 with Retry-After naming the store, and no task is half written', async (t) => {
  const file = tempFile(t);
  const noted = task('noted', () => {});
  // A file journaled by an earlier run, then made read-only (a volume remounted, permissions changed by a deploy).
  const earlier = sqliteStore({ path: file });
  await earlier.open();
  await earlier.close();
  const undo = makeReadOnly(t, file);
  if (undo === null) return;
  const app = createApp({
    tasks: { definitions: [noted], store: sqliteStore({ path: file }) },
    routes: [post('/notes', () => new HttpResponse('saved').after(noted, {}).after(noted, { second: true }))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  try {
    const res = await fetch(`${server.url}/notes`, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    const { error } = (await res.json()) as { error: { message: string } };
    assert.match(error.message, /durable tasks could not be journaled/);
    assert.ok(error.message.includes(`sqlite store ${file}`), `the message names the store: ${error.message}`);
    assert.match(error.message, /readonly/);
  } finally {
    await server.close();
    undo();
  }
  const reader = new DatabaseSync(file, { readOnly: true });
  t.after(() => reader.close());
  assert.equal((reader.prepare('SELECT count(*) AS n FROM coda_tasks').get() as { n: number }).n, 0, 'neither task written');
});

for (const [made, suffixes, answer] of [['its file', [''], 200], ['its file and its WAL', ['', '-wal'], 503]] as const) {
  test(`${made} made read-only while serving (an immutable flag set by an operator): registrations get ${answer}${answer === 200 ? ' (the WAL still takes them)' : ' naming the store, not a 200 for a task not journaled'}; once writable again, service goes on by itself and every accepted task runs once`, { timeout: 30_000 }, async (t) => {
    const file = tempFile(t);
    const ran: number[] = [];
    const accepted: number[] = [];
    let ranAll = (): void => {};
    const noted = task('noted', ({ n }: { n: number }) => {
      ran.push(n);
      ranAll();
    });
    const app = createApp({
      logger: pino({ level: 'silent' }),
      tasks: { definitions: [noted], store: sqliteStore({ path: file }), pollMs: 20 },
      routes: [post('/notes/:n', (request) => new HttpResponse('saved').after(noted, { n: Number(request.params.n) }))],
    });
    const server = await serve(app, { port: 0, handleSignals: false });
    t.after(() => server.close());
    const register = async (n: number): Promise<Response> => {
      const response = await fetch(`${server.url}/notes/${n}`, { method: 'POST', headers: { accept: 'application/json' } });
      if (response.status === 200) accepted.push(n);
      return response;
    };
    assert.equal((await register(1)).status, 200);
    const undos = suffixes.map((suffix) => makeReadOnly(t, file + suffix));
    if (undos.includes(null)) return;
    const during: Response[] = [];
    try {
      for (let n = 2; n < 5; n++) during.push(await register(n));
    } finally {
      for (const undo of undos) undo!();
    }
    assert.deepEqual(during.map(({ status }) => status), [answer, answer, answer]);
    if (answer === 503) {
      const { error } = (await during[0]!.json()) as { error: { message: string } };
      assert.ok(error.message.includes(`durable tasks could not be journaled: sqlite store ${file}`), error.message);
    }
    // The store opens its connection again on its own schedule, which nothing outside it announces: ask a bounded number of times.
    let status = 0;
    for (let n = 5; n < 100 && status !== 200; n++) status = (await register(n)).status;
    assert.equal(status, 200, 'service resumed once the file was writable');
    await new Promise<void>((resolve) => {
      ranAll = () => { if (ran.length >= accepted.length) resolve(); };
      ranAll();
    });
    assert.deepEqual(ran.toSorted((a, b) => a - b), accepted);
  });
}

/** An app on a sqlite store at `file`, served, whose POST /notes registers task `noted` (`run` its work); `waiting`: a task enqueued an hour ahead. */
async function servingNotes(file: string, logger: Logger, run: () => void): Promise<{ app: App; server: Server; waiting: string }> {
  const noted = task('noted', run);
  const app = createApp({
    logger,
    tasks: { definitions: [noted], store: sqliteStore({ path: file }) },
    routes: [post('/notes', () => new HttpResponse('saved').after(noted, {}))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  const { id: waiting } = await app.tasks.enqueue(noted, {}, { delayMs: 60 * 60_000 });
  return { app, server, waiting };
}

/** That `file`, copied back by the store, holds the task `waiting` (accepted before, not run yet) and the one registered after, run. */
function assertCopiedBack(file: string, waiting: string): void {
  const reader = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = reader.prepare('SELECT id, state FROM coda_tasks ORDER BY rowid').all() as { id: string; state: string }[];
    assert.deepEqual(rows.map((row) => row.state), ['ready', 'completed'], 'the waiting task and the new one, in the file at the path');
    assert.equal(rows[0]!.id, waiting);
  } finally {
    reader.close();
  }
}

test('the store\'s folder removed while serving: registrations get 503 naming it, not a 200 for a task written where no restart finds it; once the folder is back, the store is copied back with every task it held and service resumes', async (t) => {
  const file = tempFile(t);
  // Accepted before the folder goes, and not run yet: it must not be lost.
  const { app, server, waiting } = await servingNotes(file, memoryLogger().logger, () => {});
  try {
    rmSync(path.dirname(file), { recursive: true });
    const refused = await fetch(`${server.url}/notes`, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const { error } = (await refused.json()) as { error: { message: string } };
    assert.match(error.message, /was removed or replaced since the store opened it, and cannot be copied back yet/);
    assert.ok(error.message.includes(file), `the message names the file: ${error.message}`);

    mkdirSync(path.dirname(file));
    assert.equal((await fetch(`${server.url}/notes`, { method: 'POST' })).status, 200);
    await app.settle();
    assertCopiedBack(file, waiting);
  } finally {
    await server.close();
  }
});

test('the store\'s file removed with its WAL and shared memory while serving (a cleanup of var/): a registration copies the store back to the path, every task it held, and is answered 200, not a bare "disk I/O error"; its task runs, and a restart finds every task in the file', async (t) => {
  const file = tempFile(t);
  const ran = deferred();
  const { logger, lines } = memoryLogger();
  const { app, server, waiting } = await servingNotes(file, logger, () => ran.resolve());
  try {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix);
    const answer = await fetch(`${server.url}/notes`, { method: 'POST' });
    assert.deepEqual([answer.status, await answer.text()], [200, 'saved']);
    await ran.promise;
    await app.settle();
    assert.deepEqual(lines.filter((line) => line.level >= 50), [], 'no error line');
    assertCopiedBack(file, waiting);
  } finally {
    await server.close();
  }
});

test('a store that cannot be opened when the app starts serving (its folder not there yet, as a Redis started after the app): registrations get 503, then service resumes by itself once it opens, and tasks run, not 503 for good', { timeout: 10_000 }, async (t) => {
  const file = path.join(path.dirname(tempFile(t)), 'later', 'tasks.db');
  const ran = new Set<string>();
  let wanted = { from: '', then: deferred() };
  const noted = task('noted', ({ from }: { from: string }) => {
    ran.add(from);
    if (from === wanted.from) wanted.then.resolve();
  });
  const definitions = [noted];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions, store: sqliteStore({ path: file }), pollMs: 10 },
    routes: [post('/notes', () => new HttpResponse('saved').after(noted, { from: 'request' })), get('/', () => new HttpResponse('up'))],
  });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  /** A registering request's status, its body read (the response done, its task released). */
  const register = async (): Promise<number> => {
    const response = await app.fetch(new Request('http://app.test/notes', { method: 'POST' }));
    await response.text();
    return response.status;
  };
  // Served (through app.fetch(), as the adapters serve) before its store can open.
  assert.equal((await app.fetch(new Request('http://app.test/'))).status, 200);
  assert.equal(await register(), 503);

  mkdirSync(path.dirname(file));
  // A serving process's listening socket holds its event loop, which the store's retry timer does not: app.fetch() has none here (Node 22 ends a loop that nothing holds).
  const serving = setInterval(() => {}, 60_000);
  t.after(() => clearInterval(serving));
  // Another process enqueues; this one, which registers nothing meanwhile, opens the store by itself and runs it.
  const other = createApp({ tasks: { definitions, store: sqliteStore({ path: file }), run: false } });
  wanted = { from: 'script', then: deferred() };
  await other.tasks.enqueue(noted, { from: 'script' });
  await other.tasks.close(performance.now() + 1_000);
  await wanted.then.promise;
  wanted = { from: 'request', then: deferred() };
  assert.equal(await register(), 200, 'registrations accepted again');
  await wanted.then.promise;
  const failures = lines.filter((line) => line.level >= 50);
  assert.equal(failures.length, 1, 'the outage logged once');
  assert.match(failures[0]!.msg!, /^opening the durable task store \(sqlite store .*\) refused: cannot open .*: its folder .* does not exist/);
});

test('app.tasks.enqueue() outside a request: durable once it resolves; delayMs waits, settle() moves the clock', async () => {
  const ran: number[] = [];
  const digest = task('digest', (payload: { day: number }) => { ran.push(payload.day); });
  const app = createApp({ tasks: { definitions: [digest] } });
  await using client = createTestClient(app);
  const { id, duplicate } = await app.tasks.enqueue(digest, { day: 23 }, { delayMs: 24 * 60 * 60_000 });
  assert.equal(duplicate, false);
  assert.equal((await app.tasks.get(id))?.state, 'ready');
  assert.equal((await app.tasks.stats()).delayed, 1);
  await client.settle();
  assert.deepEqual(ran, [23]);
});

test('an attempt past its timeout is aborted through its signal and retried', async () => {
  let calls = 0;
  let firstSignal: AbortSignal | undefined;
  const slow = task('slow', (_payload: object, ctx) => {
    calls++;
    if (calls === 1) {
      firstSignal = ctx.signal;
      return new Promise<void>(() => {});
    }
  }, { timeoutMs: 20, backoff: { type: 'fixed', delayMs: 1_000 } });
  const { logger } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [slow] }, routes: [get('/', () => new HttpResponse('ok').after(slow, {}))] });
  await using client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.equal(calls, 2);
  assert.equal(firstSignal?.aborted, true);
  assert.match(String((firstSignal?.reason as Error).message), /task slow timed out after 20 ms/);
  assert.deepEqual(client.tasks.map((r) => r.state), ['retrying', 'completed']);
});

test('a listener on ctx.signal that throws as its attempt times out: logged as that attempt\'s, naming the task; the process lives, the other listeners hear the abort, the task is retried (Node made the throw an uncaught exception: the process died)', async (t) => {
  const uncaught = watchUncaught(t);
  const heard: string[] = [];
  let calls = 0;
  const slow = task('slow', (_payload: object, ctx) => {
    if (++calls > 1) return;
    ctx.signal.addEventListener('abort', () => { throw new Error('listener boom'); });
    ctx.signal.addEventListener('abort', () => heard.push('other listener'));
    return new Promise<void>(() => {});
  }, { timeoutMs: 20, backoff: { type: 'fixed', delayMs: 1_000 } });
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [slow] } });
  await using client = createTestClient(app);
  const { id } = await app.tasks.enqueue(slow, {});
  await client.settle();
  assert.deepEqual(uncaught, []);
  assert.deepEqual(heard, ['other listener']);
  assert.deepEqual(client.tasks.map((r) => r.state), ['retrying', 'completed']);
  const line = lines.find((l) => String(l.msg).startsWith('an abort listener'));
  assert.deepEqual([line?.msg, line?.taskId, line?.attempt, (line?.err as Error | undefined)?.message], ['an abort listener on ctx.signal of durable task slow attempt 1 threw', id, 1, 'listener boom']);
});

test('an attempt that ignores its signal past its timeout keeps its slot until it settles: retries of hanging tasks do not pile up past tasks.concurrency; settle() waits for such attempts while tasks wait for their slots, naming them past its timeout', async (t) => {
  // The runner's timers (the late warning, the retries' backoff) are unref'd and the in-process client holds no socket:
  // a serving process's listening socket holds its loop, which Node 22 would otherwise end while the test awaits them.
  const serving = setInterval(() => {}, 60_000);
  t.after(() => clearInterval(serving));
  let running = 0;
  let most = 0;
  let hang = true;
  const released = deferred();
  const stuck = task('stuck', async () => {
    running++;
    most = Math.max(most, running);
    try {
      // Ignores ctx.signal: its timeout ends the attempt (retried), not the work.
      if (hang) await released.promise;
    } finally {
      running--;
    }
  }, { timeoutMs: 20, attempts: 3, backoff: { type: 'fixed', delayMs: 1_000 } });
  const warned = deferred<string>();
  const logger = pino({ level: 'warn' }, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const { msg } = JSON.parse(chunk.toString()) as { msg: string };
      if (/did not stop at its timeout/.test(msg)) warned.resolve(msg);
      callback();
    },
  }));
  const app = createApp({ logger, tasks: { definitions: [stuck], concurrency: 2 }, routes: [get('/', () => new HttpResponse('ok').after(stuck, {}))] });
  await using client = createTestClient(app);
  const timedOut = deferred();
  const unobserve = app.tasks.observe(() => {
    if (client.tasks.filter((record) => record.state === 'retrying').length === 2) timedOut.resolve();
  });
  for (let i = 0; i < 4; i++) assert.equal((await client.get('/')).status, 200);
  await timedOut.promise;
  // Both slots are held by attempts still running past their timeout: nothing more starts, retries included. settle()
  // waits for them (it returned with tasks waiting), and names them once its timeout is past.
  await assert.rejects(client.settle({ timeoutMs: 200 }), (error: Error) => {
    const named = error.message.match(/durable task stuck attempt 1 \([^)]+\): past its timeout \(20 ms\) and still running \(it ignores ctx\.signal\), it holds one of the slots that due tasks wait for/g);
    assert.equal(named?.length, 2, error.message);
    return true;
  });
  unobserve();
  assert.deepEqual([running, most], [2, 2]);
  const { ready, delayed } = await app.tasks.stats();
  assert.deepEqual({ ready, delayed }, { ready: 2, delayed: 2 }, 'the two tasks never started, and the two retries, wait in the store');
  assert.match(await warned.promise, /^durable task stuck attempt 1 did not stop at its timeout \(20 ms\): it ignores ctx\.signal, and keeps one of this process's 2 slots until it settles \(2 such now\)$/);
  hang = false;
  released.resolve();
  await client.settle();
  assert.equal(most, 2, 'never more than tasks.concurrency at once');
  assert.deepEqual(client.tasks.map((record) => record.state).sort(), ['completed', 'completed', 'completed', 'completed', 'retrying', 'retrying']);
});

test('shutdown: a running durable task is aborted at the deadline and left in the store; the next start runs it, the attempt not counted', async (t) => {
  const file = tempFile(t);
  let release: (() => void) | undefined;
  let started!: () => void;
  const firstStarted = new Promise<void>((resolve) => { started = resolve; });
  const attempts: number[] = [];
  const hangs = task('hangs', (_payload: object, ctx) => {
    attempts.push(ctx.attempt);
    if (attempts.length > 1) return undefined;
    started();
    return new Promise<void>((resolve) => { release = resolve; });
  });
  const build = () => createApp({
    tasks: { definitions: [hangs], store: sqliteStore({ path: file }) },
    routes: [get('/', () => new HttpResponse('ok').after(hangs, {}))],
  });
  const first = build();
  const server = await serve(first, { port: 0, handleSignals: false });
  await (await fetch(`${server.url}/`, { headers: { 'x-request-id': 'r-1' } })).text();
  await firstStarted;
  const report = await server.close({ timeoutMs: 50 });
  assert.deepEqual(report.tasksLeftInStore.map(({ name, requestId }) => [name, requestId]), [['hangs', 'r-1']]);
  assert.deepEqual(report.tasksAbandoned, []);
  release!();
  const second = build();
  const again = await serve(second, { port: 0, handleSignals: false });
  await second.settle();
  await again.close();
  assert.deepEqual(attempts, [1, 1]);
});

test('shutdown: a running attempt is let run until the deadline, then aborted through ctx.signal ("shutdown deadline reached") and given back to the store file; one that honours the signal by rejecting is not charged a failure, and the next start runs it as attempt 1 (promise 6)', async (t) => {
  const file = tempFile(t);
  await assertShutdownAbortsThroughSignal(() => sqliteStore({ path: file }));
});

test('a stored payload that no longer parses fails its task for good, with the reason; a task no process here knows stays in the store, logged once', async (t) => {
  const file = tempFile(t);
  const store = sqliteStore({ path: file });
  await store.open();
  const base = { key: null, when: 'always' as const, maxAttempts: 3, backoff: { type: 'fixed' as const, delayMs: 1 }, timeoutMs: 1_000, held: false, runAt: 0, request: null, trace: null };
  await store.add([
    { ...base, id: 'broken', name: 'known', payload: '{"cut short' },
    { ...base, id: 'ghost', name: 'unknown-task', payload: '{}' },
  ], 'setup', 0);
  await store.close();
  const known = task('known', () => {});
  const lines: Record<string, unknown>[] = [];
  const sawGhost = deferred();
  // The recovery passes (every leaseMs / 2), counted where each asks the store which names nobody here knows.
  let passes = 0;
  let loggedInPass = 0;
  const twoPassesLater = deferred();
  const logger = pino({ level: 'debug' }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (line.task === 'unknown-task' && loggedInPass === 0) {
          loggedInPass = passes;
          sawGhost.resolve();
        }
      }
      done();
    },
  }));
  const watched = intercepting(sqliteStore({ path: file }), 'unknownNames', (call, args) => {
    // Pass n + 3 starting: passes n + 1 and n + 2 have run to their end, their timer a macrotask after them.
    if (++passes >= loggedInPass + 3 && loggedInPass > 0) twoPassesLater.resolve();
    return call(...args);
  });
  const app = createApp({ logger, tasks: { definitions: [known], store: watched, leaseMs: 60 } });
  await app.tasks.open();
  await app.settle();
  const broken = await app.tasks.get('broken');
  assert.equal(broken?.state, 'failed');
  assert.match(broken!.errors[0]!.message, /NonRetryableError: its stored payload no longer parses as JSON/);
  // The recovery pass's timers are unref'd (the runner never holds a process open): a bounded timer of the
  // test's own keeps the loop alive meanwhile.
  let bound: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { bound = setTimeout(() => reject(new Error('no log line for the unknown task, then two more recovery passes, within 5 s')), 5_000); });
  await Promise.race([sawGhost.promise, late]);
  await Promise.race([twoPassesLater.promise, late]);
  clearTimeout(bound);
  assert.equal(lines.filter((l) => l.task === 'unknown-task').length, 1, 'logged once, not again by the passes after');
  assert.equal((await app.tasks.get('ghost'))?.state, 'ready');
  await app.tasks.close(performance.now());
});

test('a dead process\'s running task whose row was edited by hand into invalid JSON (its backoff, its errors) fails for good, logged once naming the column and the row; the others are still recovered and run', async (t) => {
  const file = tempFile(t);
  const store = sqliteStore({ path: file });
  await store.open();
  const base = { name: 'work', payload: '{}', key: null, when: 'always' as const, maxAttempts: 3, backoff: { type: 'fixed' as const, delayMs: 1 }, timeoutMs: 1_000, held: false, runAt: 0, request: null, trace: null };
  await store.add([{ ...base, id: 'good' }, { ...base, id: 'bad-backoff' }, { ...base, id: 'bad-errors' }], 'setup', 0);
  // Claimed by a process that died: its leases have run out.
  await store.claim({ owner: 'dead', names: ['work'], concurrency: {}, limit: 10, now: Date.now(), leaseUntil: Date.now() - 1_000 });
  await store.close();
  const db = new DatabaseSync(file);
  db.exec(`UPDATE coda_tasks SET backoff = '{"type": fixed' WHERE id = 'bad-backoff'; UPDATE coda_tasks SET errors = '[{' WHERE id = 'bad-errors'`);
  db.close();
  const ran = deferred<string>();
  const work = task('work', (_payload: object, ctx) => ran.resolve(`${ctx.id} attempt ${ctx.attempt}`));
  let recoveries = 0;
  const third = deferred();
  const watched = intercepting(sqliteStore({ path: file }), 'recover', async (call, args) => {
    const recovered = await call(...args);
    if (++recoveries === 3) third.resolve();
    return recovered;
  });
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [work], store: watched, leaseMs: 60 } });
  await app.tasks.open();
  t.after(() => app.tasks.close(performance.now()));
  // Every recovery failed on the first bad row (JSON.parse, SQLite's json_insert): no task of the dead process ran again.
  // Bounded, the loop held open meanwhile: the runner's recovery timer does not hold it (on Node 22 nothing else did).
  let bound: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { bound = setTimeout(() => reject(new Error('the good task was not recovered and run, and recovery passed three times, within 5 s')), 5_000); });
  assert.equal(await Promise.race([ran.promise, late]), 'good attempt 2');
  // Two more passes (every leaseMs / 2) must not log the failed rows again.
  await Promise.race([third.promise, late]);
  clearTimeout(bound);
  for (const [id, column, text] of [['bad-backoff', 'backoff', '{"type": fixed'], ['bad-errors', 'errors', '[{']] as const) {
    const stored = await app.tasks.get(id);
    assert.equal(stored?.state, 'failed', id);
    const logged = lines.filter((l) => l.taskId === id);
    assert.equal(logged.length, 1, `${id} logged once`);
    const reason = String(logged[0]!.msg);
    assert.ok(reason.startsWith(`durable task ${id} (row `), reason);
    assert.ok(reason.includes(`failed for good, not retried: its column ${column} (${JSON.stringify(text)}) is not valid JSON`), reason);
    // The row reads again (get, list, coda tasks retry): the stall and the reason are its last error.
    assert.match(stored.errors.at(-1)!.message, /^stalled: dead stopped renewing its lease/);
    assert.ok(stored.errors.at(-1)!.message.endsWith(reason));
  }
  assert.deepEqual((await app.tasks.get('bad-backoff'))!.backoff, { type: 'exponential', delayMs: 1_000 }, 'the default backoff in its place');
});

test('a durable task registered by a request that shutdown gave up on, once the store is closed: an error log line says it was not run', async (t) => {
  const file = tempFile(t);
  let viewEntered!: () => void;
  const entered = new Promise<void>((resolve) => { viewEntered = resolve; });
  let releaseView!: () => void;
  const viewReleased = new Promise<void>((resolve) => { releaseView = resolve; });
  // Boxed: a promise resolved with a promise would take on its rejection.
  let registered!: (box: { registration: Promise<unknown> }) => void;
  const boxed = new Promise<{ registration: Promise<unknown> }>((resolve) => { registered = resolve; });
  const late = task('late', () => {});
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [late], store: sqliteStore({ path: file }) },
    routes: [get('/slow', async () => {
      viewEntered();
      await viewReleased;
      registered({ registration: after(late, {}) });
      return new HttpResponse('too late');
    })],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  fetch(`${server.url}/slow`, { headers: { 'x-request-id': 'r-late' } }).catch(() => {});
  await entered;
  await server.close({ timeoutMs: 30 });
  releaseView();
  await assert.rejects((await boxed).registration, /the store is not open/);
  assert.ok(lines.some((l) => l.level === 50 && l.task === 'late' && l.requestId === 'r-late' && String(l.msg).includes('not run')));
});

test('retention: the runner prunes a completed task once retentionMs has passed, through the app, and keeps a failed one', { timeout: 10_000 }, async (t) => {
  const done = task('done', () => {});
  const broken = task('broken', () => { throw new NonRetryableError('no'); });
  const file = tempFile(t);
  const gone = deferred();
  let prunes = 0;
  // The event awaited: a prune after which the store holds the failed task and nothing else (the other ran, completed, and went).
  const store: TaskStore = intercepting(sqliteStore({ path: file }), 'prune', async (call, args) => {
    const result = await call(...args);
    prunes++;
    const { byName: _, ...states } = await store.stats(Date.now());
    if (Object.entries(states).every(([state, n]) => n === (state === 'failed' ? 1 : 0))) gone.resolve();
    return result;
  });
  const app = createApp({
    tasks: { definitions: [done, broken], store, retentionMs: 40 },
    routes: [post('/', () => new HttpResponse('saved').after(done, {}).after(broken, {}))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  try {
    assert.equal((await fetch(server.url, { method: 'POST' })).status, 200);
    await gone.promise;
    assert.ok(prunes >= 1);
    const reader = new DatabaseSync(file, { readOnly: true });
    t.after(() => reader.close());
    const rows = reader.prepare('SELECT name, state FROM coda_tasks ORDER BY name').all() as { name: string; state: string }[];
    assert.deepEqual(rows.map(({ name, state }) => `${name} ${state}`), ['broken failed'], 'the completed task pruned, the failed one kept');
  } finally {
    await server.close();
  }
});

test('a script that only enqueues or inspects (a cron job, a management command) runs no task: it would leave it half done at exit; a process that serves, through app.fetch() or a test client, or settles does (settle() first of all included)', async (t) => {
  const file = tempFile(t);
  let ran = 0;
  const report = task('nightly-report', () => { ran++; });
  const definitions = [report];
  /** A new app on the file, as a new process would open it; `routes` answers app.fetch(). */
  const open = () => {
    const app = createApp({ routes: [get('/', () => new HttpResponse('ok'))], tasks: { definitions, store: sqliteStore({ path: file }) } });
    t.after(() => app.tasks.close(performance.now() + 1_000));
    return app;
  };
  const completed = (app: ReturnType<typeof open>) => new Promise<void>((resolve) => app.tasks.observe(({ state }) => { if (state === 'completed') resolve(); }));
  const script = open();
  const { id } = await script.tasks.enqueue(report, {});
  assert.equal((await script.tasks.get(id))?.state, 'ready', 'not claimed by the enqueuing process');
  assert.equal((await script.tasks.stats()).running, 0);
  assert.equal((await script.tasks.list({ state: 'ready' })).length, 1);
  assert.equal(ran, 0);

  // A process serving through app.fetch() (no serve(), no attach()) runs what a script enqueued, though its request registers nothing.
  const fetched = open();
  const ranByFetched = completed(fetched);
  assert.equal((await fetched.fetch(new Request('http://localhost/'))).status, 200);
  await ranByFetched;
  assert.equal(ran, 1);
  await fetched.tasks.close(performance.now() + 1_000);

  // A test client serves its app from the moment it is made: what the test enqueues runs (its runner woken, not polled).
  const tested = open();
  const ranByClient = completed(tested);
  const client = createTestClient(tested, { tasks: 'app' });
  t.after(() => client.close());
  await tested.tasks.enqueue(report, {});
  await ranByClient;
  assert.equal(ran, 2);
  await client.close();

  // A script settled as a test would: what is due runs in it.
  const settled = open();
  const { id: last } = await settled.tasks.enqueue(report, {});
  await settled.settle();
  assert.equal(ran, 3);
  assert.equal((await settled.tasks.get(last))?.state, 'completed');

  // A process whose first call is settle() (it enqueued nothing, served nothing: the store not opened yet) runs what is due too.
  const { id: left } = await script.tasks.enqueue(report, {});
  const fresh = open();
  await fresh.settle();
  assert.equal(ran, 4);
  assert.equal((await fresh.tasks.get(left))?.state, 'completed');
});

test('app.settle() as a script\'s only call, on a store that cannot open, rejects naming why and leaves nothing running: the script ends (no retries of the store keep it alive to run tasks later)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-settle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const refused = createServer();
  await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
  const { port } = refused.address() as AddressInfo;
  await new Promise((resolve) => refused.close(resolve));
  // A SQLite file in a missing folder; a BullMQ store on a port nothing listens on (its Redis client kept the process open).
  for (const args of [['sqlite', path.join(dir, 'missing', 'tasks.db')], ['bullmq', String(port)]]) {
    const script = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('fixtures/settle-only.ts', import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => script.kill('SIGKILL'));
    let output = '';
    script.stdout!.on('data', (chunk: Buffer) => (output += chunk));
    const [code] = await once(script, 'exit');
    assert.equal(output, 'rejected StoreUnavailable\n', args[0]);
    assert.equal(code, 0, args[0]);
  }
});

test('app.settle() after the app shut down resolves (nothing runs there any more), and during its shutdown waits for the attempt running', async () => {
  const gate = deferred();
  const started = deferred();
  let finished = false;
  const slow = task('slow', async () => {
    started.resolve();
    await gate.promise;
    finished = true;
  });
  const app = createApp({
    accessLog: false,
    tasks: { definitions: [slow], store: sqliteStore({ path: ':memory:' }) },
    routes: [post('/slow', () => {
      after(slow, {});
      return new HttpResponse('ok');
    })],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  assert.equal((await fetch(`${server.url}/slow`, { method: 'POST' })).status, 200);
  await started.promise;
  const closed = server.close({ timeoutMs: 5_000 });
  const settled = app.settle().then(() => finished);
  gate.resolve();
  assert.equal(await settled, true);
  await closed;
  await app.settle();
});

test('registrations handed over just before the app closes (a burst of enqueues during shutdown) are journaled, not refused as "the store is not open"', async (t) => {
  const file = tempFile(t);
  const burst = task('burst', () => {});
  const app = createApp({ tasks: { definitions: [burst], store: sqliteStore({ path: file }), run: false } });
  await app.tasks.open();
  const enqueued = Array.from({ length: 100 }, (_, n) => app.tasks.enqueue(burst, { n }));
  await app.tasks.close(performance.now() + 5_000);
  const settled = await Promise.allSettled(enqueued);
  assert.deepEqual(settled.filter(({ status }) => status === 'rejected'), []);
  const after = createApp({ tasks: { definitions: [burst], store: sqliteStore({ path: file }), run: false } });
  await after.tasks.open();
  t.after(() => after.tasks.close(performance.now() + 1_000));
  assert.equal((await after.tasks.stats()).ready, 100);
});

test('app.tasks.listPage() pages what app.tasks.list() lists, its next the next page\'s after; a filter key it does not know is refused by name', async (t) => {
  const file = tempFile(t);
  const report = task('paged-report', () => {});
  const app = createApp({ tasks: { definitions: [report], store: sqliteStore({ path: file }) } });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await app.tasks.enqueue(report, { i })).id);
  const first = await app.tasks.listPage({ state: 'ready', limit: 3 });
  assert.deepEqual(first.tasks.map(({ id }) => id), ids.slice(2).reverse());
  assert.equal(typeof first.next, 'string');
  const second = await app.tasks.listPage({ state: 'ready', limit: 3, after: first.next! });
  assert.deepEqual([second.tasks.map(({ id }) => id), second.next], [ids.slice(0, 2).reverse(), null]);
  assert.deepEqual((await app.tasks.list({ limit: 3, after: first.next! })).map(({ id }) => id), ids.slice(0, 2).reverse());
  await assert.rejects(app.tasks.listPage({ cursor: 'x' } as never), /app\.tasks\.listPage\(\): unknown option "cursor"/);
});
