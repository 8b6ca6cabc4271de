import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  after, createApp, get, HttpResponse, JsonResponse, post, signals, StreamingResponse, task, type AfterContext, type MiddlewareFactory, type MiddlewareHooks, type Outcome,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, memoryLogger } from '../helpers.js';

test('response.after() runs after the response, with the request, the response, the outcome and a signal', async () => {
  let seen: AfterContext | undefined;
  let outcome: Outcome | undefined;
  let taskStartedAt = 0;
  const app = createApp({
    routes: [get('/notes/:id', () => new HttpResponse('note').after((ctx) => {
      taskStartedAt = performance.now();
      seen = ctx;
      outcome = ctx.outcome;
    }, { name: 'audit' }))],
  });
  const client = createTestClient(app);
  const sentAt = performance.now();
  const res = await client.get('/notes/7');
  assert.equal(await res.text(), 'note');
  await client.settle();
  assert.ok(seen);
  assert.equal(seen.request.params.id, '7');
  assert.equal(seen.response.status, 200);
  assert.ok(seen.signal instanceof AbortSignal && !seen.signal.aborted);
  assert.equal(outcome?.status, 200);
  assert.equal(outcome?.completed, true);
  assert.equal(outcome?.aborted, false);
  assert.equal(outcome?.bytesSent, 4);
  // performance.now() times: the request began after the test sent it, and was finished before its task started.
  assert.ok(sentAt <= outcome!.startedAt && outcome!.startedAt <= outcome!.finishedAt && outcome!.finishedAt <= taskStartedAt);
  assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['audit', 'completed']]);
});

