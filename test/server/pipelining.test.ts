// A pipelining flood: ten thousand small requests on one HTTP/1.1
// connection, in one write and in many tiny ones, to views that take their
// time. Every one is answered, in order, and its after() task run; the
// server reads no further than the read in hand (64 KiB) while answers are
// queued behind the one being written (src/server/pipelining.ts), so the
// requests in flight stay bounded whatever the client sends. The same on a
// server Express started and attach() put under Coda's shutdown.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server as NodeServer } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { after as afterAll, before, describe, test } from 'node:test';
import express from 'express';
import { after, createApp, get, HttpResponse, type App } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { deferred, memoryLogger, startServer } from '../helpers.js';
import { request } from '../transport/wire.js';

const COUNT = 10_000;
/** Node's reads off a socket are at most 64 KiB: what one read can hold of the smallest request here, and the one being answered. */
const READ = 65_536;

/** A server under test: the Node server, the Coda app whose requests in flight are counted, and how it stops. */
interface Target {
  server: NodeServer;
  app: App;
  close(): Promise<unknown>;
}

/**
 * The flood against the target `start` makes: its one route `/n/:i` is to
 * call `view(i)` and answer what it resolves with (body `n<i>`).
 */
function floods(name: string, count: number, start: (view: (i: string) => Promise<string>) => Promise<Target>): void {
  describe(`a pipelining flood on one connection (${name})`, () => {
    let target: Target;
    let gate = deferred();
    let views = 0;
    let tasks = 0;
    let mostInFlight = 0;
    const connections: Socket[] = [];

    before(async () => {
      target = await start(async (i) => {
        views++;
        mostInFlight = Math.max(mostInFlight, target.app.requestsInFlight);
        after(() => void tasks++);
        // A slow view: it writes nothing until the gate opens, so Node's own pause (on the answers' bytes piling up) never comes.
        await gate.promise;
        return `n${i}`;
      });
      target.server.on('connection', (socket: Socket) => connections.push(socket));
    });
    afterAll(() => target.close());

    /**
     * Sends the flood with `write`, opens the gate once the server has stopped
     * reading (its socket paused) or has started every view, and reads every
     * answer; the largest number of requests in flight at once is returned.
     */
    async function flood(write: (socket: Socket, bytes: Buffer) => void): Promise<{ bodies: string[]; mostInFlight: number; smallest: number }> {
      gate = deferred();
      views = tasks = mostInFlight = 0;
      const requests = Array.from({ length: count }, (_, i) => request(`/n/${i}`, { close: i === count - 1 }));
      const socket = netConnect((target.server.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const closed = once(socket, 'close');
      write(socket, Buffer.from(requests.join('')));
      const serverSide = connections.at(-1)!;
      for (let i = 0; i < 100_000 && views < count && !(views > 0 && serverSide.isPaused()); i++) await turn();
      gate.resolve();
      await closed;
      await target.app.settle();
      const bodies = [...Buffer.concat(chunks).toString('latin1').matchAll(/\r\n\r\n(n\d+)/g)].map((match) => match[1]!);
      return { bodies, mostInFlight, smallest: Math.min(...requests.map((r) => r.length)) };
    }

    function assertAllAnswered(result: { bodies: string[]; mostInFlight: number; smallest: number }): void {
      assert.equal(result.bodies.length, count, 'every request answered');
      assert.deepEqual(result.bodies, Array.from({ length: count }, (_, i) => `n${i}`), 'in order');
      assert.equal(views, count);
      assert.equal(tasks, count, 'every after() task ran');
      assert.equal(target.app.requestsInFlight, 0);
      const bound = Math.ceil(READ / result.smallest) + 1;
      assert.ok(result.mostInFlight <= bound, `at most one read's requests in flight (${bound}), saw ${result.mostInFlight}`);
    }

    test(`${count} requests in one write: every one answered in order, its task run, no more than one read of them in flight`, { timeout: 30_000 }, async () => {
      const before = target.app.afterStats().completed;
      assertAllAnswered(await flood((socket, bytes) => socket.write(bytes)));
      assert.equal(target.app.afterStats().completed - before, count, 'the app\'s counters account for every task');
    });

    test('the same in many tiny writes (7 bytes each, no Nagle): every one answered in order, its task run, bounded', { timeout: 30_000 }, async () => {
      assertAllAnswered(await flood((socket, bytes) => {
        socket.setNoDelay(true);
        for (let at = 0; at < bytes.length; at += 7) socket.write(bytes.subarray(at, at + 7));
      }));
    });
  });
}

floods('serve()', COUNT, async (view) => {
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [get('/n/:i', async (request) => new HttpResponse(await view(request.params.i!)))],
  });
  const server = await startServer(app, { keepAliveTimeoutMs: 60_000 });
  return { server: server.server as NodeServer, app, close: () => server.close({ timeoutMs: 1_000 }) };
});

// Express is slower per request than Coda: fewer (twice the bound still).
floods('Express, attach()', 4_000, async (view) => {
  const tasks = expressCoda({ logger: memoryLogger().logger });
  const app = express();
  app.use(tasks);
  app.get('/n/:i', async (req, res) => void res.send(await view(req.params.i)));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.keepAliveTimeout = 60_000;
  const attached = tasks.attach(server, { handleSignals: false });
  return { server, app: tasks.app, close: () => attached.close({ timeoutMs: 1_000 }) };
});
