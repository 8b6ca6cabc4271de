import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { after as afterResponse, createApp, get, HttpResponse, post, serve, sqliteStore, task, type Server, type ServeOptions } from 'coda-http';
import { attach } from '../../src/server/attach.js';
import { assertServes, canListen, connect, deferred, memoryLogger, startServer } from '../helpers.js';

/** A small app; each suite gets its own, so requests from one do not show in another's close() report. */
function makeApp() {
  return createApp({
    logger: memoryLogger().logger,
    routes: [get('/ok', () => new HttpResponse('ok')), post('/echo', async (request) => new HttpResponse(await request.text()))],
  });
}
const app = makeApp();

/** Sends `data` to `server`, then nothing more, and resolves with what the server sent once it closes the connection. */
async function stall(server: Server, data: string): Promise<{ text: string; elapsed: number }> {
  const socket = await connect(server);
  const started = performance.now();
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.write(data);
  await once(socket, 'close');
  return { text, elapsed: performance.now() - started };
}

/** Node's headersTimeout, requestTimeout and keepAliveTimeout of a server started with `options`. */
async function timeoutsOf(options: ServeOptions): Promise<number[]> {
  const { server, close } = await startServer(app, options);
  await close({ timeoutMs: 1_000 });
  return [server.headersTimeout, server.requestTimeout, server.keepAliveTimeout];
}

