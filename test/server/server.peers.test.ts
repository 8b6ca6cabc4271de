// The keep-alive and timeout cases of Node's own http server tests, Fastify's
// and uvicorn's, ported onto serve() over raw sockets: each test is named
// after its peer case. The shutdown cases (idle connections closed, requests
// in flight answered with Connection: close, a request sent on an idle
// connection at close() answered) are in test/after/shutdown.test.ts, and
// Fastify's close-pipelining in close.peers.test.ts.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createApp, get, HttpResponse, type Server } from 'coda-http';
import { connect, startServer, type RawResponse } from '../helpers.js';
import { request, responses } from '../transport/wire.js';

/** A connection's reader: `next()` resolves with the next whole response; `closed` with the ms from its opening to its close. */
function reader(socket: Socket): { next(): Promise<RawResponse>; closed: Promise<number>; ended: () => boolean } {
  const opened = performance.now();
  let received = Buffer.alloc(0);
  let taken = 0;
  let ended = false;
  let wake = (): void => {};
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    wake();
  });
  socket.on('error', () => {}); // a reset counts as the close
  const closed = new Promise<number>((resolve) => socket.once('close', () => {
    ended = true;
    wake();
    resolve(performance.now() - opened);
  }));
  const next = (): Promise<RawResponse> => new Promise((resolve, reject) => {
    wake = () => {
      const { list } = responses(received);
      if (list.length <= taken && !ended) return;
      wake = () => {};
      if (list.length > taken) resolve(list[taken++]!);
      else reject(new Error(`closed before response ${taken + 1}, after ${JSON.stringify(received.toString('latin1'))}`));
    };
    wake();
  });
  return { next, closed, ended: () => ended };
}

/** Sends a request's head a line at a time, one every `everyMs`, until `lines` are sent or the server closes: a client on a slow link. */
async function trickle(socket: Socket, target: string, lines: number, everyMs: number): Promise<void> {
  socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n`);
  for (let i = 0; i < lines && !socket.destroyed; i++) {
    await delay(everyMs);
    socket.write(`X-Line-${i}: ${'x'.repeat(20)}\r\n`);
  }
  if (!socket.destroyed) socket.write('\r\n');
}

function okApp(): ReturnType<typeof createApp> {
  return createApp({
    routes: [
      get('/ok', () => new HttpResponse('ok')),
      // The peers' slow handler: it answers after a time of its own, longer than the keep-alive timeout.
      get('/slow', async () => {
        await delay(1_600);
        return new HttpResponse('slow');
      }),
    ],
  });
}

async function withServer(options: Parameters<typeof startServer>[1], run: (server: Server) => Promise<void>): Promise<void> {
  const server = await startServer(okApp(), options);
  try {
    await run(server);
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
}

test("Node's test-http-server-keep-alive-timeout-slow-server: on a kept-alive connection, a view slower than keepAliveTimeoutMs and Node's second past it is answered, and the connection kept", { timeout: 20_000 }, () =>
  withServer({ keepAliveTimeoutMs: 100 }, async (server) => {
    const socket = await connect(server);
    const { next, ended } = reader(socket);
    socket.write(request('/ok'));
    assert.equal((await next()).body.toString(), 'ok');
    socket.write(request('/slow'));
    const slow = await next();
    assert.deepEqual([slow.status, slow.headers.connection, slow.body.toString()], [200, 'keep-alive', 'slow']);
    assert.equal(ended(), false);
    socket.destroy();
  }));

test("Node's test-http-server-keep-alive-timeout: an idle kept-alive connection is closed by the server, not before keepAliveTimeoutMs", { timeout: 20_000 }, () =>
  withServer({ keepAliveTimeoutMs: 300 }, async (server) => {
    const socket = await connect(server);
    const { next, closed } = reader(socket);
    socket.write(request('/ok'));
    await next();
    const answeredAt = performance.now();
    await closed;
    const idle = performance.now() - answeredAt;
    assert.ok(idle >= 290 && idle < 10_000, `closed ${Math.round(idle)} ms after its answer`);
  }));

test("Node's test-http-server-headers-timeout-keepalive: a head sent in time is answered, the connection outlives headersTimeoutMs idle, and a second head that does not end by it gets a 408 and the close", { timeout: 20_000 }, () =>
  withServer({ headersTimeoutMs: 600, requestTimeoutMs: 3_000, keepAliveTimeoutMs: 5_000 }, async (server) => {
    const socket = await connect(server);
    const { next, closed, ended } = reader(socket);
    await trickle(socket, '/ok', 2, 120);
    assert.equal((await next()).status, 200);
    // Idle for one and a half headers timeouts: the timeout is a head's, not the connection's.
    await delay(900);
    assert.equal(ended(), false, 'the idle connection is open');
    const started = performance.now();
    socket.write('GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: ');
    const timedOut = await next();
    await closed;
    const after = performance.now() - started;
    assert.equal(timedOut.status, 408);
    assert.equal(timedOut.headers.connection, 'close');
    assert.ok(after >= 590 && after < 10_000, `408 ${Math.round(after)} ms after the head began`);
  }));

test("Node's test-http-server-request-timeout-keepalive, with headersTimeoutMs: 0: heads trickled for longer than keepAliveTimeoutMs and a second, within requestTimeoutMs, are answered on a fresh connection and on a kept-alive one; a head past requestTimeoutMs gets its 408 (such a head was cut, unanswered, as a connection trickling empty lines)", { timeout: 40_000 }, () =>
  withServer({ headersTimeoutMs: 0, requestTimeoutMs: 4_000, keepAliveTimeoutMs: 200 }, async (server) => {
    const socket = await connect(server);
    const { next, closed } = reader(socket);
    // Ten lines 200 ms apart: two seconds, past the 1.2 s after which a connection with no request begun is closed.
    for (const connection of ['fresh', 'kept-alive']) {
      await trickle(socket, '/ok', 10, 200);
      const answer = await next();
      assert.deepEqual([answer.status, answer.body.toString()], [200, 'ok'], `the ${connection} connection's trickled head is answered`);
    }
    // Still trickling (a head that stops is cut by Node's keep-alive timer, as in Node), for longer than requestTimeoutMs.
    const started = performance.now();
    const trickling = trickle(socket, '/ok', 40, 200);
    assert.equal((await next()).status, 408);
    await closed;
    await trickling;
    const after = performance.now() - started;
    assert.ok(after >= 3_990 && after < 20_000, `408 ${Math.round(after)} ms after the head began`);
  }));

