// A few thousand idle connections opened at once (below the machine's open
// file limit: each takes two descriptors here, the client's and the
// server's), while normal requests are served: half send one keep-alive
// request and then sit idle, half send nothing. serve()'s keep-alive and
// headers timeouts close every one of them, and nothing is left behind: no
// connection, no request in flight, every after() task run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse } from 'coda-http';
import { assertServes, connect, memoryLogger, startServer } from '../helpers.js';
import { request } from '../transport/wire.js';

const BURST = 250;

/** The soft limit on open files of this process (a child shell inherits it). */
function openFileLimit(): number {
  return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
}

/** Resolves once `socket` has received a whole response head (the body is short and comes with it). */
function answered(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (/\r\n\r\nok$/.test(received)) resolve();
    });
    socket.once('close', () => reject(new Error('closed before its answer')));
  });
}

test('thousands of idle connections opened at once: others are served, the timeouts close them all, nothing leaks', { timeout: 30_000 }, async () => {
  const limit = openFileLimit();
  // Room for what the process has open besides (the test runner, tsx, the log).
  const count = Math.min(3_000, Math.floor((limit - 256) / 2));
  assert.ok(count >= 100, `the open file limit (${limit}) leaves room for ${count} connections only`);

  let tasks = 0;
  const app = createApp({ logger: memoryLogger().logger, routes: [get('/ok', () => (after(() => void tasks++), new HttpResponse('ok')))] });
  const server = await startServer(app, { keepAliveTimeoutMs: 500, headersTimeoutMs: 1_500, requestTimeoutMs: 3_000 });
  const sockets: Socket[] = [];
  try {
    // Half send one keep-alive request as soon as connected and read its answer; the other half send nothing at all.
    const open = async (i: number): Promise<{ closed: Promise<void>; answer: Promise<void> }> => {
      const socket = await connect(server);
      sockets.push(socket);
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      if (i % 2 === 1) {
        // Read, so that the 408 and the close are seen.
        socket.resume();
        return { closed, answer: Promise.resolve() };
      }
      const answer = answered(socket);
      socket.write(request('/ok'));
      return { closed, answer };
    };
    // Connects in bursts of BURST: more at once would overflow the kernel's accept queue (Node listens with a
    // backlog of 511), and a connection the kernel dropped there never reaches the server at all.
    const answers: { closed: Promise<void>; answer: Promise<void> }[] = [];
    for (let at = 0; at < count; at += BURST) {
      answers.push(...(await Promise.all(Array.from({ length: Math.min(BURST, count - at) }, (_, i) => open(at + i)))));
    }
    await Promise.all(answers.map((a) => a.answer));
    // Served meanwhile, on fresh connections.
    await assertServes(server, '/ok', 'ok');

    // The server closes every idle one: the keep-alive timeout after an answer, the headers timeout before any request.
    await Promise.all(answers.map((a) => a.closed));
    const left = await new Promise<number>((resolve, reject) => server.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    assert.equal(left, 0, 'no connection left open');
    await app.settle();
    assert.equal(app.requestsInFlight, 0);
    assert.equal(tasks, Math.ceil(count / 2) + 1, 'every after() task ran');
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.close({ timeoutMs: 1_000 });
  }
});
