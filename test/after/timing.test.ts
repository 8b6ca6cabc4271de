import assert from 'node:assert/strict';
import http from 'node:http';
import { after as afterAll, test } from 'node:test';
import { createApp, get, HttpResponse, serve, StreamingResponse, type Outcome, type Server } from 'coda-http';
import { deferred } from '../helpers.js';

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close({ timeoutMs: 100 })));
});

async function start(app: ReturnType<typeof createApp>): Promise<Server> {
  const server = await serve(app, { port: 0, handleSignals: false });
  servers.push(server);
  return server;
}

/** A GET whose response the test reads by hand. */
function open(url: string, agent?: http.Agent): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get(url, { agent }, resolve).on('error', reject));
}

async function readAll(res: http.IncomingMessage): Promise<number> {
  let bytes = 0;
  for await (const chunk of res) bytes += (chunk as Buffer).length;
  return bytes;
}

test('with a slow client reading 20 MB, tasks start only after the last byte was handed over', async () => {
  const size = 20 * 1024 * 1024;
  let outcome: Outcome | undefined;
  const app = createApp({
    routes: [
      get('/big', () => new HttpResponse(new Uint8Array(size)).after((ctx) => { outcome = ctx.outcome; })),
      get('/ping', () => new HttpResponse('pong')),
    ],
  });
  const server = await start(app);
  const res = await open(`${server.url}/big`);
  res.pause();
  // A full round trip on another connection: the server's event loop has turned
  // (any task queued at res.end() would have run), while this client reads nothing.
  assert.equal(await (await fetch(`${server.url}/ping`)).text(), 'pong');
  assert.equal(outcome, undefined, 'the task ran before the client had the body');
  assert.equal(app.afterStats().pending + app.afterStats().running, 0);
  assert.equal(await readAll(res), size);
  await app.settle();
  const known = outcome as Outcome | undefined; // assigned by the task, which TypeScript cannot see
  assert.equal(known?.completed, true);
  assert.equal(known?.bytesSent, size);
});

test('a client that aborts mid-stream: outcome.aborted, "completed" and "success" tasks skipped, "always" tasks run, the stream is closed', async () => {
  const ran: Outcome[] = [];
  let sourceClosed = false;
  const firstChunk = deferred();
  const app = createApp({
    routes: [get('/stream', () => new StreamingResponse((async function* () {
      try {
        for (let i = 0; ; i++) {
          yield Buffer.alloc(64 * 1024, i);
          firstChunk.resolve();
        }
      } finally {
        sourceClosed = true;
      }
    })())
      .after(({ outcome }) => { ran.push(outcome); }, { name: 'always' })
      .after(() => { ran.push({} as Outcome); }, { name: 'only-if-completed', when: 'completed' })
      .after(() => { ran.push({} as Outcome); }, { name: 'only-on-success', when: 'success' }))],
  });
  const server = await start(app);
  const res = await open(`${server.url}/stream`);
  await firstChunk.promise;
  res.destroy();
  await app.settle();
  assert.equal(ran.length, 1);
  assert.equal(ran[0]!.aborted, true);
  assert.equal(ran[0]!.completed, false);
  assert.equal(ran[0]!.status, 200);
  assert.ok(ran[0]!.bytesSent > 0);
  assert.equal(app.afterStats().skipped, 2, "the 'completed' and 'success' tasks were skipped: a 200 cut short is no success");
  assert.equal(sourceClosed, true);
});

test('keep-alive: a long task of request 1 does not delay request 2 on the same socket', async () => {
  const release = deferred();
  const app = createApp({
    routes: [
      get('/slow-task', () => new HttpResponse('one').after(() => release.promise, { name: 'long' })),
      get('/second', () => new HttpResponse('two')),
    ],
  });
  const server = await start(app);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await open(`${server.url}/slow-task`, agent);
    const firstPort = first.socket.localPort;
    await readAll(first);
    const second = await open(`${server.url}/second`, agent);
    assert.equal(second.socket.localPort, firstPort, 'expected the same keep-alive socket');
    assert.equal((await readAll(second)), 3);
    // The task is still running: request 2 did not wait for it.
    assert.equal(app.afterStats().running, 1);
  } finally {
    release.resolve();
    agent.destroy();
  }
  await app.settle();
  assert.equal(app.afterStats().completed, 1);
});

test("once the response is done the request lets go of Node's IncomingMessage", async () => {
  let inView: unknown;
  let inTask: unknown = 'not run';
  const app = createApp({
    routes: [get('/', (request) => {
      inView = request.raw;
      return new HttpResponse('ok').after(({ request: r }) => { inTask = r.raw; });
    })],
  });
  const server = await start(app);
  await (await fetch(server.url)).text();
  await app.settle();
  assert.ok(inView instanceof http.IncomingMessage);
  assert.equal(inTask, undefined);
});