/** True when `host` can be listened on here (IPv6 may be off in some sandboxes). */
describe('serve() on port 0', () => {
  let server: Server;
  before(async () => {
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('picks a free port and gives its url and port', async () => {
    const address = server.server.address() as net.AddressInfo;
    assert.ok(server.port > 0);
    assert.equal(server.port, address.port);
    assert.equal(address.address, '127.0.0.1');
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
    await assertServes(server, '/ok', 'ok');
  });

  test('the timeouts have their documented defaults', () => {
    assert.equal(server.server.headersTimeout, 10_000);
    assert.equal(server.server.requestTimeout, 30_000);
    assert.equal(server.server.keepAliveTimeout, 5_000);
  });
});

describe('serve() options', () => {
  test('the timeouts are set from the options', async () => {
    assert.deepEqual(await timeoutsOf({ headersTimeoutMs: 1_234, requestTimeoutMs: 5_678, keepAliveTimeoutMs: 910 }), [1_234, 5_678, 910]);
  });

  test('an IPv6 host is bracketed in the url', async (t) => {
    if (!(await canListen('::1'))) return t.skip('no IPv6 loopback here');
    const server = await startServer(app, { host: '::1' });
    try {
      assert.equal(server.url, `http://[::1]:${server.port}`);
      await assertServes(server, '/ok', 'ok');
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a port in use rejects with EADDRINUSE', async () => {
    const first = await startServer(app);
    try {
      await assert.rejects(startServer(app, { port: first.port }), { code: 'EADDRINUSE' });
    } finally {
      await first.close({ timeoutMs: 1_000 });
    }
  });

  test('handleSignals: false adds no signal handlers; true adds them and close() removes them', async () => {
    const count = () => process.listenerCount('SIGTERM') + process.listenerCount('SIGINT');
    const before = count();
    const quiet = await serve(app, { port: 0, handleSignals: false });
    assert.equal(count(), before);
    await quiet.close({ timeoutMs: 1_000 });

    const handling = await serve(app, { port: 0 });
    assert.equal(count(), before + 2);
    await handling.close({ timeoutMs: 1_000 });
    assert.equal(count(), before);
  });

  test('servers that handle signals share one process-wide handler, removed when the last one closes', async () => {
    const count = () => process.listenerCount('SIGTERM') + process.listenerCount('SIGINT');
    const before = count();
    const api = await serve(app, { port: 0 });
    const metrics = await serve(makeApp(), { port: 0 });
    assert.equal(count(), before + 2);
    await api.close({ timeoutMs: 1_000 });
    assert.equal(count(), before + 2, 'the metrics server still handles signals');
    await metrics.close({ timeoutMs: 1_000 });
    assert.equal(count(), before);
  });
});

describe('serve() refuses bad options before listening', () => {
  const refuses = (options: unknown, error: { name: string; message: string | RegExp }) =>
    assert.rejects(serve(app, options as ServeOptions), error);

  test('what is not an App (its handler, nothing) is a TypeError saying to give the app (it was "Cannot read properties of undefined (reading \'defined\')")', async () => {
    await assert.rejects(serve(app.handler as never), {
      name: 'TypeError', message: 'serve() takes the App that createApp() made, got a function (handler) (app.handler is for http.createServer(): give the app itself)',
    });
    await assert.rejects(serve(undefined as never), { name: 'TypeError', message: 'serve() takes the App that createApp() made, got undefined' });
    // An App of another copy of coda-http (two versions in node_modules): its internals are not this copy's.
    const foreign = { handler: app.handler, fetch: app.fetch };
    await assert.rejects(serve(foreign as never), { name: 'TypeError', message: /^serve\(\) takes the App that createApp\(\) made, got .* \(it looks like one made by another copy of coda-http: import serve and createApp from the same one\)$/ });
  });

  test('an unknown option, naming the closest one', async () => {
    await refuses({ prot: 0 }, { name: 'TypeError', message: 'serve(): unknown option "prot"; did you mean "port"?' });
    await refuses({ requestTimeout: 1_000 }, { name: 'TypeError', message: /unknown option "requestTimeout"; did you mean "requestTimeoutMs"\?/ });
  });

  test('a port that is not a whole number from 0 to 65535', async () => {
    for (const port of [-1, 65_536, 1.5, NaN, '3000']) {
      await refuses({ port }, { name: 'RangeError', message: /^serve\(\): port must be a whole number from 0 to 65535, got / });
    }
  });

  test('a host that is not a non-empty string, a handleSignals that is not a boolean', async () => {
    await refuses({ host: '' }, { name: 'TypeError', message: 'serve(): host must be a host name or address, got string ""' });
    await refuses({ host: 127 }, { name: 'TypeError', message: 'serve(): host must be a host name or address, got number 127' });
    await refuses({ handleSignals: 'no' }, { name: 'TypeError', message: 'serve(): handleSignals must be true or false, got string "no"' });
  });

  test('a timeout that is negative, not finite or not a number; shutdownTimeoutMs of 0', async () => {
    for (const key of ['headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'sendTimeoutMs', 'shutdownTimeoutMs']) {
      for (const value of [-1, Infinity, NaN, '5s']) {
        await refuses({ [key]: value }, { name: 'RangeError', message: new RegExp(`^serve\\(\\): ${key} must be `) });
      }
    }
    await refuses({ shutdownTimeoutMs: 0 }, { name: 'RangeError', message: /^serve\(\): shutdownTimeoutMs must be a positive number of milliseconds/ });
  });

  test('a headers timeout longer than the request timeout, naming both', async () => {
    await refuses(
      { headersTimeoutMs: 5_000, requestTimeoutMs: 3_000 },
      { name: 'RangeError', message: 'serve(): headersTimeoutMs (5000) must not be more than requestTimeoutMs (3000)' },
    );
    await refuses(
      { headersTimeoutMs: 40_000 },
      { name: 'RangeError', message: 'serve(): headersTimeoutMs (40000) must not be more than requestTimeoutMs (30000, the default)' },
    );
  });
});

describe('serve() timeouts of 0 and the headers timeout default', () => {
  test('0 turns a timeout off, as in Node; with requestTimeoutMs 0 the headers timeout may be anything', async () => {
    assert.deepEqual(await timeoutsOf({ headersTimeoutMs: 0, requestTimeoutMs: 0, keepAliveTimeoutMs: 0 }), [0, 0, 0]);
    assert.deepEqual(await timeoutsOf({ headersTimeoutMs: 40_000, requestTimeoutMs: 0 }), [40_000, 0, 5_000]);
  });

  test('keepAliveTimeoutMs is at most a second under Node\'s longest timer, as Node keeps an idle connection a second past it: the longest serves a kept-alive connection without a TimeoutOverflowWarning, one more is a RangeError (it was taken, and Node warned on each connection)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    const longest = 2 ** 31 - 1 - 1_000;
    const server = await startServer(app, { keepAliveTimeoutMs: longest });
    try {
      const socket = await connect(server);
      socket.write('GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const [answer] = (await once(socket, 'data')) as [Buffer];
      assert.match(answer.toString('latin1'), /\r\nKeep-Alive: timeout=2147482\r\n/);
      // Node warns on the next tick after it sets the socket's timer, which it does before the answer can be read.
      await new Promise((resolve) => setImmediate(resolve));
      socket.destroy();
    } finally {
      process.off('warning', onWarning);
      await server.close({ timeoutMs: 1_000 });
    }
    assert.deepEqual(warnings.map((w) => w.name), []);
    await assert.rejects(startServer(app, { keepAliveTimeoutMs: longest + 1 }), {
      name: 'RangeError',
      message: 'serve(): keepAliveTimeoutMs must be zero or more milliseconds, at most 2147482647, got number 2147482648',
    });
  });

  test('a requestTimeoutMs under 10 s is also the default headers timeout', async () => {
    assert.deepEqual(await timeoutsOf({ requestTimeoutMs: 3_000 }), [3_000, 3_000, 5_000]);
  });

  test('headers that never end get a 408 within about requestTimeoutMs when only that is given', { timeout: 5_000 }, async () => {
    const server = await startServer(makeApp(), { requestTimeoutMs: 300 });
    try {
      const { text, elapsed } = await stall(server, 'GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.ok(elapsed < 2_000, `closed after ${Math.round(elapsed)} ms`);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });
});

describe('the timeouts are enforced', () => {
  const timeouts = { headersTimeoutMs: 200, requestTimeoutMs: 400 };
  let server: Server;
  before(async () => {
    server = await startServer(makeApp(), timeouts);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  // Node's own check runs every 30 s unless told otherwise: 2 s tells the two apart with room for a slow machine.
  test('a client that never finishes its headers gets a 408 within about headersTimeout', { timeout: 5_000 }, async () => {
    const { text, elapsed } = await stall(server, 'GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed < 2_000, `closed after ${Math.round(elapsed)} ms`);
    await assertServes(server, '/ok', 'ok');
  });

  test('a client that never sends the body it announced gets a 408 within about requestTimeout', { timeout: 5_000 }, async () => {
    const { text, elapsed } = await stall(server, 'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed < 2_000, `closed after ${Math.round(elapsed)} ms`);
    await assertServes(server, '/ok', 'ok');
  });
});

describe('server.close()', () => {
  test('stops listening, reports, and is the same promise when called twice', async () => {
    const server = await startServer(makeApp());
    await assertServes(server, '/ok', 'ok');
    const first = server.close({ timeoutMs: 1_000 });
    assert.equal(server.close(), first);
    assert.deepEqual(await first, { tasksCompleted: 0, tasksAbandoned: [], requestsInFlightAtClose: 0, tasksLeftInStore: [] });
    assert.equal(server.server.listening, false);
    await assert.rejects(fetch(`${server.url}/ok`));
  });
});

describe('an app served again after its server closed', () => {
  test('a server started again in the same process opens the durable store anew and runs the tasks of its requests', async (t) => {
    const ran: number[] = [];
    const note = task('note', (payload: { n: number }) => {
      ran.push(payload.n);
    });
    const app = createApp({
      accessLog: false,
      tasks: { definitions: [note], store: sqliteStore({ path: ':memory:' }) },
      routes: [post('/notes/:n', (request) => {
        afterResponse(note, { n: Number(request.params.n) });
        return new HttpResponse('noted', { status: 202 });
      })],
    });
    for (const n of [1, 2]) {
      const server = await startServer(app);
      t.after(() => server.close());
      const response = await fetch(`${server.url}/notes/${n}`, { method: 'POST' });
      assert.equal(response.status, 202, await response.text());
      await app.settle();
      await server.close({ timeoutMs: 1_000 });
    }
    assert.deepEqual(ran, [1, 2]);
  });

  test('a server put on the app while its shutdown runs (its last server closed, its store closing) is refused, saying to await that close()', async (t) => {
    const store = sqliteStore({ path: ':memory:' });
    const storeClose = store.close.bind(store);
    const closing = deferred();
    const gate = deferred();
    store.close = async () => {
      closing.resolve();
      await gate.promise;
      return storeClose();
    };
    const app = createApp({ accessLog: false, tasks: { definitions: [task('noop', () => {})], store }, routes: [get('/ok', () => new HttpResponse('ok'))] });
    const server = await startServer(app);
    const closed = server.close({ timeoutMs: 5_000 });
    await closing.promise;
    const other = http.createServer(app.handler);
    assert.throws(() => attach(app, other, { handleSignals: false }), /the app is shutting down \(its last server is closing\): await that close\(\) before serving the app again/);
    gate.resolve();
    await closed;
    const attached = attach(app, other.listen(0, '127.0.0.1'), { handleSignals: false });
    await once(other, 'listening');
    t.after(() => attached.close({ timeoutMs: 1_000 }));
    const { port } = other.address() as net.AddressInfo;
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/ok`)).text(), 'ok');
  });
});

describe('two servers for one app', () => {
  test('closing one by hand leaves the other as it was: its responses keep their connections, its requests and tasks are not given up; the app drains when the last one closes', { timeout: 10_000 }, async () => {
    const viewGate = deferred();
    const viewStarted = deferred();
    const taskGate = deferred();
    const taskStarted = deferred();
    let taskSignal: AbortSignal | undefined;
    const { logger, lines } = memoryLogger();
    const twoApp = createApp({
      logger,
      routes: [
        get('/ok', () => new HttpResponse('ok')),
        get('/slow', async () => {
          viewStarted.resolve();
          await viewGate.promise;
          return new HttpResponse('slow');
        }),
        get('/task', () => {
          afterResponse(async ({ signal }) => {
            taskSignal = signal;
            taskStarted.resolve();
            await taskGate.promise;
          }, { name: 'long' });
          return new HttpResponse('queued');
        }),
      ],
    });
    const closing = await startServer(twoApp);
    const staying = await startServer(twoApp);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (path: string): Promise<{ connection: string | undefined; text: string }> => new Promise((resolve, reject) => {
        http.get(`${staying.url}${path}`, { agent }, (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ connection: response.headers.connection, text }));
        }).on('error', reject);
      });
      assert.deepEqual(await get('/task'), { connection: 'keep-alive', text: 'queued' });
      await taskStarted.promise;
      const inFlight = get('/slow');
      await viewStarted.promise;
      // A short deadline: the other server's request and task outlast it.
      const report = await closing.close({ timeoutMs: 200 });
      assert.deepEqual(report.tasksAbandoned, []);
      assert.equal(taskSignal?.aborted, false, 'the task of a request on the other server runs on');
      viewGate.resolve();
      assert.deepEqual(await inFlight, { connection: 'keep-alive', text: 'slow' }, 'a request in flight on the other server keeps its connection');
      assert.deepEqual(await get('/ok'), { connection: 'keep-alive', text: 'ok' }, 'a later request too');
      taskGate.resolve();
      await twoApp.settle();
      assert.equal(twoApp.afterStats().completed, 1);
      assert.deepEqual(lines.map((line) => line.msg).filter((msg) => /^(server closed|shutdown complete)/.test(String(msg))), ["server closed: the app's after-response tasks are drained with its last server (1 other still open or closing)"]);
      assert.equal((await staying.close({ timeoutMs: 1_000 })).tasksCompleted, 1);
      assert.equal(lines.at(-1)?.msg, 'shutdown complete: 0 after-response task(s) abandoned', 'the app drains when its last server closes');
    } finally {
      viewGate.resolve();
      taskGate.resolve();
      agent.destroy();
      await staying.close({ timeoutMs: 1_000 });
    }
  });
});

describe('the timeouts still apply while the server drains', () => {
  test('close(): a client trickling its body gets its 408 at requestTimeout, and the drain ends then, not at the deadline', { timeout: 10_000 }, async () => {
    const reading = deferred<void>();
    const drainApp = createApp({
      logger: memoryLogger().logger,
      routes: [post('/upload', async (request) => {
        reading.resolve();
        return new HttpResponse(await request.text());
      })],
    });
    const server = await startServer(drainApp, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
    // A request whose view reads a body announced but never sent whole, and a head never finished.
    const uploading = stall(server, 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc');
    const slowHead = stall(server, 'GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    await reading.promise;
    const started = performance.now();
    const report = await server.close({ timeoutMs: 5_000 });
    const closedAfter = performance.now() - started;
    assert.match((await uploading).text, /^HTTP\/1\.1 408 /);
    await slowHead;
    assert.equal(report.requestsInFlightAtClose, 1);
    assert.ok(closedAfter < 2_500, `drained after ${Math.round(closedAfter)} ms, the deadline was 5,000 ms`);
  });
});
