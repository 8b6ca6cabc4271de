// Closing with pipelined requests on a connection, ported from Fastify's
// test/close-pipelining.test.js ("Should return 503 while closing -
// pipelining"): Fastify answers the requests behind the first with a 503.
// Coda runs pipelined requests one at a time (src/server/pipelining.ts), so
// those behind have not started: the first is answered with Connection:
// close and they never run, as Go's server closes (RFC 9112 9.6: after
// "close", no further request is processed; the client may send them again
// on a new connection). Before, their views had run already, during the
// shutdown, and were answered before the connection closed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse, type Server } from 'coda-http';
import { startServer } from '../helpers.js';
import { pipelined, request, responses } from '../transport/wire.js';

test('close() while a request is in its view with two pipelined behind it: it is answered with Connection: close, and the two behind never run', { timeout: 10_000 }, async () => {
  let server!: Server;
  let report!: Promise<{ requestsInFlightAtClose: number }>;
  let views = 0;
  const app = createApp({
    routes: [get('/', () => {
      const n = ++views;
      if (n === 1) report = server.close({ timeoutMs: 2_000 });
      return new HttpResponse(`answer ${n}`);
    })],
  });
  server = await startServer(app);
  const raw = await pipelined(server, [request('/'), request('/'), request('/')]);
  const { list, rest } = responses(raw);
  assert.deepEqual(list.map((r) => [r.status, r.headers.connection, r.body.toString()]), [[200, 'close', 'answer 1']], raw.toString('latin1'));
  assert.equal(rest.length, 0);
  assert.equal(views, 1);
  assert.equal((await report).requestsInFlightAtClose, 1);
});
