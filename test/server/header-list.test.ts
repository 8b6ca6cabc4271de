// One limit on a request's headers whatever the protocol: node:http's
// maxHeaderSize (16 KiB), which an HTTP/1.1 head past gets a 431 for (a URL past it a 414)
// (bad-input.test.ts). Over HTTP/2 the server advertises it in its SETTINGS;
// a header list past it is answered 431 while the client has not acknowledged
// them, and reset (ENHANCE_YOUR_CALM, by Node) once it has. Raw frames over
// real TLS sockets, as a hostile client sends them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { maxHeaderSize } from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, serve, type Server } from 'coda-http';
import type { Http2SecureServer } from 'node:http2';
import { memoryLogger } from '../helpers.js';
import { selfSigned } from './certificate.js';
import { frame, rawExchange, type Frame } from './h2-frames.js';

const { key, cert } = selfSigned();
const SETTINGS_ACK = frame(4, 1, 0);
const TOO_LARGE = /^the header list is larger than the server accepts: more than 16384 bytes/;

/** An HPACK integer with an `bits`-bit prefix (RFC 7541 5.1). */
function integer(value: number, bits: number, flags = 0): number[] {
  const max = (1 << bits) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  for (value -= max; value >= 128; value >>= 7) out.push((value & 127) | 128);
  return [...out, value];
}

/**
 * The frames of GET /ok on stream `id` with `count` headers of `size` bytes
 * each (literals without indexing), split into HEADERS and CONTINUATION
 * frames of 16,000 bytes.
 */
function request(id: number, count: number, size: number, { sending = false, path = '/ok' } = {}): Buffer[] {
  const frames = fieldFrames(id, [0x82, 0x87, 0x04, ...integer(path.length, 7), ...Buffer.from(path), 0x01, 9, ...Buffer.from('localhost')], count, size, !sending);
  // A client still sending its body: a DATA frame, and no END_STREAM.
  return sending ? [...frames, frame(0, 0, id, Buffer.alloc(1_000))] : frames;
}

/** A header block on stream `id`, `start` then `count` fields of `size` bytes, in HEADERS and CONTINUATION frames of 16,000 bytes; `last`: it ends the stream. */
function fieldFrames(id: number, start: number[], count: number, size: number, last: boolean): Buffer[] {
  const block = [...start];
  for (let i = 0; i < count; i++) {
    const name = Buffer.from(`x-filler-${i}`);
    block.push(0x00, ...integer(name.length, 7), ...name, ...integer(size, 7), ...Buffer.alloc(size, 'f'));
  }
  const bytes = Buffer.from(block);
  const frames: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 16_000) {
    const endHeaders = at + 16_000 >= bytes.length ? 0x4 : 0;
    frames.push(at === 0 ? frame(1, (last ? 0x1 : 0) | endHeaders, id, bytes.subarray(at, at + 16_000)) : frame(9, endHeaders, id, bytes.subarray(at, at + 16_000)));
  }
  return frames;
}

/** What the server sent on stream `id`: the body, and the RST_STREAM code if it reset the stream. */
function answer(frames: Frame[], id: number): { body: string; reset: number | undefined; ended: boolean } {
  const mine = frames.filter((f) => f.id === id);
  const rst = mine.find((f) => f.type === 3);
  return {
    body: Buffer.concat(mine.filter((f) => f.type === 0).map((f) => f.payload)).toString(),
    reset: rst?.payload.readUInt32BE(0),
    ended: mine.some((f) => (f.type === 0 || f.type === 1) && (f.flags & 0x1) !== 0),
  };
}

/** Streams 1 (the one under test) and 3 (a small GET after it) are both answered or reset. */
const bothDone = (frames: Frame[]) => [1, 3].every((id) => { const a = answer(frames, id); return a.ended || a.reset !== undefined; });

