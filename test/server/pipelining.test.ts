// A pipelining flood: ten thousand small requests on one HTTP/1.1
// connection, in one write and in many tiny ones, to views that take their
// time. Every one is answered, in order, and its after() task run; the
// server reads no further than the read in hand (64 KiB) while answers are
// queued behind the one being written (src/server/pipelining.ts), so the
// requests in flight stay bounded whatever the client sends.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { after as afterAll, before, describe, test } from 'node:test';
import { after, createApp, get, HttpResponse, type App, type Server } from 'coda-http';
import { connect, deferred, memoryLogger, startServer } from '../helpers.js';
import { request } from '../transport/wire.js';

const COUNT = 10_000;
/** Node's reads off a socket are at most 64 KiB: what one read can hold of the smallest request here, and the one being answered. */
const READ = 65_536;

describe('a pipelining flood on one connection', () => {
  let app: App;
  let server: Server;
  let gate = deferred();
  let views = 0;
  let tasks = 0;
  let mostInFlight = 0;
  const connections: Socket[] = [];

  before(async () => {
    app = createApp({
      logger: memoryLogger().logger,
      routes: [
        get('/n/:i', async (request) => {
          views++;
          mostInFlight = Math.max(mostInFlight, app.requestsInFlight);
          after(() => void tasks++);
          // A slow view: it writes nothing until the gate opens, so Node's own pause (on the answers' bytes piling up) never comes.
          await gate.promise;
          return new HttpResponse(`n${request.params.i}`);
        }),
      ],
    });
    server = await startServer(app, { keepAliveTimeoutMs: 60_000 });
    server.server.on('connection', (socket: Socket) => connections.push(socket));
  });
  afterAll(() => server.close({ timeoutMs: 1_000 }));

  /**
   * Sends the flood with `write`, opens the gate once the server has stopped
   * reading (its socket paused) or has started every view, and reads every
   * answer; the largest number of requests in flight at once is returned.
   */
  async function flood(write: (socket: Socket, bytes: Buffer) => void): Promise<{ bodies: string[]; mostInFlight: number; smallest: number }> {
    gate = deferred();
    views = tasks = mostInFlight = 0;
    const requests = Array.from({ length: COUNT }, (_, i) => request(`/n/${i}`, { close: i === COUNT - 1 }));
    const socket = await connect(server);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = once(socket, 'close');
    write(socket, Buffer.from(requests.join('')));
    const serverSide = connections.at(-1)!;
    for (let i = 0; i < 100_000 && views < COUNT && !(views > 0 && serverSide.isPaused()); i++) await turn();
    gate.resolve();
    await closed;
    await app.settle();
    const bodies = [...Buffer.concat(chunks).toString('latin1').matchAll(/\r\n\r\n(n\d+)/g)].map((match) => match[1]!);
    return { bodies, mostInFlight, smallest: Math.min(...requests.map((r) => r.length)) };
  }

  function assertAllAnswered(result: { bodies: string[]; mostInFlight: number; smallest: number }): void {
    assert.equal(result.bodies.length, COUNT, 'every request answered');
    assert.deepEqual(result.bodies, Array.from({ length: COUNT }, (_, i) => `n${i}`), 'in order');
    assert.equal(views, COUNT);
    assert.equal(tasks, COUNT, 'every after() task ran');
    assert.equal(app.requestsInFlight, 0);
    const bound = Math.ceil(READ / result.smallest) + 1;
    assert.ok(result.mostInFlight <= bound, `at most one read's requests in flight (${bound}), saw ${result.mostInFlight}`);
  }

  test('ten thousand requests in one write: every one answered in order, its task run, no more than one read of them in flight', { timeout: 30_000 }, async () => {
    const before = app.afterStats().completed;
    assertAllAnswered(await flood((socket, bytes) => socket.write(bytes)));
    assert.equal(app.afterStats().completed - before, COUNT, 'the app\'s counters account for every task');
  });

  test('the same in many tiny writes (7 bytes each, no Nagle): every one answered in order, its task run, bounded', { timeout: 30_000 }, async () => {
    assertAllAnswered(await flood((socket, bytes) => {
      socket.setNoDelay(true);
      for (let at = 0; at < bytes.length; at += 7) socket.write(bytes.subarray(at, at + 7));
    }));
  });
});
