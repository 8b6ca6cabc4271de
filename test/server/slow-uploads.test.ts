// Many slow uploads against a real server: each client sends its request head
// and then three bytes of its body every 100 ms, past requestTimeoutMs. Each
// is answered 408 (or closed) once the timeout has run, never before and never
// by its view (no body arrived whole); others are served meanwhile, and no
// exchange is left behind: nothing in flight, settle() resolves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse, post } from 'coda-http';
import { assertServes, connect, parseResponse, startServer } from '../helpers.js';

const UPLOADS = 40;
const REQUEST_MS = 1_000;
const BODY_BYTES = 10_000;
// Far past the timeout: the server, not the client stopping, ends each upload.
const MAX_SENDS = (10 * REQUEST_MS) / 100;

test(`${UPLOADS} uploads trickling 3 bytes per 100 ms past requestTimeoutMs: each answered 408 or closed after the timeout, none by its view, nothing left in flight`, { timeout: 30_000 }, async () => {
  let read = 0;
  const app = createApp({
    routes: [
      post('/upload', async (request) => (await request.bytes(), read++, new HttpResponse('stored'))),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });
  const server = await startServer(app, { requestTimeoutMs: REQUEST_MS });
  const timers: NodeJS.Timeout[] = [];
  try {
    const uploads = Array.from({ length: UPLOADS }, async () => {
      const socket = await connect(server);
      socket.on('error', () => {}); // a reset after the 408 counts as the close
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const startedAt = performance.now();
      socket.write(`POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
      let sent = 0;
      const trickle = setInterval(() => {
        if (++sent > MAX_SENDS) clearInterval(trickle);
        else socket.write('abc');
      }, 100);
      timers.push(trickle);
      await new Promise((resolve) => socket.once('close', resolve));
      clearInterval(trickle);
      const raw = Buffer.concat(chunks);
      return { after: performance.now() - startedAt, sent, status: raw.length === 0 ? 'closed' : parseResponse(raw).status };
    });
    await assertServes(server, '/ok', 'ok');
    const ended = await Promise.all(uploads);
    for (const { after, sent, status } of ended) {
      assert.ok(status === 408 || status === 'closed', `answered ${status}`);
      assert.ok(after >= REQUEST_MS, `ended ${Math.round(after)} ms after its head, before the timeout`);
      assert.ok(sent <= MAX_SENDS, 'ended by the server, not when the client stopped');
    }
    assert.equal(read, 0, 'no view read a body whole');
    await app.settle();
    assert.equal(app.requestsInFlight, 0);
    await assertServes(server, '/ok', 'ok');
  } finally {
    for (const timer of timers) clearInterval(timer);
    await server.close({ timeoutMs: 1_000 });
  }
});