describe('the header list limit (HTTP/2 as HTTP/1.1)', () => {
  let views = 0;
  let server: Server<Http2SecureServer>;
  const { logger, lines } = memoryLogger();
  before(async () => {
    const app = createApp({
      logger,
      routes: [
        get('/ok', () => (views++, new HttpResponse('ok'))),
        get('/read', async (request) => new HttpResponse(`read ${(await request.bytes()).length} bytes`)),
      ],
    });
    server = await serve(app, { port: 0, handleSignals: false, tls: { key, cert }, http2: true });
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('the limit is node:http\'s maxHeaderSize, and the server\'s SETTINGS advertise it', async () => {
    assert.equal(maxHeaderSize, 16_384);
    const session = http2.connect(server.url, { ca: cert });
    const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
    session.close();
    assert.equal(settings.maxHeaderListSize, maxHeaderSize);
  });

  test('a header list past it, sent before the client acknowledged the SETTINGS: a 431 saying so, the app never sees it, the session serves the next stream', async () => {
    for (const [count, size] of [[20, 1_000], [80, 1_000]] as const) {
      views = 0;
      const frames = await rawExchange(server.port, cert, [...request(1, count, size), ...request(3, 0, 0)], bothDone);
      const refused = answer(frames, 1);
      assert.match(refused.body, TOO_LARGE, `${count} headers of ${size} bytes`);
      assert.deepEqual([refused.ended, refused.reset, answer(frames, 3).body, views], [true, undefined, 'ok', 1]);
    }
    // Logged with the access log, as a refusal of node:http's parser is.
    const logged = lines.filter((line) => String(line.msg).startsWith('request refused before the app: 431 the header list is larger'));
    assert.deepEqual(logged.map((line) => [line.status, line.remoteAddress]), [[431, '127.0.0.1'], [431, '127.0.0.1']]);
  });

  test('a URL past the limit, sent before the client acknowledged the SETTINGS: a 414 saying so, as over HTTP/1.1 (it was the 431 of the header list), the session serves the next stream', async () => {
    views = 0;
    const frames = await rawExchange(server.port, cert, [...request(1, 0, 0, { path: `/ok?${'q'.repeat(maxHeaderSize)}` }), ...request(3, 0, 0)], bothDone);
    const refused = answer(frames, 1);
    assert.equal(refused.body, 'the request target (the URL) is longer than the server accepts: more than 16384 bytes\n');
    assert.deepEqual([refused.ended, refused.reset, answer(frames, 3).body, views], [true, undefined, 'ok', 1]);
    assert.equal(lines.filter((line) => line.status === 414 && String(line.msg).startsWith('request refused before the app: 414 the request target')).length, 1);
  });

  test('a CONNECT (no :path) with a header list past it, sent before the client acknowledged the SETTINGS: a 431, the process lives (it was a TypeError in a listener), the session serves the next stream', async () => {
    views = 0;
    const authority = Buffer.from('localhost:443');
    const connect = fieldFrames(1, [0x02, 7, ...Buffer.from('CONNECT'), 0x01, authority.length, ...authority], 20, 1_000, false);
    const frames = await rawExchange(server.port, cert, [...connect, ...request(3, 0, 0)], bothDone);
    const refused = answer(frames, 1);
    assert.match(refused.body, TOO_LARGE);
    assert.deepEqual([refused.ended, answer(frames, 3).body, views], [true, 'ok', 1]);
  });

  test('a client still sending its body gets the 431 whole, then the stream is stopped (RST_STREAM NO_ERROR)', async () => {
    const frames = await rawExchange(server.port, cert, [...request(1, 20, 1_000, { sending: true }), ...request(3, 0, 0)], (received) => answer(received, 1).reset !== undefined && bothDone(received));
    const refused = answer(frames, 1);
    assert.match(refused.body, TOO_LARGE);
    assert.deepEqual([refused.ended, refused.reset, answer(frames, 3).body], [true, http2.constants.NGHTTP2_NO_ERROR, 'ok']);
  });

  test('a header list past it once the client acknowledged the SETTINGS: the stream reset (ENHANCE_YOUR_CALM), the session serves the next', async () => {
    views = 0;
    const frames = await rawExchange(server.port, cert, [SETTINGS_ACK, ...request(1, 20, 1_000), ...request(3, 0, 0)], bothDone);
    assert.equal(answer(frames, 1).reset, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    assert.deepEqual([answer(frames, 3).body, views], ['ok', 1]);
  });

  test('trailers past it reset the stream (ENHANCE_YOUR_CALM), acknowledged or not (before, Node took 100 KB of them), and the view reading the body sees a client gone; within it the body is read', async () => {
    for (const ack of [[], [SETTINGS_ACK]]) {
      views = 0;
      const withTrailers = (count: number): Buffer[] => [...request(1, 0, 0, { sending: true, path: '/read' }), ...fieldFrames(1, [], count, 1_000, true)];
      let frames = await rawExchange(server.port, cert, [...ack, ...withTrailers(20), ...request(3, 0, 0)], bothDone);
      assert.deepEqual([answer(frames, 1).reset, answer(frames, 3).body, views], [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'ok', 1], `acknowledged: ${ack.length > 0}`);
      frames = await rawExchange(server.port, cert, [...ack, ...withTrailers(14), ...request(3, 0, 0)], bothDone);
      assert.deepEqual([answer(frames, 1).body, answer(frames, 3).body], ['read 1000 bytes', 'ok']);
    }
  });

  test('a header list within it is served, acknowledged or not', async () => {
    for (const ack of [[], [SETTINGS_ACK]]) {
      const frames = await rawExchange(server.port, cert, [...ack, ...request(1, 14, 1_000), ...request(3, 0, 0)], bothDone);
      assert.deepEqual([answer(frames, 1).body, answer(frames, 3).body], ['ok', 'ok']);
    }
  });

  test('over HTTP/1.1 on the same port, a head past it gets the 431 of node:http', async () => {
    const socket = tls.connect({ port: server.port, host: '127.0.0.1', ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write(`GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Filler: ${'f'.repeat(20_000)}\r\n\r\n`);
    await once(socket, 'close');
    assert.match(text, /^HTTP\/1\.1 431 /);
  });
});
