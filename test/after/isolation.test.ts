import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, TaskTimeoutError, type TaskFailure } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { kScheduler } from '../../src/symbols.js';
import { connect, deferred, memoryLogger, startServer, unreadable, watchUncaught } from '../helpers.js';

test('a task that throws or rejects is reported; the other tasks of that response still run', async () => {
  const failures: TaskFailure[] = [];
  const ran: string[] = [];
  const app = createApp({
    after: { onError: (failure) => failures.push(failure) },
    routes: [get('/', () => new HttpResponse('ok')
      .after(() => { throw new Error('sync boom'); }, { name: 'throws' })
      .after(async () => { throw new Error('async boom'); }, { name: 'rejects' })
      .after(() => { ran.push('third'); }, { name: 'third' }))],
  });
  const client = createTestClient(app);
  const res = await client.get('/');
  assert.equal(res.status, 200);
  await client.settle();
  assert.deepEqual(ran, ['third']);
  assert.deepEqual(failures.map((f) => [f.name, (f.error as Error).message]), [['throws', 'sync boom'], ['rejects', 'async boom']]);
  // The rejection settles after the synchronous third task ran: tasks overlap under the default concurrency.
  assert.deepEqual(Object.fromEntries(client.tasks.map((t) => [t.name, t.state])), { throws: 'failed', rejects: 'failed', third: 'completed' });
  assert.equal(app.afterStats().failed, 2);
});

test('by default a failed task is one error line: task name, request id, method, path and the error', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, routes: [get('/p', () => new HttpResponse('ok').after(() => { throw new Error('nope'); }, { name: 'webhook' }))] });
  const client = createTestClient(app);
  await client.get('/p', { headers: { 'x-request-id': 'abc' } });
  await client.settle();
  const line = lines.find((l) => l.task === 'webhook');
  assert.ok(line, 'expected a log line for the failed task');
  assert.equal(line.level, 50);
  assert.equal(line.requestId, 'abc');
  assert.equal(line.method, 'GET');
  assert.equal(line.path, '/p');
  assert.equal((line.err as { message: string }).message, 'nope');
});

test('a task that throws or rejects with something that is not an Error: the default line says what it was (undefined left no trace at all)', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [get('/p', () => new HttpResponse('ok')
      .after(() => { throw undefined; }, { name: 'undefined' })
      .after(() => { throw null; }, { name: 'null' })
      .after(() => Promise.reject('a string'), { name: 'string' }))],
  });
  const client = createTestClient(app);
  await client.get('/p');
  await client.settle();
  assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => l.msg), [
    'after-response task undefined failed: it threw undefined, not an Error',
    'after-response task null failed: it threw null, not an Error',
    'after-response task string failed: it threw string "a string", not an Error',
  ]);
});

test('a task that throws a value whose reading throws (a Proxy): the default line names the task and its request and says so, not that after.onError threw', async () => {
  const { logger, lines } = memoryLogger();
  const hostile = unreadable();
  const app = createApp({
    logger,
    routes: [get('/p', () => new HttpResponse('ok')
      .after(() => { throw hostile; }, { name: 'hostile' })
      .after(() => Promise.reject(hostile), { name: 'hostile async' }))],
  });
  const client = createTestClient(app);
  await client.get('/p', { headers: { 'x-request-id': 'req-9' } });
  await client.settle();
  const errors = lines.filter((l) => l.level === 50);
  assert.deepEqual(errors.map((l) => l.msg), [
    'after-response task hostile failed: it threw a value that could not be read (reading it threw: prototype trap)',
    'after-response task hostile async failed: it threw a value that could not be read (reading it threw: prototype trap)',
  ]);
  assert.deepEqual(errors.map((l) => [l.task, l.requestId, l.method, l.path]), [['hostile', 'req-9', 'GET', '/p'], ['hostile async', 'req-9', 'GET', '/p']]);
});

