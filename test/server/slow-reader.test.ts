// A client that never reads its answers: twenty 1 MB responses pipelined on
// one connection whose client has paused its socket. The server stops reading
// that connection (its socket paused: what the client sends next stays in the
// kernel, unparsed) rather than running views and buffering answers without
// bound; pipelined requests run one at a time, so only those whose turn came
// (the answers ahead handed over) run; other clients are served meanwhile;
// when the client goes away, every exchange is done, those whose bytes were
// not all handed over with an aborted outcome, every after() task runs, and
// the requests still queued never run.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, type App, type Server } from 'coda-http';
import { assertServes, connect, memoryLogger, started, startServer } from '../helpers.js';
import { request } from '../transport/wire.js';

const MB = 1024 * 1024;
const PIPELINED = 20;

let app: App;
let server: Server;
let views = 0;
const outcomes: { aborted: boolean; bytesSent: number }[] = [];
const connections: Socket[] = [];

started(async () => {
  app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/big', () => {
        views++;
        after(({ outcome }) => void outcomes.push({ aborted: outcome.aborted, bytesSent: outcome.bytesSent }));
        // A fresh megabyte each time: nothing shared between the answers held for the client.
        return new HttpResponse(Buffer.alloc(MB, views % 256));
      }),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });
  server = await startServer(app);
  server.server.on('connection', (socket: Socket) => connections.push(socket));
  return server;
}, (server) => server.close({ timeoutMs: 1_000 }));

/** Turns of the event loop until `done()`, at most `limit`: the server's I/O runs meanwhile. */
async function until(done: () => boolean, limit = 10_000): Promise<boolean> {
  for (let i = 0; i < limit && !done(); i++) await turn();
  return done();
}

test('a client that never reads 1 MB answers: the server stops reading its connection, serves others, and when it goes every task runs (aborted)', { timeout: 20_000 }, async () => {
  const client = await connect(server);
  client.pause();
  client.on('error', () => {});
  client.write(Array.from({ length: PIPELINED }, () => request('/big')).join(''));
  const serverSide = connections.at(-1)!;

  // The answers fill the kernel's buffers both ways, and the rest waits in the server's socket: it has stopped reading.
  // Pipelined requests run one at a time: only the views whose turn came (those ahead handed over) ran.
  assert.ok(await until(() => views > 0 && serverSide.writableLength > 0 && serverSide.isPaused()), `views ${views}, buffered ${serverSide.writableLength}, paused ${serverSide.isPaused()}`);
  assert.ok(serverSide.writableLength < 2 * MB, `no more than the answer being written is buffered (${serverSide.writableLength} bytes)`);

  // More requests on the stuck connection: not read, so no view runs for them, and nothing more is buffered.
  client.write(Array.from({ length: PIPELINED }, () => request('/big')).join(''));
  // Other clients are served meanwhile (and their I/O is a loop turn the stuck connection could have been read in).
  await assertServes(server, '/ok', 'ok');
  await turn();
  const ran = views;
  assert.ok(ran < PIPELINED, `only the requests whose turn came ran (${ran} of ${PIPELINED}), none of those sent after`);
  assert.ok(serverSide.writableLength < 2 * MB, 'nothing more buffered for the client');
  // Those the kernel took are done; the one being written waits for the client.
  assert.equal(app.requestsInFlight, 1, 'the answer not handed over waits for the client');
  assert.equal(outcomes.length + app.requestsInFlight, ran);

  // The client goes away: every exchange is done, its task run with the outcome.
  client.destroy();
  // (The server's socket gets its ECONNRESET as an 'error' first: Node handles it.)
  await new Promise((resolve) => serverSide.once('close', resolve));
  await app.settle();
  assert.equal(outcomes.length, ran, 'every after() task ran');
  assert.equal(views, ran, 'the requests still queued never ran');
  assert.equal(app.requestsInFlight, 0);
  const aborted = outcomes.filter((o) => o.aborted);
  // Node 22 reports the answer that was being written when the client left as finished (its 'finish' comes all the
  // same): Coda's outcome follows Node's word there; on 24 and later it is aborted.
  if (Number(process.versions.node.split('.')[0]) >= 24) assert.ok(aborted.length > 0, 'the answers not handed over whole are aborted');
  assert.ok(aborted.every((o) => o.bytesSent <= MB));
});
