import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { PassThrough } from 'node:stream';
import { after, compress, createApp, get, HttpResponse, JsonResponse, NotFound, post, redirect, signals, StreamingResponse, task, TaskTimeoutError, type TaskContext } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred } from '../helpers.js';

function appWithGatedTask(release: Promise<void>) {
  return createApp({
    routes: [
      get('/', () => new HttpResponse('ok').after(() => release, { name: 'gated' })),
      post('/echo', async (request) => new HttpResponse(await request.text(), { headers: { 'x-seen': request.headers.get('x-test') ?? '' } })),
    ],
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: the response comes back while its task still runs; settle() waits for the task`, async () => {
    const release = deferred();
    const app = appWithGatedTask(release.promise);
    const client = createTestClient(app, { transport });
    try {
      const res = await client.get('/');
      assert.equal(await res.text(), 'ok');
      let settled = false;
      const settling = client.settle().then(() => { settled = true; });
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, 'settle() resolved while the task was still running');
      release.resolve();
      await settling;
      assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['gated', 'completed']]);

      const echoed = await client.post('/echo', { body: 'hello', headers: { 'X-Test': 'yes' } });
      assert.equal(await echoed.text(), 'hello');
      assert.equal(echoed.headers.get('x-seen'), 'yes');
    } finally {
      await client.close();
    }
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: settle() sees every task the request caused, nested ones and failures included, and does not wait past the timeout of one that never ends`, async () => {
    const app = createApp({
      after: { timeoutMs: 50, onError: () => {} },
      routes: [get('/', () => {
        after(() => {
          after(() => { after(() => {}, { name: 'nested twice' }); }, { name: 'nested' });
          throw new Error('outer fails after registering');
        }, { name: 'outer' });
        after(() => new Promise(() => {}), { name: 'never ends' });
        return new HttpResponse('ok').after(async () => { throw new Error('rejects'); }, { name: 'rejects' });
      })],
    });
    await using client = createTestClient(app, { transport });
    assert.equal((await client.get('/')).status, 200);
    await client.settle();
    const states = Object.fromEntries(client.tasks.map((t) => [t.name, t.state]));
    assert.deepEqual(states, { outer: 'failed', 'never ends': 'timedOut', rejects: 'failed', nested: 'completed', 'nested twice': 'completed' });
    assert.deepEqual(app.afterStats(), { pending: 0, running: 0, completed: 2, failed: 2, timedOut: 1, shed: 0, skipped: 0 });
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a response has its Date, as Node sends it on every response (HTTP date, the time it was sent); one the app set wins`, async () => {
    const app = createApp({
      routes: [
        get('/', () => new HttpResponse('ok')),
        get('/none', () => new HttpResponse(null, { status: 204 })),
        get('/dated', () => new HttpResponse('old', { headers: { date: 'Thu, 01 Jan 1970 00:00:00 GMT' } })),
      ],
    });
    await using client = createTestClient(app, { transport });
    const before = Math.floor(Date.now() / 1000) * 1000;
    for (const path of ['/', '/none']) {
      const date = (await client.get(path)).headers.get('date');
      assert.match(date ?? 'none', /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, path);
      const sent = Date.parse(date!);
      assert.ok(sent >= before && sent <= Date.now(), `${path}: ${date}`);
    }
    assert.equal((await client.get('/dated')).headers.get('date'), 'Thu, 01 Jan 1970 00:00:00 GMT');
  });
}

test('createTestClient() of what is not an App (its handler, nothing) is a TypeError saying to give the app (it was "Cannot read properties of undefined")', () => {
  const app = createApp({ routes: [] });
  assert.throws(() => createTestClient(app.handler as never), {
    name: 'TypeError', message: 'createTestClient() takes the App that createApp() made, got a function (handler) (app.handler is for http.createServer(): give the app itself)',
  });
  assert.throws(() => createTestClient(undefined as never), { name: 'TypeError', message: 'createTestClient() takes the App that createApp() made, got undefined' });
});

test('the socket transport serves on a loopback port and close() stops it', async () => {
  const client = createTestClient(appWithGatedTask(Promise.resolve()), { transport: 'socket' });
  const url = await client.url();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  await client.close();
  await assert.rejects(fetch(url));
});

test('client.url() on an in-process client is a TypeError naming the socket transport', async () => {
  const client = createTestClient(appWithGatedTask(Promise.resolve()));
  await assert.rejects(client.url(), { name: 'TypeError', message: /^client\.url\(\): an in-process client has no server .*transport: 'socket'/ });
  assert.equal((await client.get('/')).status, 200);
  await client.close();
});

test('a socket test client that is never closed does not keep the process alive', { timeout: 20_000 }, async () => {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/forgotten-client.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(output, '200\n');
  assert.equal(code, 0);
});

test('`await using` closes the client: its server stops and it records no more tasks', async () => {
  const app = appWithGatedTask(Promise.resolve());
  let url: string;
  {
    await using client = createTestClient(app, { transport: 'socket' });
    url = await client.url();
    assert.equal((await client.get('/')).status, 200);
    await client.settle();
  }
  await assert.rejects(fetch(url), /fetch failed/);
});

/** Runs for at least `ms` of the performance clock, synchronously: a task whose run time is known. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* the task's work */ }
}

test('client.tasks says how long each task waited after its response and how long it ran', async () => {
  const app = createApp({
    routes: [get('/', () => new HttpResponse('ok').after(() => spin(3), { name: 'slow' }))],
  });
  await using client = createTestClient(app);
  const before = performance.now();
  await client.get('/');
  await client.settle();
  const elapsed = performance.now() - before;
  const [slow] = client.tasks;
  assert.equal(slow?.state, 'completed');
  assert.ok(slow.runMs! >= 3 && slow.runMs! <= elapsed, `runMs ${slow.runMs} is not within [3, ${elapsed}]`);
  assert.ok(slow.waitMs! >= 0 && slow.waitMs! + slow.runMs! <= elapsed, `waitMs ${slow.waitMs} does not fit in ${elapsed} ms`);
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a redirect is returned as it is, not followed`, async () => {
    const app = createApp({ routes: [get('/old', () => redirect('/new')), get('/new', () => new HttpResponse('new'))] });
    await using client = createTestClient(app, { transport });
    const res = await client.get('/old');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/new');
    assert.equal(await res.text(), '');
  });
}

test('in-process: res.error is what the app turned into its error response (the log that has it is silent under node --test)', async () => {
  const app = createApp({
    routes: [
      get('/boom', () => { throw new TypeError('no such column: titel'); }),
      get('/missing', () => { throw new NotFound('no note 7'); }),
      get('/fine', () => new HttpResponse('ok')),
    ],
  });
  await using client = createTestClient(app);
  const boom = await client.get('/boom');
  assert.equal(boom.status, 500);
  assert.equal(await boom.text(), 'Internal Server Error', 'the body is what a client gets, no more');
  assert.ok(boom.error instanceof TypeError);
  assert.equal(boom.error.message, 'no such column: titel');
  const missing = await client.get('/missing');
  assert.ok(missing.error instanceof NotFound);
  assert.equal((await client.get('/fine')).error, undefined);
  assert.equal((await client.get('/nowhere')).error instanceof NotFound, true, 'a routing 404 is an error too');
});

test('settle({ timeoutMs }) that runs out rejects naming what it still waits for: the tasks running and pending, the requests unanswered', async () => {
  const release = deferred();
  const app = createApp({
    after: { concurrency: 1 },
    routes: [get('/slow', async () => {
      await release.promise;
      return new HttpResponse('late');
    }), get('/hang', () => {
      after(() => release.promise, { name: 'stuck' });
      after(() => {}, { name: 'behind' });
      return new HttpResponse('ok');
    })],
  });
  await using client = createTestClient(app);
  const res = await client.get('/hang');
  const slow = client.get('/slow');
  await assert.rejects(client.settle({ timeoutMs: 50 }), (error: Error) => {
    assert.equal(error.name, 'Error');
    assert.match(error.message, /^client\.settle\(\): not settled after 50 ms; still waiting for:\n/);
    assert.match(error.message, /\n {2}request [\w-]+: GET \/slow, no response yet\n {2}after-response task stuck: running \(request [\w-]+: GET \/hang\)\n {2}after-response task behind: pending \(request [\w-]+: GET \/hang\)$/);
    return true;
  });
  assert.equal(res.status, 200);
  release.resolve();
  assert.equal(await (await slow).text(), 'late');
  await client.settle({ timeoutMs: 5_000 });
  assert.deepEqual(client.tasks.map((t) => t.name), ['stuck', 'behind']);
  await assert.rejects(client.settle({ timeoutMs: 0 }), { name: 'RangeError', message: /^client\.settle\(\) timeoutMs must be a positive number of milliseconds/ });
  await assert.rejects(client.settle({ timeout: 10 } as never), { name: 'TypeError', message: 'client.settle(): unknown option "timeout"; did you mean "timeoutMs"?' });
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a status set after construction that Node cannot send is the 500 a server sends, not given to the test as it is`, async () => {
    const app = createApp({
      routes: [get('/', () => {
        const response = new HttpResponse('made');
        response.status = 1000;
        return response;
      })],
    });
    await using client = createTestClient(app, { transport });
    const res = await client.get('/');
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error');
    if (transport === 'in-process') assert.match(String(res.error), /^RangeError: response status must be an integer from 200 to 999, got number 1000$/);
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: the request carries the headers the test gave, no others; the response's are those sent, Content-Length and Content-Encoding included, its body as sent`, async () => {
    const text = 'compressible '.repeat(400);
    const app = createApp({
      middleware: [compress()],
      routes: [
        get('/headers', (request) => new JsonResponse(Object.keys(request.headers.raw).filter((name) => !['host', 'connection'].includes(name)))),
        get('/text', () => new HttpResponse(text)),
        get('/empty', () => new HttpResponse(null, { status: 204 })),
      ],
    });
    await using client = createTestClient(app, { transport });
    assert.deepEqual(await (await client.get('/headers', { headers: { 'x-mine': '1' } })).json(), ['x-mine']);
    const plain = await client.get('/text');
    assert.equal(plain.headers.get('content-length'), String(text.length));
    assert.equal(plain.headers.get('content-encoding'), null);
    const head = await client.head('/text');
    assert.equal(head.headers.get('content-length'), String(text.length));
    assert.equal(head.body.length, 0);
    assert.equal((await client.get('/empty')).headers.get('content-length'), null);
    const gzipped = await client.get('/text', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gzipped.headers.get('content-encoding'), 'gzip');
    assert.equal(gzipped.headers.get('content-length'), String(gzipped.body.length));
    assert.equal(gunzipSync(gzipped.body).toString(), text);
  });
}

test('in-process: a request has a Host, as every HTTP/1.1 request has (localhost); a host the test gives wins', async () => {
  const app = createApp({ routes: [get('/', (request) => new JsonResponse({ host: request.host, header: request.headers.get('host') }))] });
  await using client = createTestClient(app);
  assert.deepEqual(await (await client.get('/')).json(), { host: 'localhost', header: 'localhost' });
  assert.deepEqual(await (await client.get('/', { headers: { Host: 'app.example' } })).json(), { host: 'app.example', header: 'app.example' });
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: the client's headers go with every request; a request's own header of the same name wins`, async () => {
    const app = createApp({
      allowedHosts: ['app.example'],
      routes: [get('/', (request) => new JsonResponse({ host: request.host, authorization: request.headers.get('authorization') }))],
    });
    await using client = createTestClient(app, { transport, headers: { Host: 'app.example', authorization: 'Bearer t0ken' } });
    assert.deepEqual(await (await client.get('/')).json(), { host: 'app.example', authorization: 'Bearer t0ken' });
    assert.deepEqual(await (await client.get('/', { headers: { Authorization: 'Bearer other' } })).json(), { host: 'app.example', authorization: 'Bearer other' });
  });
}

test('res.json() of a body that is not JSON names the status, the content type and the start of the body', async () => {
  const app = createApp({ routes: [get('/', () => { throw new Error('the view failed'); })] });
  await using client = createTestClient(app);
  const res = await client.get('/');
  await assert.rejects(res.json(), {
    name: 'SyntaxError',
    message: 'the response body is not JSON (status 500, content-type text/plain; charset=utf-8): "Internal Server Error"',
  });
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a request or settle() on a closed client is refused, saying so`, async () => {
    const client = createTestClient(createApp({ routes: [get('/', () => new HttpResponse('ok'))] }), { transport });
    assert.equal((await client.get('/')).status, 200);
    await client.close();
    const closed = /the client is closed \(close\(\), or the end of its `await using` block\); make another/;
    await assert.rejects(client.get('/'), { name: 'Error', message: new RegExp(`^client GET /: ${closed.source}$`) });
    await assert.rejects(client.settle(), { name: 'Error', message: new RegExp(`^client.settle\\(\\): ${closed.source}$`) });
    await client.close();
  });
}

test('createTestClient() options are checked: a transport or tasks it does not know is named with the ones it does', () => {
  const app = createApp({ routes: [] });
  assert.throws(() => createTestClient(app, { transport: 'sockets' as never }), { name: 'TypeError', message: `createTestClient(): transport must be 'in-process' or 'socket', got "sockets"` });
  assert.throws(() => createTestClient(app, { tasks: 'mem' as never }), { name: 'TypeError', message: `createTestClient(): tasks must be 'memory' or 'app', got "mem"` });
  assert.throws(() => createTestClient(app, { cookie: false } as never), { name: 'TypeError', message: 'createTestClient(): unknown option "cookie"; did you mean "cookies"?' });
});

test('in-process: a request that timed out before its view returned a shared StreamingResponse leaves the stream to the request reading it', async () => {
  const stream = new PassThrough();
  const opened = deferred();
  const shared = new StreamingResponse(() => { opened.resolve(); return stream; });
  const late = deferred();
  const app = createApp({ routes: [get('/plain', () => shared), get('/late', async () => { await late.promise; return shared; })] });
  await using client = createTestClient(app);
  const finished = deferred();
  const disconnect = signals.requestFinished.connect(({ request }) => { if (request.path === '/late') finished.resolve(); });
  try {
    const reading = client.get('/plain');
    await opened.promise;
    stream.write('first ');
    await assert.rejects(client.get('/late', { timeoutMs: 20 }), /no complete response after 20 ms/);
    late.resolve();
    await finished.promise;
    stream.end('last');
    assert.equal(await (await reading).text(), 'first last');
  } finally {
    disconnect();
  }
});

test('a task that throws or rejects with a value that cannot be read (a Proxy whose every trap throws, an object whose message, stack and toString getters throw): client.tasks keeps that very value, and reading the records, settle() and a failing assertion on them never throw Coda\'s error in place of the user\'s', async () => {
  const everyTrap = new Proxy({}, new Proxy({}, { get: () => () => { throw new Error('trap'); } }));
  const getters = Object.create(null, {
    message: { enumerable: true, get() { throw new Error('message getter'); } },
    stack: { enumerable: true, get() { throw new Error('stack getter'); } },
    toString: { get() { throw new Error('toString getter'); } },
  }) as object;
  const app = createApp({
    after: { onError: () => {} },
    routes: [get('/', () => new HttpResponse('ok')
      .after(() => { throw everyTrap; }, { name: 'throws' })
      .after(async () => { throw getters; }, { name: 'rejects' }))],
  });
  await using client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual(client.tasks.map(({ name, state }) => [name, state]), [['throws', 'failed'], ['rejects', 'failed']]);
  assert.ok(client.tasks[0]!.error === everyTrap && client.tasks[1]!.error === getters);
  // A user's assertion that fails on the records fails with its own AssertionError.
  assert.throws(() => assert.deepEqual(client.tasks, []), assert.AssertionError);
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: concurrent requests on one client each get their own response, and settle() waits for the tasks of all of them`, async () => {
    const app = createApp({
      routes: [post('/echo/:n', async (request) => new HttpResponse(`${request.params.n}:${await request.text()}`).after(() => {}, { name: `task ${request.params.n}` }))],
    });
    await using client = createTestClient(app, { transport });
    const numbers = Array.from({ length: 20 }, (_, n) => n);
    const answers = await Promise.all(numbers.map(async (n) => (await client.post(`/echo/${n}`, { body: 'x'.repeat(n) })).text()));
    assert.deepEqual(answers, numbers.map((n) => `${n}:${'x'.repeat(n)}`));
    await client.settle();
    assert.deepEqual(client.tasks.map((t) => t.name).sort(), numbers.map((n) => `task ${n}`).sort());
    assert.ok(client.tasks.every((t) => t.state === 'completed'));
  });
}

test('client.tasks tells five states: completed, failed, timedOut and skipped for after-response tasks; completed, retrying, failed and skipped for durable attempts, whose timeout is a failure (a TaskTimeoutError), not timedOut', async () => {
  const note = task('note', () => {});
  const slow = task('slow', (_payload: object, ctx: TaskContext) => new Promise<void>((_, reject) => {
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
  }), { attempts: 2, timeoutMs: 20, backoff: { type: 'fixed', delayMs: 60_000 } });
  const app = createApp({
    after: { onError: () => {} },
    tasks: { definitions: [note, slow] },
    routes: [
      get('/ok', () => {
        after(() => {}, { name: 'done' });
        after(() => { throw new Error('boom'); }, { name: 'throws' });
        after(() => new Promise(() => {}), { name: 'hangs', timeoutMs: 20 });
        after(note, {});
        after(slow, {});
        return new HttpResponse('ok');
      }),
      get('/bad', () => {
        after(() => {}, { name: 'on success', when: 'success' });
        after(note, {}, { when: 'success' });
        return new HttpResponse('no', { status: 500 });
      }),
    ],
  });
  await using client = createTestClient(app);
  await client.get('/ok');
  await client.get('/bad');
  await client.settle();
  const told = client.tasks.map(({ name, state, attempt, error }) => [name, state, attempt ?? null, error instanceof TaskTimeoutError]);
  assert.deepEqual(told.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [
    ['done', 'completed', null, false],
    ['hangs', 'timedOut', null, true],
    ['note', 'completed', 1, false],
    ['note', 'skipped', 0, false],
    ['on success', 'skipped', null, false],
    ['slow', 'failed', 2, true],
    ['slow', 'retrying', 1, true],
    ['throws', 'failed', null, false],
  ]);
});
