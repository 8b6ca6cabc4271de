// A slowloris on kept-alive connections: after one answer each, clients send
// an empty line (`\r\n`) every 100 ms. Node's parser skips such lines without
// starting a request, so its headers timeout never applies, and every read
// restarts its keep-alive timer: the connections were held for ever. serve()
// closes each once no request has begun on it for its keep-alive timeout, a
// second, and its headers timeout; others are served meanwhile, and a client
// sending requests back to back for longer than that is never cut.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from 'coda-http';
import { assertServes, connect, memoryLogger, startServer } from '../helpers.js';
import { askOk as ask } from '../transport/wire.js';

const CONNECTIONS = 50;
const KEEP_ALIVE_MS = 300;
const HEADERS_MS = 700;
// keep-alive + a second (Node's own close comes then) + headers.
const LIMIT_MS = KEEP_ALIVE_MS + 1_000 + HEADERS_MS;

test('kept-alive connections trickling empty lines are closed once no request began for the keep-alive and headers timeouts; others are served meanwhile, a busy client is not cut', { timeout: 30_000 }, async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, routes: [get('/ok', () => new HttpResponse('ok'))] });
  const server = await startServer(app, { keepAliveTimeoutMs: KEEP_ALIVE_MS, headersTimeoutMs: HEADERS_MS, requestTimeoutMs: 3_000 });
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const closed = await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      const socket = await connect(server);
      sockets.push(socket);
      socket.on('error', () => {});
      await ask(socket);
      const answeredAt = performance.now();
      // One empty line every 100 ms, for at most ten times the limit.
      let sent = 0;
      const trickle = setInterval(() => {
        if (++sent > (10 * LIMIT_MS) / 100) clearInterval(trickle);
        else socket.write('\r\n');
      }, 100);
      timers.push(trickle);
      await new Promise((resolve) => socket.once('close', resolve));
      clearInterval(trickle);
      return { after: performance.now() - answeredAt, sent };
    }).map(async (closing, i) => {
      if (i === 0) {
        // Served meanwhile, on a fresh connection; and one sending requests back to back for twice the limit is not cut.
        await assertServes(server, '/ok', 'ok');
        const busy = await connect(server);
        sockets.push(busy);
        const until = performance.now() + 2 * LIMIT_MS;
        for (let n = 0; n < 100_000 && performance.now() < until; n++) await ask(busy);
        assert.equal(busy.destroyed, false, 'the busy connection is open');
      }
      return closing;
    }));
    for (const { after, sent } of closed) {
      assert.ok(after >= LIMIT_MS, `closed ${Math.round(after)} ms after its answer, before the limit`);
      assert.ok(sent * 100 < 10 * LIMIT_MS, 'closed by the server, not when the client stopped');
    }
    assert.equal(lines.filter((line) => /no request began on it for 2000 ms/.test(line.msg ?? '')).length, CONNECTIONS);
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    await server.close({ timeoutMs: 1_000 });
  }
});
