// A Hono view that returns a fetched upstream's Response: coda-http/hono
// sends it as @hono/node-server sends it without Coda (hono.md).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { proxy } from 'hono/proxy';
import { coda } from 'coda-http/hono';
import { memoryLogger } from '../helpers.js';

const TEXT = 'hello from upstream '.repeat(20);

async function listen(server: http.Server): Promise<number> {
  if (!server.listening) await once(server.listen(0, '127.0.0.1'), 'listening');
  after(() => { server.close(); server.closeAllConnections(); });
  return (server.address() as AddressInfo).port;
}

/** A response's head and raw bytes, read as sent: no decoding, a connection of its own, the body up to what Content-Length says. */
async function raw(port: number, path: string): Promise<{ headers: http.IncomingHttpHeaders; body: string }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, path, agent: false }, resolve).on('error', reject));
  // Bytes beyond a wrong Content-Length are a parse error on the socket once the response is read.
  res.socket.on('error', () => {});
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  res.socket.destroy();
  return { headers: res.headers, body: Buffer.concat(chunks).toString() };
}

test("a view returning fetch() of a gzip upstream goes out as Hono alone sends it (Content-Encoding over the decoded body); hono/proxy's proxy() goes out right, with or without Coda", async () => {
  const upstream = http.createServer((_req, res) => {
    const body = gzipSync(TEXT);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': body.length, 'keep-alive': 'timeout=5' });
    res.end(body);
  });
  const url = `http://127.0.0.1:${await listen(upstream)}/`;
  const sent: Record<string, Record<string, unknown>> = {};
  for (const withCoda of [false, true]) {
    const app = new Hono();
    if (withCoda) app.use(coda({ logger: memoryLogger().logger }));
    app.get('/fetched', () => fetch(url));
    app.get('/proxied', () => proxy(url));
    const port = await listen(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server);
    for (const path of ['/fetched', '/proxied']) {
      const { headers, body } = await raw(port, path);
      sent[`${path} ${withCoda ? 'with' : 'without'} Coda`] = { encoding: headers['content-encoding'], length: headers['content-length'], body: body.length };
    }
  }
  const broken = { encoding: 'gzip', length: String(gzipSync(TEXT).length), body: gzipSync(TEXT).length };
  const right = { encoding: undefined, length: undefined, body: TEXT.length };
  assert.deepEqual(sent, {
    '/fetched without Coda': broken,
    '/proxied without Coda': right,
    '/fetched with Coda': broken,
    '/proxied with Coda': right,
  });
});
