// serve({ keepAliveTimeoutMs }) and the Keep-Alive header: Node writes the
// timeout rounded down to whole seconds, so under a second it advertised
// `timeout=0`, telling clients not to reuse the connection at all. serve()
// advertises at least a second for a positive timeout, which the server keeps:
// Node closes an idle connection a second after the timeout.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from 'coda-http';
import { connect, startServer } from '../helpers.js';
import { askOk } from '../transport/wire.js';
import { selfSigned } from './certificate.js';

const app = createApp({ routes: [get('/ok', () => new HttpResponse('ok'))] });

/** Runs `use` on a connection to a server with `keepAliveTimeoutMs`, then closes both. */
async function withConnection(keepAliveTimeoutMs: number, use: (socket: Socket) => Promise<void>): Promise<void> {
  const server = await startServer(app, { keepAliveTimeoutMs });
  const socket = await connect(server);
  try {
    await use(socket);
  } finally {
    socket.destroy();
    await server.close({ timeoutMs: 1_000 });
  }
}

for (const [timeoutMs, advertised] of [[500, 'timeout=1'], [1_500, 'timeout=1'], [5_000, 'timeout=5'], [0, undefined]] as const) {
  test(`keepAliveTimeoutMs: ${timeoutMs} advertises Keep-Alive: ${advertised ?? 'nothing, as Node does'}`, { timeout: 20_000 }, () =>
    withConnection(timeoutMs, async (socket) => assert.equal((await askOk(socket)).headers['keep-alive'], advertised)));
}

test('a connection reused past keepAliveTimeoutMs: 500 but within the advertised second is served', { timeout: 20_000 }, () =>
  withConnection(500, async (socket) => {
    assert.equal((await askOk(socket)).headers['keep-alive'], 'timeout=1');
    // The client's own idle time: past the server's timeout, within what it advertised (Node closes at 1.5 s).
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal((await askOk(socket)).status, 200, 'served on the kept connection');
  }));

for (const http2 of [false, true]) {
  test(`over HTTPS${http2 ? ' (an HTTP/1.1 client of an HTTP/2 server)' : ''}, keepAliveTimeoutMs: 500 advertises Keep-Alive: timeout=1 too`, { timeout: 20_000 }, async () => {
    const { key, cert } = selfSigned();
    const server = await startServer(app, { keepAliveTimeoutMs: 500, tls: { key, cert }, http2 });
    // Kept alive: a client without an agent asks for Connection: close, answered without Keep-Alive.
    const agent = new https.Agent({ keepAlive: true, ca: cert });
    try {
      const advertised = await new Promise((resolve, reject) => {
        https.get(`${server.url}/ok`, { agent }, (res) => {
          res.resume();
          resolve(res.headers['keep-alive']);
        }).on('error', reject);
      });
      assert.equal(advertised, 'timeout=1');
    } finally {
      agent.destroy();
      await server.close({ timeoutMs: 1_000 });
    }
  });
}
