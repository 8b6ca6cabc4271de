import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientDisconnected, createApp, HttpResponse, post } from 'coda-http';
import { connect, deferred, startServer } from '../helpers.js';

test('a client that sent its whole body and left before the response: a task reading the body is told so, not that the body was incomplete', { timeout: 5_000 }, async () => {
  const viewEntered = deferred<void>();
  const clientGone = deferred<void>();
  const read = deferred<unknown>();
  const app = createApp({
    routes: [post('/upload', async () => {
      viewEntered.resolve();
      await clientGone.promise;
      return new HttpResponse('late').after(async ({ request }) => {
        read.resolve(await request.text().catch((error: unknown) => error));
      });
    })],
  });
  const server = await startServer(app);
  try {
    server.server.once('connection', (socket) => socket.once('close', () => clientGone.resolve()));
    const socket = await connect(server);
    socket.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello');
    await viewEntered.promise;
    socket.destroy();
    const error = await read.promise;
    assert.ok(error instanceof ClientDisconnected, `expected ClientDisconnected, got ${String(error)}`);
    assert.equal(error.message, 'the client disconnected before the response, and the request body was never read');
    assert.doesNotMatch(error.message, /incomplete|before its request body was complete/);
  } finally {
    await server.close();
  }
});