test('a task function whose name getter throws runs, and is named anonymous in its report and record: the throw reached the scheduler, the process died and settle() never returned', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger, lines } = memoryLogger();
  const failing = (): void => {
    throw new Error('task failed');
  };
  const succeeding = (): void => {};
  for (const task of [failing, succeeding]) Object.defineProperty(task, 'name', { get: () => { throw new Error('name getter'); } });
  const app = createApp({ logger, routes: [get('/n', () => { after(failing); after(succeeding); return new HttpResponse('ok'); })] });
  const client = createTestClient(app);
  assert.equal((await client.get('/n')).status, 200);
  await client.settle();
  assert.deepEqual(client.tasks.map((task) => [task.name, task.state]), [['anonymous', 'failed'], ['anonymous', 'completed']]);
  assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => [l.msg, l.task, (l.err as { message?: string } | undefined)?.message]), [['after-response task anonymous failed', 'anonymous', 'task failed']]);
  assert.deepEqual(uncaught, []);
});

test('an onError that throws is logged; nothing else happens', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    after: { onError: () => { throw new Error('reporter broke'); } },
    routes: [get('/', () => new HttpResponse('ok').after(() => { throw new Error('task broke'); }))],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.ok(lines.some((l) => l.msg === 'after.onError threw while reporting a failed task'));
});

test('an async onError that rejects is logged, naming the task; the process lives (no unhandled rejection)', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    after: {
      onError: async () => {
        await Promise.resolve();
        throw new Error('error tracker unreachable');
      },
    },
    routes: [get('/', () => new HttpResponse('ok').after(() => { throw new Error('task broke'); }, { name: 'audit' }))],
  });
  const client = createTestClient(app);
  await client.get('/');
  // settle() waits for the report, the logging of its rejection included.
  await client.settle();
  const line = lines.find((l) => l.msg === 'after.onError rejected while reporting a failed task');
  assert.ok(line, 'the rejection is logged');
  assert.equal(line.task, 'audit');
  assert.equal((line.err as { message: string }).message, 'error tracker unreachable');
});

test('an async onError is waited for: settle() resolves once the failure is reported, and names a report that never ends', async () => {
  const reported: string[] = [];
  const app = createApp({
    after: {
      onError: async ({ name }) => {
        // A reporter that sends to an error tracker: its round trip, or one that never answers.
        if (name === 'hangs') return new Promise(() => {});
        await new Promise((resolve) => setTimeout(resolve, 30));
        reported.push(name);
      },
    },
    routes: [
      get('/', () => new HttpResponse('ok').after(() => { throw new Error('task broke'); }, { name: 'audit' })),
      get('/hangs', () => new HttpResponse('ok').after(() => { throw new Error('task broke'); }, { name: 'hangs' })),
    ],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(reported, ['audit']);
  assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['audit', 'failed']]);
  await client.get('/hangs');
  await assert.rejects(client.settle({ timeoutMs: 100 }), (error: Error) => {
    assert.match(error.message, /still waiting for:\n {2}after-response task hangs: failed, after\.onError still reporting it \(request [^)]+: GET \/hangs\)$/);
    return true;
  });
  // A shutdown waits for it until its deadline, then gives it up: the app served again is not held by it.
  await client.close();
  const server = await startServer(app);
  await server.close({ timeoutMs: 100 });
  await using again = createTestClient(app);
  await again.settle({ timeoutMs: 1_000 });
  // Waited for as long as a task may run (after.timeoutMs), then let go and logged: it holds nothing for good.
  const { logger, lines } = memoryLogger();
  const bounded = createApp({
    logger,
    after: { timeoutMs: 50, onError: () => new Promise(() => {}) },
    routes: [get('/', () => new HttpResponse('ok').after(() => { throw new Error('task broke'); }, { name: 'audit' }))],
  });
  await using boundedClient = createTestClient(bounded);
  await boundedClient.get('/');
  await boundedClient.settle({ timeoutMs: 2_000 });
  assert.ok(lines.some((l) => l.msg === 'after.onError still reporting the failure of task audit after 50 ms (after.timeoutMs): no longer waited for'));
});

