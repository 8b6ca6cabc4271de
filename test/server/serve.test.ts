import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, post, serve, type Server } from '../../src/index.js';
import { assertServes, connect, memoryLogger, startServer } from '../helpers.js';

/** A small app; each suite gets its own, so requests from one do not show in another's close() report. */
function makeApp() {
  return createApp({
    logger: memoryLogger().logger,
    routes: [get('/ok', () => new HttpResponse('ok')), post('/echo', async (request) => new HttpResponse(await request.text()))],
  });
}
const app = makeApp();

/** True when `host` can be listened on here (IPv6 may be off in some sandboxes). */
async function canListen(host: string): Promise<boolean> {
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, host, resolve));
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

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
    const server = await startServer(app, { headersTimeoutMs: 1_234, requestTimeoutMs: 5_678, keepAliveTimeoutMs: 910 });
    try {
      assert.equal(server.server.headersTimeout, 1_234);
      assert.equal(server.server.requestTimeout, 5_678);
      assert.equal(server.server.keepAliveTimeout, 910);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
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
});

describe('the timeouts are enforced', () => {
  const timeouts = { headersTimeoutMs: 200, requestTimeoutMs: 400 };
  let server: Server;
  before(async () => {
    server = await startServer(makeApp(), timeouts);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  // Node's own check runs every 30 s unless told otherwise: 2 s tells the two apart with room for a slow machine.
  /** Sends `data`, then nothing more, and resolves with what the server sent once it closes the connection. */
  async function stall(data: string): Promise<{ text: string; elapsed: number }> {
    const socket = await connect(server);
    const started = performance.now();
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.write(data);
    await once(socket, 'close');
    return { text, elapsed: performance.now() - started };
  }

  test('a client that never finishes its headers gets a 408 within about headersTimeout', { timeout: 5_000 }, async () => {
    const { text, elapsed } = await stall('GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed < 2_000, `closed after ${Math.round(elapsed)} ms`);
    await assertServes(server, '/ok', 'ok');
  });

  test('a client that never sends the body it announced gets a 408 within about requestTimeout', { timeout: 5_000 }, async () => {
    const { text, elapsed } = await stall('POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc');
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
    assert.deepEqual(await first, { tasksCompleted: 0, tasksAbandoned: [], requestsInFlightAtClose: 0 });
    assert.equal(server.server.listening, false);
    await assert.rejects(fetch(`${server.url}/ok`));
  });
});