test("uvicorn's test_keepalive_timeout_with_pipelined_requests: requests pipelined in one write, each view outlasting the keep-alive timeout, are all answered in order on the one connection", { timeout: 30_000 }, () =>
  withServer({ keepAliveTimeoutMs: 200, headersTimeoutMs: 300 }, async (server) => {
    const socket = await connect(server);
    const { next, ended } = reader(socket);
    socket.write(request('/slow') + request('/slow') + request('/ok'));
    const answers = [await next(), await next(), await next()];
    assert.deepEqual(answers.map((a) => [a.status, a.headers.connection, a.body.toString()]), [[200, 'keep-alive', 'slow'], [200, 'keep-alive', 'slow'], [200, 'keep-alive', 'ok']]);
    assert.equal(ended(), false);
    socket.destroy();
  }));

test("uvicorn's test_close_connection: an HTTP/1.1 request with Connection: close is answered with Connection: close and the server closes the connection", { timeout: 20_000 }, () =>
  withServer({}, async (server) => {
    const socket = await connect(server);
    const { next, closed } = reader(socket);
    socket.write(request('/ok', { close: true }));
    const answer = await next();
    assert.deepEqual([answer.status, answer.headers.connection, answer.body.toString()], [200, 'close', 'ok']);
    await closed;
  }));

