// A request body sent in a great many tiny chunks, over a real socket: what
// the reader holds while the body arrives stays about the body's size. In a
// file of its own, so that the process's peak memory is this test's alone.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createApp, HttpResponse, post } from 'coda-http';
import { rawRequest, startServer } from '../helpers.js';

test('a 1 MB body sent as a million 1-byte chunks (HTTP/1.1 chunked; HTTP/2 DATA frames alike) is read holding about its size, not a million chunk objects (some 275 MB)', async () => {
  const app = createApp({ bodyLimit: 2_000_000, routes: [post('/upload', async (request) => new HttpResponse(String((await request.bytes()).length)))] });
  const server = await startServer(app, { host: '127.0.0.1' });
  after(() => server.close());
  const count = 1_000_000;
  const head = 'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
  const body = Buffer.from(`${head}${'1\r\nx\r\n'.repeat(count)}0\r\n\r\n`);
  const before = process.resourceUsage().maxRSS;
  const response = await rawRequest(server, body);
  const grown = (process.resourceUsage().maxRSS - before) / 1024;
  assert.equal(response.status, 200);
  assert.equal(response.body.toString(), String(count));
  // Peak RSS, so the collector's slack counts too: some 175 MB now, some 770 MB when each chunk was kept.
  assert.ok(grown < 400, `the process's peak memory grew by ${Math.round(grown)} MB while it read a body of 1 MB`);
});