test('after() works from deep inside the request and outside a request throws an error that says so', async () => {
  const ran: string[] = [];
  async function deepInside(): Promise<void> {
    await Promise.resolve();
    after(() => { ran.push('deep'); }, { name: 'deep' });
  }
  const app = createApp({
    routes: [get('/', async () => {
      await deepInside();
      return new HttpResponse('ok');
    })],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(ran, ['deep']);
  assert.throws(() => after(() => {}), /after\(\) was called outside a request/);
  // Not a task at all, outside a request: that is what is said, not a TypeError about reading its name.
  assert.throws(() => after(undefined as never), /after\(\) was called outside a request/);
  // A durable task's error says how to journal one outside a request (in another durable task, say).
  assert.throws(() => after(task('welcome', () => {}), {}), /after\(\) was called outside a request: .*; outside a request \(a script, a worker, a durable task\) journal "welcome" with await app\.tasks\.enqueue\(task, payload\)$/);
});

test('after() inside a task queues a task that runs after the ones already queued for that response', async () => {
  const ran: string[] = [];
  const app = createApp({
    routes: [get('/', () => new HttpResponse('ok')
      .after(() => {
        ran.push('first');
        after(() => { ran.push('from-inside'); });
      })
      .after(() => { ran.push('second'); }))],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(ran, ['first', 'second', 'from-inside']);
});

test('response.after() once the response is sent (in a task, in an afterResponse hook) is a TypeError saying so, not a task that never runs', async () => {
  const errors: unknown[] = [];
  const ran: string[] = [];
  const lateRegistration = (where: string, response: HttpResponse): void => {
    try {
      response.after(() => { ran.push(where); });
    } catch (error) {
      errors.push(error);
    }
  };
  const hook: MiddlewareHooks = {
    afterResponse(_request, response) {
      lateRegistration('hook', response);
    },
  };
  const app = createApp({
    middleware: [hook],
    routes: [get('/', () => {
      const response = new HttpResponse('ok');
      return response.after(() => lateRegistration('task', response));
    })],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(ran, []);
  assert.equal(errors.length, 2);
  for (const error of errors) {
    assert.ok(error instanceof TypeError);
    assert.equal(error.message, 'response.after(): the response has been sent already and its tasks taken; call after() to run more work now');
  }
});

test('response.after() on a response the view builds once a middleware answered the request early: a TypeError saying the request\'s response is done, not that this one was sent', async () => {
  const done = deferred();
  const late = deferred<unknown>();
  // Answers at once, leaving the view to finish on its own (a timeout middleware would).
  const early: MiddlewareFactory = (getResponse) => (request) => {
    void getResponse(request);
    return new HttpResponse('early');
  };
  const app = createApp({
    middleware: [early],
    routes: [get('/', async () => {
      await done.promise;
      const response = new HttpResponse('never sent');
      try {
        response.after(() => {});
      } catch (error) {
        late.resolve(error);
      }
      return response;
    })],
  });
  const client = createTestClient(app);
  assert.equal(await (await client.get('/')).text(), 'early');
  await client.settle();
  done.resolve();
  const error = await late.promise;
  assert.ok(error instanceof TypeError);
  // Was: "the response has been sent already", of a response never sent.
  assert.equal(error.message, 'response.after(): this response was never sent: the request\'s response is done already (another answered it, a middleware before the view returned, say) and its tasks were taken; call after() to queue the work at once, or register it on the response you return');
});

test('after() called once the response is done runs at once, with the outcome already known', async () => {
  const late = deferred();
  let lateOutcome: Outcome | undefined;
  const app = createApp({
    routes: [get('/', () => {
      // Work the view leaves running, which registers a task after the response went out.
      void late.promise.then(() => after(({ outcome }) => { lateOutcome = outcome; }, { name: 'late' }));
      return new HttpResponse('ok', { status: 201 });
    })],
  });
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.equal(lateOutcome, undefined);
  late.resolve();
  await late.promise;
  await client.settle();
  const known = lateOutcome as Outcome | undefined; // assigned by the task, which TypeScript cannot see
  assert.equal(known?.status, 201);
  assert.equal(known?.completed, true);
});

test("a cookie set on the sent response (in a task, an afterResponse hook) is a TypeError saying so, never silently lost (Next.js: 'does not allow modifying cookies in a callback')", async () => {
  const failures: string[] = [];
  const setLate = (where: string, response: HttpResponse): void => {
    try {
      response.setCookie('late', where);
    } catch (error) {
      failures.push(`${where}: ${(error as Error).message}`);
    }
    try {
      response.deleteCookie('session');
    } catch (error) {
      failures.push(`${where}: ${(error as Error).message}`);
    }
  };
  let made: HttpResponse | undefined;
  const app = createApp({
    middleware: [{ afterResponse(_request, response) { setLate('hook', response); } }],
    routes: [get('/', () => new HttpResponse('ok').after(({ response }) => {
      setLate('task', response);
      // Another response, made in the task, takes cookies as any does.
      made = new HttpResponse('elsewhere').setCookie('fresh', '1');
    }))],
  });
  const client = createTestClient(app);
  const res = await client.get('/');
  await client.settle();
  assert.equal(res.headers.get('set-cookie'), null);
  const refused = 'the response is being sent already and a cookie set now would never reach the client; set it before the response is returned';
  assert.deepEqual(failures, [
    `task: response.setCookie(): ${refused}`,
    `task: response.deleteCookie(): ${refused}`,
    `hook: response.setCookie(): ${refused}`,
    `hook: response.deleteCookie(): ${refused}`,
  ]);
  assert.ok(made !== undefined);
});

/** Each late change to `response` (its headers, its status): the TypeError's message, or 'ok' when it was taken. */
function changeLate(where: string, response: HttpResponse): string[] {
  const changes: [string, () => unknown][] = [
    ['set', () => response.headers.set('x-late', where)],
    ['append', () => response.headers.append('x-late', where)],
    ['delete', () => response.headers.delete('content-type')],
    ['status', () => (response.status = 500)],
    ['body', () => (response.body = 'late')],
  ];
  return changes.map(([name, change]) => {
    try {
      change();
      return `${where} ${name}: ok`;
    } catch (error) {
      assert.ok(error instanceof TypeError);
      return `${where} ${name}: ${error.message}`;
    }
  });
}

const SET_LATE = 'the response is being sent already and a header set now would never reach the client; set it before the response is returned';
const DELETED_LATE = 'the response is being sent already and a header deleted now would still reach the client; delete it before the response is returned';
const STATUS_LATE = 'the response is being sent already and a status set now would never reach the client; set it before the response is returned';
const BODY_LATE = 'the response is being sent already and a body set now would never reach the client; set it before the response is returned';
const STREAM_BODY = 'a StreamingResponse sends its stream, not a body: setting its body to string "late" would change nothing that is sent; return new HttpResponse(body, { status, headers }) in its place';

test('a header, status or body changed on the sent response (in a task, an afterResponse hook, its own stream) is a TypeError saying so, never silently lost', async () => {
  const failures: string[] = [];
  const app = createApp({
    middleware: [{ afterResponse(_request, response) { failures.push(...changeLate('hook', response)); } }],
    routes: [
      get('/', () => new HttpResponse('ok').after(({ response }) => { failures.push(...changeLate('task', response)); })),
      get('/stream', () => {
        const response: StreamingResponse = new StreamingResponse(async function* () {
          failures.push(...changeLate('stream', response));
          yield 'first';
          failures.push(...changeLate('stream after its head', response));
        });
        return response;
      }),
    ],
  });
  for (const transport of ['in-process', 'socket'] as const) {
    failures.length = 0;
    await using client = createTestClient(app, { transport });
    const res = await client.get('/');
    await client.settle();
    assert.equal(res.status, 200, transport);
    assert.equal(res.headers.get('x-late'), null);
    const refused = (where: string, body = `response.body: ${BODY_LATE}`): string[] => [
      `${where} set: response.headers.set(): ${SET_LATE}`, `${where} append: response.headers.append(): ${SET_LATE}`,
      `${where} delete: response.headers.delete(): ${DELETED_LATE}`, `${where} status: response.status: ${STATUS_LATE}`, `${where} body: ${body}`,
    ];
    assert.deepEqual(failures, [...refused('task'), ...refused('hook')], transport);
    failures.length = 0;
    const streamed = await client.get('/stream');
    await client.settle();
    assert.equal(await streamed.text(), 'first', transport);
    assert.equal(streamed.headers.get('x-late'), null, transport);
    assert.deepEqual(failures, [...refused('stream', STREAM_BODY), ...refused('stream after its head', STREAM_BODY), ...refused('hook', STREAM_BODY)], transport);
  }
});

test('a response shared by many requests (a module-level constant) stays free to change for each request that has not sent it, while another request\'s task is refused its late change', async () => {
  const OK = new HttpResponse('ok');
  const taskRuns = deferred();
  const changed = deferred<string[]>();
  let n = 0;
  const app = createApp({
    // A security-headers middleware sets its header on whatever response goes out, the shared one included.
    middleware: [{ processResponse(_request, response) { response.headers.set('x-frame-options', 'DENY'); return response; } }],
    routes: [
      get('/first', () => {
        after(async ({ response }) => {
          await taskRuns.promise;
          changed.resolve(changeLate('first task', response));
        });
        return OK;
      }),
      get('/next', () => {
        OK.status = ++n % 2 === 0 ? 200 : 201;
        return OK;
      }),
    ],
  });
  await using client = createTestClient(app);
  assert.equal((await client.get('/first')).headers.get('x-frame-options'), 'DENY');
  // The first request's task waits: the shared response is still the one it sent while the others go out.
  for (const status of [201, 200, 201]) {
    const res = await client.get('/next');
    assert.equal(res.status, status);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  }
  taskRuns.resolve();
  assert.deepEqual(await changed.promise, [
    `first task set: response.headers.set(): ${SET_LATE}`,
    `first task append: response.headers.append(): ${SET_LATE}`,
    `first task delete: response.headers.delete(): ${DELETED_LATE}`,
    `first task status: response.status: ${STATUS_LATE}`,
    `first task body: response.body: ${BODY_LATE}`,
  ]);
  await client.settle();
});

test('afterResponse runs for every middleware entered, in processResponse order', async () => {
  const calls: string[] = [];
  const hooks = (name: string, answer = false): MiddlewareHooks => ({
    name,
    processRequest: () => (answer ? new HttpResponse(`${name} answered`, { status: 401 }) : undefined),
    afterResponse: (_request, response, outcome) => { calls.push(`${name}:${response.status}:${outcome.status}`); },
  });
  const app = createApp({
    routes: [get('/', () => new HttpResponse('view'))],
    middleware: [hooks('a'), { name: 'b', afterResponse: () => { calls.push('b'); } }, hooks('c', true), hooks('d')],
  });
  const client = createTestClient(app);
  const res = await client.get('/');
  assert.equal(res.status, 401);
  await client.settle();
  assert.deepEqual(calls, ['c:401:401', 'b', 'a:401:401']);
});

test('afterResponse runs once for a middleware a request entered twice (a factory that retries inward), as Laravel terminates a middleware once', async () => {
  const calls: string[] = [];
  let attempts = 0;
  const retry: MiddlewareFactory = (next) => async (request) => {
    const response = await next(request);
    return response.status === 503 ? next(request) : response;
  };
  const audit = (name: string): MiddlewareHooks => ({
    name,
    processRequest: () => { calls.push(`${name} entered`); },
    afterResponse: (_request, response) => { calls.push(`${name}:${response.status}`); },
  });
  const app = createApp({
    routes: [get('/', () => new HttpResponse('view', { status: ++attempts === 1 ? 503 : 200 }))],
    middleware: [retry, audit('a'), audit('b')],
  });
  const client = createTestClient(app);
  assert.equal((await client.get('/')).status, 200);
  await client.settle();
  assert.deepEqual(calls, ['a entered', 'b entered', 'a entered', 'b entered', 'b:200', 'a:200']);
});

test('all four ways end in one scheduler, in a documented order', async () => {
  const order: string[] = [];
  const disconnect = signals.requestFinished.connect(() => { order.push('requestFinished'); });
  try {
    const app = createApp({
      routes: [get('/', () => {
        after(() => { order.push('after()'); });
        return new HttpResponse('ok').after(() => { order.push('response.after'); });
      })],
      middleware: [{ afterResponse: () => { order.push('afterResponse'); } }],
    });
    const client = createTestClient(app);
    await client.get('/');
    await client.settle();
    assert.deepEqual(order, ['after()', 'response.after', 'afterResponse', 'requestFinished']);
    assert.equal(app.afterStats().completed, 4);
  } finally {
    disconnect();
  }
});

test('signals: a requestStarted receiver returning a thenable that is not a native Promise and rejects is reported like one that throws', async () => {
  const { logger, lines } = memoryLogger();
  const disconnect = signals.requestStarted.connect(function thenableStart() {
    const rejected = { then: (_resolve: unknown, reject: (error: Error) => void) => reject(new Error('thenable receiver broke')) };
    return rejected as unknown as PromiseLike<void>;
  });
  try {
    const app = createApp({ routes: [get('/x', () => new HttpResponse('x'))], logger });
    const client = createTestClient(app);
    assert.equal((await client.get('/x')).status, 200);
    await client.settle();
    const line = lines.find((l) => l.msg === 'a requestStarted receiver failed');
    assert.equal(line?.receiver, 'thenableStart');
    assert.match(String((line?.err as { message?: string } | undefined)?.message), /thenable receiver broke/);
  } finally {
    disconnect();
  }
});

test('signals: receivers see request, response and outcome; a failing receiver is reported and the others still run', async () => {
  const { logger, lines } = memoryLogger();
  const started: string[] = [];
  const finished: number[] = [];
  const disconnects = [
    signals.requestStarted.connect(function brokenStart() { throw new Error('start receiver broke'); }),
    signals.requestStarted.connect(({ request }) => { started.push(request.path); }),
    signals.requestFinished.connect(function brokenFinish() { throw new Error('finish receiver broke'); }),
    signals.requestFinished.connect(({ response, outcome }) => { finished.push(response.status, outcome.status); }),
  ];
  try {
    const app = createApp({ routes: [get('/x', () => new HttpResponse('x', { status: 202 }))], logger });
    const client = createTestClient(app);
    const res = await client.get('/x');
    assert.equal(res.status, 202);
    await client.settle();
    assert.deepEqual(started, ['/x']);
    assert.deepEqual(finished, [202, 202]);
    assert.ok(lines.some((l) => l.msg === 'a requestStarted receiver failed' && l.receiver === 'brokenStart' && typeof l.requestId === 'string'));
    assert.ok(lines.some((l) => String(l.msg).includes('requestFinished:brokenFinish failed')));
  } finally {
    for (const disconnect of disconnects) disconnect();
  }
  assert.equal(signals.requestStarted.receivers.length, 0);
  assert.equal(signals.requestFinished.receivers.length, 0);
});

test('after() in a requestStarted receiver registers work for that request, before and after an await', async () => {
  const ran: string[] = [];
  const app = createApp({ routes: [get('/x', () => new HttpResponse('x', { status: 202 }))] });
  app.signals.requestStarted.connect(async ({ request }) => {
    after(({ outcome }) => { ran.push(`${request.path} started-task ${outcome.status}`); });
    await null;
    after(({ outcome }) => { ran.push(`${request.path} after an await ${outcome.status}`); });
  });
  const client = createTestClient(app);
  assert.equal((await client.get('/x')).status, 202);
  await client.settle();
  assert.deepEqual(ran, ['/x started-task 202', '/x after an await 202']);
  assert.deepEqual(client.tasks.map((t) => t.state), ['completed', 'completed']);
});

test("when: 'success' runs only for a completed 2xx/3xx (a redirect, not a 404), 'completed' only when nothing was aborted", async () => {
  const ran: string[] = [];
  const view = (status: number) => () => new HttpResponse('r', { status })
    .after(() => { ran.push(`${status}:always`); })
    .after(() => { ran.push(`${status}:completed`); }, { when: 'completed' })
    .after(() => { ran.push(`${status}:success`); }, { when: 'success' });
  const app = createApp({ routes: [get('/ok', view(200)), get('/moved', view(302)), get('/missing', view(404)), get('/bad', view(500))] });
  const client = createTestClient(app);
  for (const path of ['/ok', '/moved', '/missing', '/bad']) await client.get(path);
  await client.settle();
  assert.deepEqual(ran, [
    '200:always', '200:completed', '200:success', '302:always', '302:completed', '302:success',
    '404:always', '404:completed', '500:always', '500:completed',
  ]);
  assert.equal(client.tasks.filter((t) => t.state === 'skipped').length, 2);
  assert.equal(app.afterStats().skipped, 2);
});

test('tasks run in the request context: the request id is on their log lines', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [get('/', ({ log }) => new HttpResponse('ok').after(({ request }) => { request.log.info('task says hi'); log.info('view logger too'); }))],
  });
  const client = createTestClient(app);
  await client.get('/', { headers: { 'x-request-id': 'req-42' } });
  await client.settle();
  assert.equal(lines.find((l) => l.msg === 'task says hi')?.requestId, 'req-42');
  assert.equal(lines.find((l) => l.msg === 'view logger too')?.requestId, 'req-42');
});

test('response.after() and after() refuse what is not a function', () => {
  assert.throws(() => new HttpResponse('x').after(42 as never), /response\.after\(\) takes a function or a task\(\) and its payload, got number 42/);
});

test('after(promise), as Next.js takes it, is refused with the function form to use instead', async () => {
  const work = Promise.resolve();
  assert.throws(() => new HttpResponse('x').after(work as never), /response\.after\(\) takes a function .*got an instance of Promise; to keep a promise's work after the response, pass a function that returns it: response\.after\(\(\) => promise\)/);
  const app = createApp({ routes: [get('/', () => {
    after(work as never);
    return new HttpResponse('unreached');
  })], debug: true, logger: memoryLogger().logger });
  await using client = createTestClient(app);
  const response = await client.get('/');
  assert.equal(response.status, 500);
  assert.match(await response.text(), /after\(\) takes a function .*pass a function that returns it: after\(\(\) => promise\)/);
  // A thenable that is not a Promise (a query builder, which runs only once awaited) gets the same advice.
  class QueryBuilder { then(resolve: (rows: unknown[]) => void): void { resolve([]); } }
  assert.throws(() => new HttpResponse('x').after(new QueryBuilder() as never), /got an instance of QueryBuilder; to keep a promise's work after the response, pass a function that returns it: response\.after\(\(\) => promise\)/);
});

test('response.after() and after() take an empty task name as none (the function\'s name), refuse one that is not a string, and a name given where the options go says to pass { name } (Laravel\'s defer(fn, \'name\'))', async () => {
  const refusals = (where: string) => [
    'accepted',
    `${where}: name must be a string, got number 5`,
    `${where} takes an options object, got string "mail"; to name the task, pass { name: "mail" }`,
  ];
  const seen: string[] = [];
  const register = (call: (options: unknown) => void): void => {
    for (const options of [{ name: '' }, { name: 5 }, 'mail']) {
      try {
        call(options);
        seen.push('accepted');
      } catch (error) {
        seen.push(error instanceof TypeError ? error.message : String(error));
      }
    }
  };
  const named: string[] = [];
  function sendMail(): never {
    throw new Error('smtp down');
  }
  const app = createApp({
    after: { onError: ({ name }) => named.push(name) },
    routes: [get('/', () => {
      const response = new HttpResponse('ok');
      register((options) => response.after(sendMail, options as never));
      register((options) => after(sendMail, options as never));
      return response;
    })],
  });
  const client = createTestClient(app);
  // Was a 500: { name: '' } (a name computed from a blank setting) was a TypeError.
  assert.equal((await client.get('/')).status, 200);
  await client.settle();
  assert.deepEqual(seen, [...refusals('response.after()'), ...refusals('after()')]);
  assert.deepEqual(named, ['sendMail', 'sendMail']);
});

test('asyncContext: false: after() works before the first await and says why it cannot after one', async () => {
  const ran: string[] = [];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    asyncContext: false,
    logger,
    routes: [
      get('/sync', () => {
        after(() => {
          ran.push('sync');
          after(() => { ran.push('from the task'); });
        });
        return new HttpResponse('ok');
      }),
      get('/async', async () => {
        await Promise.resolve();
        after(() => { ran.push('never'); });
        return new HttpResponse('unreachable');
      }),
    ],
  });
  const client = createTestClient(app);
  assert.equal((await client.get('/sync')).status, 200);
  assert.equal((await client.get('/async')).status, 500);
  await client.settle();
  assert.deepEqual(ran, ['sync', 'from the task']);
  assert.match(String((lines.find((l) => l.level === 50)?.err as { message?: string })?.message), /asyncContext: false.*before the first await/);
});

test('a task can read a body the view read; a body nobody read before the response is a clear error, not empty data', async () => {
  const read: unknown[] = [];
  const failures: unknown[] = [];
  const app = createApp({
    after: { onError: ({ error }) => failures.push(error) },
    routes: [
      post('/read', async (request) => {
        await request.json();
        return new HttpResponse('ok').after(async ({ request: r }) => { read.push(await r.json()); });
      }),
      post('/unread', () => new HttpResponse('ok').after(async ({ request }) => { read.push(await request.text()); })),
    ],
  });
  const client = createTestClient(app);
  await client.post('/read', { json: { a: 1 } });
  await client.post('/unread', { body: 'lost?' });
  await client.settle();
  assert.deepEqual(read, [{ a: 1 }]);
  assert.match(String((failures[0] as Error).message), /request body was first read after the response was done/);
});

test('tasks on a response a middleware replaces still run, before those of the response sent', async () => {
  const ran: string[] = [];
  const app = createApp({
    middleware: [
      // A factory that sends a response of its own, and a hook that throws: both drop the view's response.
      (next) => async (request) => {
        const response = await next(request);
        return request.path === '/wrapped' ? new HttpResponse(`wrapped ${response.status}`).after(() => { ran.push('wrapper'); }) : response;
      },
      { processResponse(request, response) {
        if (request.path === '/broken') throw new Error('hook failed');
        return response;
      } },
    ],
    routes: [
      get('/wrapped', () => new HttpResponse('view', { status: 201 }).after(({ response }) => { ran.push(`view sees ${response.status}`); })),
      get('/broken', () => new HttpResponse('view').after(({ outcome }) => { ran.push(`broken sees ${outcome.status}`); })),
    ],
  });
  const client = createTestClient(app);
  assert.equal(await (await client.get('/wrapped')).text(), 'wrapped 201');
  assert.equal((await client.get('/broken')).status, 500);
  await client.settle();
  assert.deepEqual(ran, ['view sees 200', 'wrapper', 'broken sees 500']);
});

test('a durable task on a response a middleware replaces is journaled and runs all the same', async () => {
  const seen: unknown[] = [];
  const welcome = task('welcome', (payload: { userId: string }, ctx) => { seen.push([payload, ctx.outcome?.status]); });
  const app = createApp({
    tasks: { definitions: [welcome] },
    middleware: [{ processResponse: (_request, response) => new JsonResponse({ wrapped: response.status }, { status: 202 }) }],
    routes: [post('/users/:id', (request) => new JsonResponse({ ok: true }, { status: 201 }).after(welcome, { userId: request.params.id }))],
  });
  await using client = createTestClient(app);
  assert.deepEqual(await (await client.post('/users/7')).json(), { wrapped: 201 });
  await client.settle();
  assert.deepEqual(seen, [[{ userId: '7' }, 202]]);
});

test("a response shared by many requests (a module-level constant) runs each request's response.after() task once, for that request: a request's tasks are its own, not the response's", async () => {
  const OK = new HttpResponse('ok');
  const ran: string[] = [];
  const noted = task('noted', (payload: { n: string }) => { ran.push(`durable ${payload.n}`); });
  const app = createApp({
    tasks: { definitions: [noted] },
    routes: [
      get('/plain/:n', (request) => OK.after(() => void ran.push(`plain ${request.params.n}`))),
      get('/durable/:n', (request) => OK.after(noted, { n: request.params.n })),
    ],
  });
  await using client = createTestClient(app);
  for (const kind of ['plain', 'durable']) {
    for (const n of ['1', '2', '3']) {
      ran.length = 0;
      assert.equal((await client.get(`/${kind}/${n}`)).status, 200);
      await client.settle();
      // Once, the shared response's list grew with every request and each send ran (or journaled) them all again.
      assert.deepEqual(ran, [`${kind} ${n}`], `${kind}, request ${n}`);
    }
  }
});

test("two requests sharing a response at once: each request's response.after() task runs for that request, after its own response, never for the other's", async () => {
  const OK = new HttpResponse('ok');
  const ran: string[] = [];
  const noted = task('noted-shared', (payload: { n: string }, ctx) => { ran.push(`durable ${payload.n} for ${ctx.request?.path}`); });
  const registered = deferred();
  const release = deferred();
  const app = createApp({
    tasks: { definitions: [noted] },
    routes: [
      get('/slow', async (request) => {
        OK.after(({ request: seen, outcome }) => void ran.push(`plain for ${seen.path} ${outcome.status}`));
        OK.after(noted, { n: 'slow' });
        registered.resolve();
        await release.promise;
        return OK;
      }),
      get('/quick', () => OK),
    ],
  });
  await using client = createTestClient(app);
  const slow = client.get('/slow');
  await registered.promise;
  // /quick sends the same response while /slow, which gave it its tasks, is still in its view.
  assert.equal((await client.get('/quick')).status, 200);
  release.resolve();
  assert.equal((await slow).status, 200);
  await client.settle();
  // Not run for /quick (which sent the response first), nor lost for /slow.
  assert.deepEqual(ran.sort(), ['durable slow for /slow', 'plain for /slow 200']);
});

test('a generator function or a class given to after() or response.after() is refused where it is registered: called, a generator runs none of its body (the task completed with nothing done), a class without new throws (the task failed at every run)', async () => {
  const ran: string[] = [];
  const refusals: string[] = [];
  async function* notifyAll(): AsyncGenerator<never> { ran.push('notifyAll'); }
  function* audit(): Generator<never> { ran.push('audit'); }
  class SendWelcome {}
  const app = createApp({
    routes: [get('/', () => {
      const response = new HttpResponse('ok');
      // TypeScript refuses them (a task returns void or a promise): a JavaScript app does not.
      const registrations = [() => after(notifyAll as never), () => response.after(audit as never), () => after(SendWelcome as never), () => response.after(SendWelcome as never)];
      for (const register of registrations) {
        try {
          register();
        } catch (error) {
          refusals.push((error as Error).message);
        }
      }
      // A plain function is still taken (it has a prototype, as a class has).
      after(function plain() {});
      return response;
    })],
  });
  const client = createTestClient(app);
  assert.equal((await client.get('/')).status, 200);
  await client.settle();
  const aClass = 'takes a function whose call does the work, got a class (SendWelcome), which cannot be called without new; pass a function that uses it';
  assert.deepEqual(refusals, [
    'after() takes a function whose call does the work, got an async generator function (notifyAll): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }',
    'response.after() takes a function whose call does the work, got a generator function (audit): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }',
    `after() ${aClass}`,
    `response.after() ${aClass}`,
  ]);
  assert.deepEqual([ran, client.tasks.map((task) => [task.name, task.state])], [[], [['plain', 'completed']]]);
});