test("uvicorn's test_http10_request, Node's test-http-1.0: an HTTP/1.0 request is answered and its connection closed; with Connection: keep-alive, the connection serves the next one", { timeout: 20_000 }, () =>
  withServer({}, async (server) => {
    const plain = await connect(server);
    const once = reader(plain);
    plain.write('GET /ok HTTP/1.0\r\n\r\n');
    const answer = await once.next();
    assert.deepEqual([answer.status, answer.headers.connection, answer.body.toString()], [200, 'close', 'ok']);
    await once.closed;

    const kept = await connect(server);
    const twice = reader(kept);
    for (let i = 0; i < 2; i++) {
      kept.write('GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const reused = await twice.next();
      assert.deepEqual([reused.status, reused.headers.connection, reused.body.toString()], [200, 'keep-alive', 'ok']);
    }
    assert.equal(twice.ended(), false);
    kept.destroy();
  }));

test("Node's test-http-server-close-idle-wait-response: a response that asks for keep-alive itself while close() drains goes out with Connection: close, and its connection closes then, not at keepAliveTimeoutMs", { timeout: 20_000 }, async () => {
  let server!: Server;
  let closing: Promise<unknown> | undefined;
  const app = createApp({
    routes: [get('/', async () => {
      closing = server.close({ timeoutMs: 15_000 });
      // Answered once the drain has begun, as the peer's timer answers after close().
      await delay(300);
      return new HttpResponse(null, { status: 204, headers: { connection: 'keep-alive' } });
    })],
  });
  server = await startServer(app, { keepAliveTimeoutMs: 60_000 });
  const socket = await connect(server);
  const { next, closed } = reader(socket);
  socket.write(request('/'));
  const answer = await next();
  assert.deepEqual([answer.status, answer.headers.connection], [204, 'close']);
  assert.ok((await closed) < 10_000);
  await closing;
});

test("uvicorn's test_shutdown_during_idle: close() closes, unanswered and at once, a kept-alive connection, one that sent nothing and one whose head stalled half-way (uvicorn closes a connection with no whole request); the keep-alive and headers timeouts are not waited for", { timeout: 30_000 }, () =>
  withServer({ keepAliveTimeoutMs: 60_000, headersTimeoutMs: 20_000 }, async (server) => {
    const kept = await connect(server);
    const keptReader = reader(kept);
    kept.write(request('/ok'));
    await keptReader.next();
    const silent = reader(await connect(server));
    const stalled = await connect(server);
    const stalledReader = reader(stalled);
    stalled.write('GET /ok HTTP/1.1\r\nHost: localhost\r\n');
    const started = performance.now();
    const report = await server.close({ timeoutMs: 15_000 });
    await Promise.all([keptReader.closed, silent.closed, stalledReader.closed]);
    assert.ok(performance.now() - started < 10_000, 'closed before the deadline');
    assert.equal(report.requestsInFlightAtClose, 0);
    await assert.rejects(keptReader.next(), /closed before response 2/);
    await assert.rejects(silent.next(), /closed before response 1/);
    await assert.rejects(stalledReader.next(), /closed before response 1/);
  }));

test("Fastify's max-requests-per-socket (serve() has no such option; Node's server.maxRequestsPerSocket, set on server.server): the last allowed answer says Connection: close, and a request past the limit, pipelined or sent after, gets Node's 503 and runs no view", { timeout: 20_000 }, async () => {
  let views = 0;
  const app = createApp({ routes: [get('/', () => new HttpResponse(`answer ${++views}`))] });
  // Node leaves the connection open after its 503 until the keep-alive timeout (plain node:http too): a short one.
  const server = await startServer(app, { keepAliveTimeoutMs: 200 });
  try {
    server.server.maxRequestsPerSocket = 2;
    const sequential = await connect(server);
    const one = reader(sequential);
    const seen: (string | number | undefined)[][] = [];
    for (let i = 0; i < 3; i++) {
      sequential.write(request('/'));
      const answer = await one.next();
      seen.push([answer.status, answer.headers.connection]);
    }
    await one.closed;
    const pipelined = await connect(server);
    const all = reader(pipelined);
    pipelined.write(request('/') + request('/') + request('/'));
    for (let i = 0; i < 3; i++) {
      const answer = await all.next();
      seen.push([answer.status, answer.headers.connection]);
    }
    await all.closed;
    const expected = [[200, 'keep-alive'], [200, 'close'], [503, 'close']];
    assert.deepEqual(seen, [...expected, ...expected]);
    assert.equal(views, 4);
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
});