test('an onError that throws or rejects with a value the logger cannot read (a Proxy): the line is written without it, the process lives and the next task runs', async () => {
  const { logger, lines } = memoryLogger();
  const hostile = unreadable();
  const ran: string[] = [];
  for (const onError of [() => { throw hostile; }, async () => { throw hostile; }]) {
    const app = createApp({
      logger,
      after: { onError },
      routes: [get('/', () => new HttpResponse('ok')
        .after(() => { throw new Error('task broke'); }, { name: 'audit' })
        .after(() => { ran.push('next'); }, { name: 'next' }))],
    });
    await using client = createTestClient(app);
    await client.get('/');
    await client.settle();
  }
  assert.deepEqual(ran, ['next', 'next']);
  assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => [l.msg, l.logFailed]), [
    ['after.onError threw while reporting a failed task', 'get trap'],
    ['after.onError rejected while reporting a failed task', 'get trap'],
  ]);
});

test('a task that never settles is timed out: its signal fires, it is counted, and its slot is freed', async () => {
  const failures: TaskFailure[] = [];
  let signal: AbortSignal | undefined;
  const app = createApp({
    after: { concurrency: 1, timeoutMs: 20, onError: (f) => failures.push(f) },
    routes: [
      get('/hang', () => new HttpResponse('ok').after((ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      }, { name: 'hangs' })),
      get('/next', () => new HttpResponse('ok').after(() => {}, { name: 'next' })),
    ],
  });
  const client = createTestClient(app);
  await client.get('/hang');
  await client.get('/next');
  await client.settle();
  assert.equal(signal?.aborted, true);
  assert.ok(signal?.reason instanceof TaskTimeoutError);
  assert.match(String((signal?.reason as Error).message), /hangs timed out after 20 ms/);
  assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['hangs', 'timedOut'], ['next', 'completed']]);
  assert.equal(app.afterStats().timedOut, 1);
  assert.equal(app.afterStats().running, 0);
  assert.ok(failures[0]?.error instanceof TaskTimeoutError);
});

