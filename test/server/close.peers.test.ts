// Closing with pipelined requests on a connection, ported from Fastify's
// test/close-pipelining.test.js ("Should return 503 while closing -
// pipelining"): Fastify answers the requests behind the first with a 503;
// Coda has run their views already (Node emits a pipelined request before
// the one ahead of it is answered), so it answers each with its view's
// response, then closes the connection (Connection: close on a response with
// no other request behind it, else the idle sweep), never dropping one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse, type Server } from 'coda-http';
import { deferred, startServer } from '../helpers.js';
import { pipelined, request, responses } from '../transport/wire.js';

test('close() while three pipelined requests are in their views: all three are answered, then the connection closes', { timeout: 10_000 }, async () => {
  let server!: Server;
  const closed = deferred<{ report: Promise<{ requestsInFlightAtClose: number }> }>();
  let views = 0;
  const app = createApp({
    routes: [get('/', async () => {
      const n = ++views;
      // The first view closes the server once the other two have arrived (Node emits them while it works); they answer after.
      if (n === 1) {
        for (let i = 0; i < 100 && app.requestsInFlight < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        closed.resolve({ report: server.close({ timeoutMs: 2_000 }) });
      } else {
        await closed.promise;
      }
      return new HttpResponse(`answer ${n}`);
    })],
  });
  server = await startServer(app);
  const raw = await pipelined(server, [request('/'), request('/'), request('/')]);
  const { list, rest } = responses(raw);
  assert.deepEqual(list.map((r) => [r.status, r.body.toString()]), [[200, 'answer 1'], [200, 'answer 2'], [200, 'answer 3']], raw.toString('latin1'));
  assert.equal(rest.length, 0);
  assert.equal(views, 3);
  const report = await (await closed.promise).report;
  assert.equal(report.requestsInFlightAtClose, 3);
});
