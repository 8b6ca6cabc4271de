// A chunked body's framing is bounded: llhttp reads a chunk-size line of
// leading zeros of any length, which Coda refuses past CHUNK_FRAMING_LIMIT
// bytes without a byte of the body. Over a real socket.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { after as afterResponse, ClientDisconnected, createApp, HttpResponse, post, type Outcome, type Server } from 'coda-http';
import { CHUNK_FRAMING_LIMIT, CHUNK_FRAMING_TOO_LONG } from '../../src/server/chunk-framing.js';
import type { Socket } from 'node:net';
import { connect, deferred, memoryLogger, parseResponse, rawRequest, startServer } from '../helpers.js';

const HEAD = 'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n';

describe('chunked framing', () => {
  const outcomes: Outcome[] = [];
  let failure = deferred<unknown>();
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [post('/upload', async (request) => {
      afterResponse(({ outcome }) => void outcomes.push(outcome));
      try {
        return new HttpResponse(`got ${(await request.text()).length}`);
      } catch (error) {
        failure.resolve(error);
        throw error;
      }
    })],
  });
  let server: Server;
  after(() => server?.close({ timeoutMs: 1_000 }));

  test('a chunk-size line of leading zeros past the limit is a 400 naming it, the connection closed, as soon as the limit is passed; the view reading the body sees its client gone, its task runs', async () => {
    server ??= await startServer(app, { host: '127.0.0.1' });
    failure = deferred<unknown>();
    outcomes.length = 0;
    const socket = await connect(server);
    socket.on('error', () => {});
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(HEAD);
    // Zeros, 16 KiB at a time, until the server answers: before, it read them all (100 MB in tests) and then served the body.
    const zeros = Buffer.alloc(16 * 1024, '0');
    let sent = 0;
    for (; sent < 64 * CHUNK_FRAMING_LIMIT && received.length === 0 && !socket.destroyed; sent += zeros.length) {
      socket.write(zeros);
      // A turn of the event loop after each write (no timer), so that the server reads it and its answer is heard.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!socket.destroyed) socket.write('5\r\nhello\r\n0\r\n\r\n');
    await closed;
    const response = parseResponse(Buffer.concat(received));
    assert.equal(response.status, 400);
    assert.equal(response.body.toString(), `the request is malformed: ${CHUNK_FRAMING_TOO_LONG}\n`);
    assert.equal(response.headers.connection, 'close');
    assert.ok(sent <= 8 * CHUNK_FRAMING_LIMIT, `refused soon after the limit, not at the body's end (${sent} bytes of zeros sent)`);
    assert.ok(await failure.promise instanceof ClientDisconnected, 'the view reading the body sees its client gone');
    await app.settle();
    assert.equal(outcomes.length, 1, 'the task ran');
    assert.equal(outcomes[0]!.completed, false);
    assert.equal(app.requestsInFlight, 0);
  });

  test('framing under the limit is read as before: leading zeros, chunk extensions of 16 KiB, many one-byte chunks, trailers', async () => {
    server ??= await startServer(app, { host: '127.0.0.1' });
    const extension = `;e=${'a'.repeat(16 * 1024 - 10)}`;
    const body = `${'0'.repeat(4_000)}5\r\nhello\r\n`
      + `1${extension}\r\nx\r\n`.repeat(3)
      + '1\r\ny\r\n'.repeat(2_000)
      + `0\r\nX-Trailer: ${'t'.repeat(8_000)}\r\n\r\n`;
    const response = await rawRequest(server, HEAD.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') + body);
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'got 2008');
  });

  test('pipelined chunked requests on one connection: each watched in turn, the first answered before the one past the limit gets its 400', async () => {
    server ??= await startServer(app, { host: '127.0.0.1' });
    const good = `${HEAD}3\r\nabc\r\n0\r\n\r\n`;
    const padded = `${HEAD.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}${'0'.repeat(4 * CHUNK_FRAMING_LIMIT)}3\r\nabc\r\n0\r\n\r\n`;
    const response = await rawRequest(server, good + good + padded);
    const text = response.raw.toString();
    assert.deepEqual(text.match(/got \d+|the request is malformed: [^\n]*/g), ['got 3', 'got 3', `the request is malformed: ${CHUNK_FRAMING_TOO_LONG}`]);
  });

  test("requests whose head comes in the read that ends the body before them, 300 on one connection: one watch a parser, never a chain of them (it grew by one a request and overflowed the stack after some 8,000, the process down)", async () => {
    server ??= await startServer(app, { host: '127.0.0.1' });
    let deepest = 0;
    // Under Coda's watches, before any: how many of them each read goes through on its way to Node's callback.
    const underWatches = (socket: Socket): void => {
      const parser = (socket as unknown as { parser: Record<number, (this: unknown, result: unknown) => unknown> & { constructor: { kOnExecute: number } } }).parser;
      const key = parser.constructor.kOnExecute;
      const nodes = parser[key]!;
      parser[key] = function (this: unknown, result: unknown) {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = Infinity;
        deepest = Math.max(deepest, (new Error().stack ?? '').split('\n').filter((frame) => frame.includes('src/server/chunk-framing')).length);
        Error.stackTraceLimit = limit;
        return nodes.call(this, result);
      };
    };
    server.server.once('connection', underWatches);
    const socket = await connect(server);
    socket.on('error', () => {});
    let answered = 0;
    let wake = (): void => {};
    socket.on('data', (data: Buffer) => {
      answered += data.toString('latin1').match(/HTTP\/1\.1 200/g)?.length ?? 0;
      wake();
    });
    socket.write(`${HEAD}3\r\nabc\r\n`);
    for (let sent = 1; sent <= 300; sent++) {
      socket.write(`0\r\n\r\n${HEAD}3\r\nabc\r\n`);
      while (answered < sent) await new Promise<void>((resolve) => (wake = resolve));
    }
    socket.end('0\r\n\r\n');
    while (answered < 301) await new Promise<void>((resolve) => (wake = resolve));
    assert.ok(deepest <= 1, `a read goes through at most one watch, went through ${deepest}`);
  });
});