test('a per-task timeoutMs overrides the app default', async () => {
  const app = createApp({
    after: { timeoutMs: 60_000 },
    routes: [get('/', () => new HttpResponse('ok').after(() => new Promise(() => {}), { timeoutMs: 5, name: 'short' }))],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(client.tasks.map((t) => t.state), ['timedOut']);
});

test('timeouts of different lengths each fire in their own order; a task that settles in time is not timed out', async () => {
  const hang = () => new Promise<void>(() => {});
  const app = createApp({
    after: { timeoutMs: 40 },
    routes: [get('/', () => new HttpResponse('ok')
      .after(hang, { name: 'default' })
      .after(hang, { name: 'short', timeoutMs: 10 })
      .after(async () => {}, { name: 'quick' }))],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['quick', 'completed'], ['short', 'timedOut'], ['default', 'timedOut']]);
  assert.equal(app.afterStats().running, 0);
});

test('1000 tasks on one response all run, in registration order', async () => {
  const ran: number[] = [];
  const app = createApp({
    routes: [get('/', () => {
      const response = new HttpResponse('ok');
      for (let i = 0; i < 1000; i++) response.after(i % 2 ? () => { ran.push(i); } : async () => { ran.push(i); });
      return response;
    })],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.equal(ran.length, 1000);
  assert.deepEqual(ran, [...ran].sort((a, b) => a - b));
  assert.equal(app.afterStats().completed, 1000);
});

for (const [concurrency, expected] of [
  [1, ['a1 start', 'a1 end', 'a2', 'b1']],
  [2, ['a1 start', 'a2', 'b1', 'a1 end']],
] as const) {
  test(`tasks start in registration order; with concurrency ${concurrency} ${concurrency === 1 ? 'each waits for the one before' : 'async ones overlap'}`, async () => {
    const events: string[] = [];
    const app = createApp({
      after: { concurrency },
      routes: [
        get('/a', () => new HttpResponse('a')
          .after(async () => {
            events.push('a1 start');
            for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
            events.push('a1 end');
          })
          .after(() => { events.push('a2'); })),
        get('/b', () => new HttpResponse('b').after(() => { events.push('b1'); })),
      ],
    });
    const client = createTestClient(app);
    await client.get('/a');
    await client.get('/b');
    await client.settle();
    assert.deepEqual(events, expected);
  });
}

test('concurrency 3 bounds the async tasks running at once to 3, over several responses: the fourth starts only when one ends, and every task runs', async () => {
  const gates = Array.from({ length: 8 }, () => deferred());
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const threeStarted = deferred();
  const fourthStarted = deferred();
  const app = createApp({
    after: { concurrency: 3 },
    routes: [get('/:n', (request) => {
      const first = Number(request.params.n) * 4;
      const response = new HttpResponse('ok');
      for (let i = first; i < first + 4; i++) {
        response.after(async () => {
          const count = started.push(i);
          if (count === 3) threeStarted.resolve();
          if (count === 4) fourthStarted.resolve();
          most = Math.max(most, ++running);
          await gates[i]!.promise;
          running--;
        });
      }
      return response;
    })],
  });
  const client = createTestClient(app);
  await client.get('/0');
  await client.get('/1');
  // Resumed once the turn that started the third task is over: had a slot been free, a fourth would have started in it.
  await threeStarted.promise;
  assert.deepEqual([started.length, app.afterStats().running, app.afterStats().pending], [3, 3, 5]);
  gates[0]!.resolve();
  await fourthStarted.promise;
  assert.deepEqual(started, [0, 1, 2, 3]);
  for (const gate of gates) gate.resolve();
  await client.settle();
  assert.equal(most, 3);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(app.afterStats().completed, 8);
});

test('scheduler options are checked when the app is built: onError a function, not a generator function', () => {
  assert.throws(() => createApp({ after: { concurrency: 0 } }), /after\.concurrency must be a whole number of at least 1, got number 0/);
  assert.throws(() => createApp({ after: { maxPending: 10, lowWater: 10 } }), /after\.lowWater must be a whole number from 0 to below after\.maxPending/);
  assert.throws(() => createApp({ after: { overflow: 'ignore' as never } }), /after\.overflow must be 'reject' or 'drop'/);
  // null read "got object"; a generator function, called, would report nothing.
  assert.throws(() => createApp({ after: { onError: null as never } }), { name: 'TypeError', message: 'after.onError must be a function, got null' });
  assert.throws(() => createApp({ after: { onError: async function* report() { /* never runs */ } as never } }), {
    name: 'TypeError', message: 'after.onError takes a function whose call does the work, got an async generator function (report): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }',
  });
});

test('a task or receiver whose result has a `then` getter that throws fails that task; the process lives and the others run', async () => {
  const hostile = (): object => Object.defineProperty({}, 'then', { get() { throw new Error('then getter'); } });
  const failures: TaskFailure[] = [];
  const ran: string[] = [];
  const app = createApp({
    after: { onError: (failure) => failures.push(failure) },
    routes: [get('/', () => new HttpResponse('ok')
      .after(hostile as () => void, { name: 'hostile' })
      .after(() => { ran.push('after-it'); }))],
  });
  app.signals.requestFinished.connect(hostile as () => void);
  const client = createTestClient(app);
  assert.equal((await client.get('/')).status, 200);
  await client.settle();
  assert.deepEqual(ran, ['after-it']);
  assert.deepEqual(failures.map((f) => [f.name, (f.error as Error).message]), [['hostile', 'then getter'], ['requestFinished:hostile', 'then getter']]);
});

test('a per-task timeoutMs that is not a positive finite number of milliseconds is refused where it is registered', async () => {
  const app = createApp({
    routes: [get('/:ms', (request) => {
      const ms = Number(request.params.ms);
      return new HttpResponse('ok').after(() => {}, { timeoutMs: ms });
    })],
  });
  const client = createTestClient(app);
  for (const bad of ['Infinity', 'NaN', '0', '-5', String(2 ** 31)]) {
    const res = await client.get(`/${bad}`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 500, bad);
  }
  assert.throws(() => new HttpResponse('ok').after(() => {}, { timeoutMs: Infinity }), /response\.after\(\): timeoutMs must be a positive number of milliseconds, at most 2147483647, got number Infinity/);
  assert.throws(() => new HttpResponse('ok').after(() => {}, { timeoutMs: Number.NaN }), /got number NaN/);
  assert.throws(() => new HttpResponse('ok').after(() => {}, { when: 'sometimes' as never }), /when must be 'always', 'completed' or 'success'/);
  assert.throws(() => new HttpResponse('ok').after(() => {}, { timeout: 5 } as never), /unknown option "timeout"; did you mean "timeoutMs"\?/);
  assert.equal((await client.get('/5000')).status, 200);
});

test('an observer of task ends that throws (the test client, metrics and the dashboard observe them) is logged and passed over: a timed-out task still frees its slot, the observers after it are told, the queue goes on (a throw at the time-out kept its slot for good, and the next task never started)', async () => {
  const { logger, lines } = memoryLogger();
  const ran: string[] = [];
  const app = createApp({
    logger,
    after: { concurrency: 1, timeoutMs: 20 },
    routes: [get('/', () => new HttpResponse('ok')
      .after(() => new Promise<void>(() => {}), { name: 'hangs' })
      .after(() => { ran.push('next'); }, { name: 'next' }))],
  });
  // Observing first, as the dashboard or the metrics do when configured before any test client.
  app[kScheduler].observe(({ state }) => {
    if (state === 'timedOut') throw new Error('observer boom');
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(ran, ['next']);
  assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['hangs', 'timedOut'], ['next', 'completed']]);
  const line = lines.find((l) => l.task === 'hangs' && typeof l.msg === 'string' && l.msg.includes('observer'));
  assert.ok(line, 'expected the observer\'s throw to be logged');
  assert.equal((line.err as { message: string }).message, 'observer boom');
});

/** A task that hangs until aborted, with abort listeners that throw, reject and (onabort) throw, and one that only listens. */
function throwingListeners(heard: string[]): (ctx: { signal: AbortSignal }) => Promise<void> {
  return ({ signal }) => {
    signal.addEventListener('abort', () => { throw new Error('listener boom'); });
    signal.addEventListener('abort', async () => { await null; throw new Error('async listener boom'); });
    signal.onabort = () => { throw new Error('onabort boom'); };
    signal.addEventListener('abort', () => heard.push('other listener'));
    return new Promise(() => {});
  };
}

test('an abort listener that throws, rejects, or an onabort that throws, as its task times out: reported to after.onError as that task\'s error, after its timeout; the other listeners hear the abort, the process lives and the queue goes on (Node made each throw an uncaught exception: the process died)', async (t) => {
  const uncaught = watchUncaught(t);
  const failures: TaskFailure[] = [];
  const reported = deferred();
  const heard: string[] = [];
  const app = createApp({
    after: {
      concurrency: 1,
      timeoutMs: 20,
      onError: (failure) => {
        failures.push(failure);
        if (failures.length === 4) reported.resolve();
      },
    },
    routes: [
      get('/hang', () => new HttpResponse('ok').after(throwingListeners(heard), { name: 'hangs' })),
      get('/next', () => new HttpResponse('ok').after(() => { heard.push('next task'); }, { name: 'next' })),
    ],
  });
  const client = createTestClient(app);
  await client.get('/hang');
  await client.get('/next');
  await client.settle();
  await reported.promise;
  assert.deepEqual(uncaught, []);
  assert.deepEqual(heard, ['other listener', 'next task']);
  assert.deepEqual(failures.map((f) => [f.name, f.error instanceof TaskTimeoutError ? 'timeout' : (f.error as Error).message]), [
    ['hangs', 'timeout'], ['hangs', 'listener boom'], ['hangs', 'onabort boom'], ['hangs', 'async listener boom'],
  ]);
  assert.ok(failures.every((f) => f.context.request.path === '/hang'));
  // Ended once: timed out, nothing counted twice.
  assert.deepEqual(client.tasks.map((r) => [r.name, r.state]), [['hangs', 'timedOut'], ['next', 'completed']]);
  assert.deepEqual([app.afterStats().timedOut, app.afterStats().failed], [1, 0]);
});

test('an abort listener that throws as shutdown gives its task up: by default an error line naming the task and its request, the process lives, the report lists the task', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger, lines } = memoryLogger();
  const started = deferred();
  const heard: string[] = [];
  const app = createApp({
    logger,
    routes: [get('/p', () => new HttpResponse('ok').after(({ signal }) => {
      signal.addEventListener('abort', () => { throw new Error('listener boom'); });
      signal.onabort = () => { throw new Error('onabort boom'); };
      signal.addEventListener('abort', () => heard.push('other listener'));
      started.resolve();
      return new Promise(() => {});
    }, { name: 'hangs' }))],
  });
  const server = await startServer(app);
  await fetch(`${server.url}/p`);
  await started.promise;
  const report = await server.close({ timeoutMs: 10 });
  assert.deepEqual(report.tasksAbandoned.map((r) => r.name), ['hangs']);
  const logged = lines.filter((l) => String(l.msg).startsWith('an abort listener'));
  assert.deepEqual(logged.map((l) => [l.msg, l.task, l.path, (l.err as Error).message]), [
    ['an abort listener on the signal of after-response task hangs threw', 'hangs', '/p', 'listener boom'],
    ['an abort listener on the signal of after-response task hangs threw', 'hangs', '/p', 'onabort boom'],
  ]);
  assert.deepEqual(heard, ['other listener']);
  assert.deepEqual(uncaught, []);
});

test('after() in an abort listener of a task that times out registers for that task\'s request: its task runs, is told and counted (the listener ran in the context of what aborted it, outside any request: after() threw)', async () => {
  const failures: TaskFailure[] = [];
  const app = createApp({
    after: { timeoutMs: 20, onError: (failure) => failures.push(failure) },
    routes: [get('/hang', () => new HttpResponse('ok').after(({ signal }) => {
      signal.addEventListener('abort', () => after(() => {}, { name: 'clean-up' }));
      return new Promise(() => {});
    }, { name: 'hangs' }))],
  });
  const client = createTestClient(app);
  await client.get('/hang', { headers: { 'x-request-id': 'r-1' } });
  await client.settle();
  assert.deepEqual(client.tasks.map((r) => [r.name, r.state, r.requestId]), [['hangs', 'timedOut', 'r-1'], ['clean-up', 'completed', 'r-1']]);
  assert.deepEqual(failures.map((f) => f.error instanceof TaskTimeoutError), [true]);
  assert.equal(app.afterStats().completed, 1);
});

test('over a keep-alive socket, tasks that throw and reject touch no connection: the socket stays open and its next request is answered, the process lives', async (t) => {
  const uncaught = watchUncaught(t);
  const failures: string[] = [];
  const app = createApp({
    after: { onError: ({ name }) => { failures.push(name); } },
    routes: [get('/', () => new HttpResponse('ok')
      .after(() => { throw new Error('sync boom'); }, { name: 'throws' })
      .after(async () => { throw new Error('async boom'); }, { name: 'rejects' }))],
  });
  const server = await startServer(app);
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const socket = await connect(server);
  let received = '';
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
  let closed = false;
  socket.on('close', () => { closed = true; });
  const ask = async (answers: number): Promise<void> => {
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    while (received.split('\r\n\r\nok').length <= answers) await once(socket, 'data');
  };
  await ask(1);
  await app.settle();
  assert.deepEqual(failures.sort(), ['rejects', 'throws']);
  await ask(2);
  assert.equal(received.match(/HTTP\/1\.1 200 /g)?.length, 2);
  assert.doesNotMatch(received, /connection: close/i);
  assert.equal(closed, false);
  socket.destroy();
  assert.deepEqual(uncaught, []);
});
