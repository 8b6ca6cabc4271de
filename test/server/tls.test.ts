// serve(app, { tls }): HTTPS over real sockets with a certificate made at test
// time, and TLS options that cannot work refused at serve() with a message
// that says why.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import https from 'node:https';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, post, serve, type ServeOptions } from 'coda-http';
import { deferred, memoryLogger } from '../helpers.js';
import { selfSigned } from './certificate.js';

const { key, cert } = selfSigned();

const app = createApp({
  logger: memoryLogger().logger,
  routes: [
    get('/secure', (request) => new HttpResponse(`encrypted: ${(request.raw?.socket as TLSSocket | undefined)?.encrypted === true}`)),
    post('/echo', async (request) => new HttpResponse(await request.text())),
  ],
});

/** One HTTPS request trusting the test certificate; resolves with the status and body. */
function request(url: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: cert, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('HTTPS: GET and POST over TLS, the url says https', async () => {
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert } });
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await request(`${server.url}/secure`), { status: 200, body: 'encrypted: true' });
    assert.deepEqual(await request(`${server.url}/echo`, 'POST', 'over tls'), { status: 200, body: 'over tls' });
    await assert.rejects(fetch(`${server.url.replace('https', 'http')}/secure`), 'a cleartext client is not answered');
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
});

test('a connection that never starts its TLS handshake is closed at headersTimeoutMs (as Go bounds the handshake by its header timeout), not held for Node\'s 120 s; HTTPS and HTTP/2', { timeout: 10_000 }, async () => {
  for (const http2 of [false, true]) {
    const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2, headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      const started = performance.now();
      const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, 3_000, false).unref())]);
      socket.destroy();
      assert.ok(closed, `http2: ${http2}: still open 3 s later`);
      assert.ok(performance.now() - started < 2_000, `http2: ${http2}: closed after ${Math.round(performance.now() - started)} ms`);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  }
});

test('close() with a connection whose TLS handshake has not begun: it is closed with the silent ones, and close() resolves at once, not when the handshake times out; HTTPS and HTTP/2', { timeout: 10_000 }, async () => {
  for (const http2 of [false, true]) {
    const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2 });
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    const started = performance.now();
    const closed = await Promise.race([server.close({ timeoutMs: 1_000 }).then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, 4_000, false).unref())]);
    socket.destroy();
    assert.ok(closed, `http2: ${http2}: close() still pending 4 s later (the handshake timeout is 10 s)`);
    assert.ok(performance.now() - started < 2_000, `http2: ${http2}: closed after ${Math.round(performance.now() - started)} ms`);
  }
});

test('HTTPS: close() answers the request in flight (Connection: close), runs its task, then reports', async () => {
  const entered = deferred();
  const release = deferred();
  const slow = createApp({
    logger: memoryLogger().logger,
    routes: [get('/slow', async () => {
      entered.resolve();
      await release.promise;
      after(() => {}, { name: 'audit' });
      return new HttpResponse('drained');
    })],
  });
  const server = await serve(slow, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert } });
  const answer = new Promise<{ body: string; connection: string | undefined }>((resolve, reject) => {
    https.get(`${server.url}/slow`, { ca: cert, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ body: text, connection: res.headers.connection }));
    }).on('error', reject);
  });
  await entered.promise;
  const closing = server.close({ timeoutMs: 5_000 });
  release.resolve();
  assert.deepEqual(await answer, { body: 'drained', connection: 'close' });
  const report = await closing;
  assert.deepEqual([report.requestsInFlightAtClose, report.tasksCompleted, report.tasksAbandoned], [1, 1, []]);
});

const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

const refused: [string, ServeOptions, RegExp][] = [
  ['http2 without tls', { http2: true }, /^serve\(\): http2: true needs tls: \{ key, cert \}/],
  ['http2 not a boolean', { http2: 'yes' as unknown as boolean, tls: { key, cert } }, /^serve\(\): http2 must be true or false, got string "yes"$/],
  ['tls not an object', { tls: 'key.pem' as unknown as ServeOptions['tls'] }, /^serve\(\): tls must be an object of node:tls options \(\{ key, cert \}\), got string "key.pem"$/],
  ['tls without a certificate', { tls: { key } }, /^serve\(\): tls needs a certificate and its private key: cert missing/],
  ['tls without anything', { tls: {} }, /^serve\(\): tls needs a certificate and its private key: key and cert missing/],
  ['a key that is not PEM', { tls: { key: 'not a key', cert } }, /^serve\(\): the tls options were refused: /],
  ['a certificate that is not PEM', { tls: { key, cert: 'not a certificate' } }, /^serve\(\): the tls options were refused: /],
  ['a key that does not match the certificate', { tls: { key: otherKey, cert } }, /^serve\(\): the tls options were refused: .*key values mismatch/],
  ['the same, with http2', { tls: { key: otherKey, cert }, http2: true }, /^serve\(\): the tls options were refused: .*key values mismatch/],
  ['a misspelt option', { tsl: { key, cert } } as ServeOptions, /^serve\(\): unknown option "tsl"; did you mean "tls"\?$/],
];

for (const [what, options, message] of refused) {
  test(`serve() refuses ${what} with a TypeError saying why`, async () => {
    await assert.rejects(serve(app, { port: 0, handleSignals: false, ...options }), (error: Error) => {
      assert.ok(error instanceof TypeError, `a TypeError, got ${error.constructor.name}`);
      assert.match(error.message, message);
      return true;
    });
  });
}
