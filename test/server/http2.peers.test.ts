// Hostile HTTP/2 frames, ported from Node's test/parallel/test-http2-*
// (each test names the one it follows), sent by hand over TLS to
// serve(app, { tls, http2: true }). A connection-level fault ends that session
// with a GOAWAY naming the error; a stream-level fault resets that stream
// only, and the session goes on serving. The server survives every one: a
// fresh session is served, nothing is logged as a server error, and every
// view that ran had its after() task run.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, { type Http2SecureServer } from 'node:http2';
import { after, afterEach, before, describe, test } from 'node:test';
import { after as afterResponse, createApp, get, HttpResponse, post, serve, type Server } from 'coda-http';
import { LEVEL, memoryLogger } from '../helpers.js';
import { selfSigned } from './certificate.js';
import { floodUnread, frame, rawExchange, rawSession, type Frame } from './h2-frames.js';

const { key, cert } = selfSigned();

const DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9;
const END_STREAM = 0x1, END_HEADERS = 0x4;
const PROTOCOL_ERROR = 1, INTERNAL_ERROR = 2, FLOW_CONTROL_ERROR = 3, FRAME_SIZE_ERROR = 6, COMPRESSION_ERROR = 9, ENHANCE_YOUR_CALM = 11;

/**
 * An HPACK literal header field with a new name (RFC 7541 6.2.2), for values under 127 bytes or any length: without
 * indexing, or with incremental indexing (6.2.1), which puts it in the dynamic table at index 62.
 */
function literal(name: string, value: string, indexed = false): Buffer {
  const length = value.length < 127 ? [value.length] : [0x7f, ...prefixRest(value.length - 127)];
  return Buffer.from([indexed ? 0x40 : 0x00, name.length, ...Buffer.from(name), ...length, ...Buffer.from(value, 'latin1')]);
}

function prefixRest(n: number): number[] {
  const bytes: number[] = [];
  for (; n >= 128; n >>>= 7) bytes.push((n & 0x7f) | 0x80);
  return [...bytes, n];
}

/** A request's header block: :method from the static table (GET 0x82, POST 0x83), :scheme https, then :path and :authority. */
function request(method: 'GET' | 'POST', path: string, ...more: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([method === 'GET' ? 0x82 : 0x83, 0x87]), literal(':path', path), literal(':authority', 'localhost'), ...more]);
}

const u32 = (n: number): number[] => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** The GOAWAY's error code, or undefined when the server sent none. */
function goaway(frames: Frame[]): number | undefined {
  return frames.find((f) => f.type === GOAWAY)?.payload.readUInt32BE(4);
}

/** The RST_STREAM error code for stream `id`, or undefined. */
function reset(frames: Frame[], id: number): number | undefined {
  return frames.find((f) => f.type === RST_STREAM && f.id === id)?.payload.readUInt32BE(0);
}

/** Whether the server sent response HEADERS on stream `id`. */
function answered(frames: Frame[], id: number): boolean {
  return frames.some((f) => f.type === HEADERS && f.id === id);
}

describe('hostile HTTP/2 frames, as Node tests them', { timeout: 20_000 }, () => {
  const { logger, lines } = memoryLogger();
  const counts = { views: 0, ran: 0 };
  const counted = (): void => {
    counts.views++;
    afterResponse(() => void counts.ran++);
  };
  const app = createApp({
    logger,
    bodyLimit: 1_000,
    routes: [
      get('/ok', () => {
        counted();
        return new HttpResponse('ok');
      }),
      post('/echo', async (req) => {
        counted();
        return new HttpResponse(await req.text());
      }),
    ],
  });
  let server: Server<Http2SecureServer>;
  before(async () => {
    server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2: true });
  });
  afterEach(async () => {
    const session = http2.connect(server.url, { ca: cert });
    session.on('error', () => {});
    const stream = session.request({ ':path': '/ok' });
    let body = '';
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    await once(stream, 'end');
    session.close();
    assert.equal(body, 'ok', 'a fresh session is served');
    await app.settle();
    assert.equal(counts.ran, counts.views, 'every view that ran had its after() task run');
    assert.equal(app.requestsInFlight, 0);
    assert.deepEqual(lines.filter((line) => line.level >= LEVEL.error), [], 'nothing is logged as a server error');
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  /** Sends `frames` on a raw session and asserts the session ended with a GOAWAY carrying `code`. */
  async function assertGoaway(frames: Buffer[], code: number): Promise<Frame[]> {
    const got = await rawSession(server.port, cert, frames);
    assert.equal(goaway(got), code, `GOAWAY code, frames ${JSON.stringify(got.map((f) => f.type))}`);
    return got;
  }

  test('test-http2-window-update overflow and zero increment: FLOW_CONTROL_ERROR and PROTOCOL_ERROR for the session', async () => {
    await assertGoaway([frame(WINDOW_UPDATE, 0, 0, u32(0x7fffffff))], FLOW_CONTROL_ERROR);
    await assertGoaway([frame(WINDOW_UPDATE, 0, 0, u32(0))], PROTOCOL_ERROR);
  });

  test("test-http2-window-update overflow on an open stream: FLOW_CONTROL_ERROR, for the stream or the session (RFC 9113 6.9.1 lets the server choose; Node 22's ends the stream, 24's the session)", async () => {
    // The stream stays open (its body never ends), so the server cannot have finished it before the frame arrives.
    const got = await rawSession(server.port, cert, [frame(HEADERS, END_HEADERS, 1, request('POST', '/echo')), frame(WINDOW_UPDATE, 0, 1, u32(0x7fffffff))]);
    const codes = { reset: reset(got, 1), goaway: goaway(got) };
    assert.ok(codes.reset === FLOW_CONTROL_ERROR || codes.goaway === FLOW_CONTROL_ERROR, `${JSON.stringify(codes)}, frames ${JSON.stringify(got.map((f) => f.type))}`);
  });

  test('test-http2-too-many-settings and invalid settings: a SETTINGS frame past the frame size, ENABLE_PUSH 5, a window past 2^31-1', async () => {
    await assertGoaway([frame(SETTINGS, 0, 0, Array.from({ length: 3_000 }, () => [0, 3, 0, 0, 0, 100]).flat())], FRAME_SIZE_ERROR);
    await assertGoaway([frame(SETTINGS, 0, 0, [0, 2, ...u32(5)])], PROTOCOL_ERROR);
    await assertGoaway([frame(SETTINGS, 0, 0, [0, 4, ...u32(0x80000000)])], FLOW_CONTROL_ERROR);
  });

  test('test-http2-priority flood: 20,000 PRIORITY frames end the session with ENHANCE_YOUR_CALM', async () => {
    await assertGoaway(Array.from({ length: 20_000 }, (_, i) => frame(PRIORITY, 0, 2 * i + 1, [0, 0, 0, 0, 16])), ENHANCE_YOUR_CALM);
  });

  test('test-http2-options-max-headers-block-length and CONTINUATION floods (CVE-2024-27983): oversized header blocks end the session', async () => {
    // One HEADERS frame past the 16 KiB frame size.
    await assertGoaway([frame(HEADERS, END_STREAM | END_HEADERS, 1, request('GET', '/ok', literal('x-big', 'a'.repeat(70_000))))], FRAME_SIZE_ERROR);
    // A header block that never ends: CONTINUATION after CONTINUATION.
    const flood = Array.from({ length: 5_000 }, () => frame(CONTINUATION, 0, 1, literal('x', 'y')));
    await assertGoaway([frame(HEADERS, END_STREAM, 1, request('GET', '/ok')), ...flood], INTERNAL_ERROR);
  });

  test('test-http2-misbehaving-* frames: DATA on stream 0 or an idle stream, a bad HPACK block, HEADERS on an even stream, bad padding', async () => {
    await assertGoaway([frame(DATA, 0, 0, Buffer.from('x'))], PROTOCOL_ERROR);
    await assertGoaway([frame(DATA, END_STREAM, 7, Buffer.from('x'))], PROTOCOL_ERROR);
    await assertGoaway([frame(HEADERS, END_STREAM | END_HEADERS, 1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])], COMPRESSION_ERROR);
    await assertGoaway([frame(HEADERS, END_STREAM | END_HEADERS, 2, request('GET', '/ok'))], PROTOCOL_ERROR);
    await assertGoaway([frame(HEADERS, END_STREAM | END_HEADERS | 0x8, 1, [200, ...request('GET', '/ok')])], PROTOCOL_ERROR);
    await assertGoaway([frame(RST_STREAM, 0, 0, u32(8))], PROTOCOL_ERROR);
  });

  test('test-http2-invalidheaderfield and test-http2-malformed-*: a malformed request resets its stream only, and the next stream is served', async () => {
    const malformed: [string, Buffer[]][] = [
      ['an upper-case header name', [frame(HEADERS, END_STREAM | END_HEADERS, 1, request('GET', '/ok', literal('X-Up', 'v')))]],
      ['a connection-specific header', [frame(HEADERS, END_STREAM | END_HEADERS, 1, request('GET', '/ok', literal('connection', 'close')))]],
      ['no :path', [frame(HEADERS, END_STREAM | END_HEADERS, 1, [0x82, 0x87, ...literal(':authority', 'localhost')])]],
      ['a :path without a leading slash', [frame(HEADERS, END_STREAM | END_HEADERS, 1, request('GET', 'ok'))]],
      ['a pseudo-header after a regular one', [frame(HEADERS, END_STREAM | END_HEADERS, 1, [0x82, 0x87, ...literal('x-a', 'b'), ...literal(':path', '/ok')])]],
      ['DATA shorter than its content-length', [frame(HEADERS, END_HEADERS, 1, request('POST', '/echo', literal('content-length', '10'))), frame(DATA, END_STREAM, 1, Buffer.from('hi'))]],
      ['trailers holding a pseudo-header', [frame(HEADERS, END_HEADERS, 1, request('POST', '/echo')), frame(DATA, 0, 1, Buffer.from('hi')), frame(HEADERS, END_STREAM | END_HEADERS, 1, literal(':path', '/ok'))]],
    ];
    for (const [what, frames] of malformed) {
      const got = await rawSession(server.port, cert, [...frames, frame(HEADERS, END_STREAM | END_HEADERS, 3, request('GET', '/ok'))]);
      assert.equal(reset(got, 1), PROTOCOL_ERROR, `${what}: stream 1 is reset`);
      assert.ok(answered(got, 3), `${what}: stream 3, on the same session, is answered`);
      assert.equal(goaway(got) ?? 0, 0, `${what}: the session is not ended for an error`);
    }
  });

  /** The body the server sent on stream `id`. */
  const body = (frames: Frame[], id: number): string => Buffer.concat(frames.filter((f) => f.type === DATA && f.id === id).map((f) => f.payload)).toString();

  test('a :path with invalid percent-encoding is a 400 from the app, like over HTTP/1.1', async () => {
    const got = await rawSession(server.port, cert, [frame(HEADERS, END_STREAM | END_HEADERS, 1, request('GET', '/ok%zz'))]);
    assert.equal(body(got, 1), 'invalid percent-encoding in path "/ok%zz"');
  });

  test('two Content-Type, Authorization or Proxy-Authorization fields are a 400 naming the field (node:http2 kept the first, a proxy may act on the last), each on its own stream; two Host fields nghttp2 resets (PROTOCOL_ERROR); one of each is served', async () => {
    const views = counts.views;
    const twice = [['content-type', 'Content-Type', 'text/plain'], ['authorization', 'Authorization', 'Basic eDp5'], ['proxy-authorization', 'Proxy-Authorization', 'Basic eDp5']] as const;
    const streams = twice.map(([field, , value], i) => frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * i, request('POST', '/echo', literal(field, value), literal(field, 'other'))));
    const hosts = frame(HEADERS, END_STREAM | END_HEADERS, 7, request('POST', '/echo', literal('host', 'localhost'), literal('host', 'other')));
    const once = request('POST', '/echo', ...twice.map(([field, , value]) => literal(field, value)));
    const got = await rawSession(server.port, cert, [...streams, hosts, frame(HEADERS, END_HEADERS, 9, once), frame(DATA, END_STREAM, 9, Buffer.from('abc'))]);
    twice.forEach(([, named], i) => assert.equal(body(got, 1 + 2 * i), `the request has more than one ${named} header`));
    assert.equal(reset(got, 7), PROTOCOL_ERROR);
    assert.equal(body(got, 9), 'abc');
    assert.equal(counts.views, views + 1, 'only the last reached a view');
  });

  test('an :authority, or a Host sent without one, that is no host: nghttp2 resets the stream for a character outside an authority (a space, "@", "/", empty); what it lets through is the 400 an HTTP/1.1 Host gets, before any view', async () => {
    const views = counts.views;
    const block = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x82, 0x87]), literal(':path', '/ok'), literal(name, value)]);
    for (const name of [':authority', 'host']) {
      for (const value of ['exa mple.com', 'a@b', 'a.com/x', '']) {
        const got = await rawSession(server.port, cert, [frame(HEADERS, END_STREAM | END_HEADERS, 1, block(name, value))]);
        assert.equal(reset(got, 1), PROTOCOL_ERROR, `${name}: ${JSON.stringify(value)}`);
      }
      const problems = {
        'a.com:99999': 'the Host "a.com:99999" is not a valid host name with an optional port: 99999 is past the last port, 65535',
        'a.com:1:2': 'the Host "a.com:1:2" is not a valid host name with an optional port (RFC 9112 3.2)',
        '[::1': 'the Host "[::1" is not a valid host name with an optional port (RFC 9112 3.2)',
        'a%zz': 'the Host "a%zz" is not a valid host name with an optional port (RFC 9112 3.2)',
      };
      for (const [value, message] of Object.entries(problems)) {
        const got = await rawSession(server.port, cert, [frame(HEADERS, END_STREAM | END_HEADERS, 1, block(name, value))]);
        assert.equal(got.find((f) => f.type === HEADERS && f.id === 1)?.payload[0], 0x8c, `${name}: ${value}: :status 400 (HPACK static index 12)`);
        assert.equal(body(got, 1), message, `${name}: ${value}`);
      }
    }
    assert.equal(counts.views, views, 'no view ran');
  });

  test('test-http2-compat-expect-handling: an Expect other than 100-continue is a 417 naming it, like over HTTP/1.1', async () => {
    const views = counts.views;
    const got = await rawSession(server.port, cert, [frame(HEADERS, END_STREAM | END_HEADERS, 1, request('GET', '/ok', literal('expect', '200-ok')))]);
    assert.equal(body(got, 1), 'Expect: 200-ok is not supported: the only expectation this server meets is 100-continue\n');
    assert.equal(counts.views, views, 'no view ran');
  });

  test('PING and SETTINGS floods from a client that reads none of the acknowledgements (CVE-2019-9512, CVE-2019-9515): nghttp2 ends the session once too many are owed, long before the flood ends', async () => {
    for (const [what, flood] of [['PING', frame(PING, 0, 0, Buffer.alloc(8))], ['SETTINGS', frame(SETTINGS, 0, 0)]] as const) {
      const written = await floodUnread(server.port, cert, Array.from({ length: 200_000 }, () => flood));
      assert.ok(written < 200_000, `${what}: the server closed the connection after ${written} frames`);
    }
  });

  test('zero-length DATA frames without END_STREAM (CVE-2019-9518): past Node\'s 1,000 a session (maxSessionInvalidFrames) the session is ended, the stream never answered and the task of its view run; a few are read through', async () => {
    const views = counts.views;
    const flood = Array.from({ length: 5_000 }, () => frame(DATA, 0, 1));
    // The client never ends its body: only the server closes this connection.
    const got = await rawExchange(server.port, cert, [frame(HEADERS, END_HEADERS, 1, request('POST', '/echo')), ...flood], () => false);
    assert.equal(answered(got, 1), false, 'the stream is not answered');
    assert.equal(counts.views, views + 1, 'its view ran, and (afterEach) its task');
    const few = [frame(HEADERS, END_HEADERS, 1, request('POST', '/echo')), ...flood.slice(0, 100), frame(DATA, END_STREAM, 1, Buffer.from('abc'))];
    assert.equal(body(await rawSession(server.port, cert, few), 1), 'abc');
  });

  test('an HPACK bomb (a 4,000-byte field put in the dynamic table, then named 12,000 times by its index in one block: 48 MB of header list from 12 KB) resets its stream before any view sees it; the session serves its next stream', async () => {
    const views = counts.views;
    const bomb = Buffer.concat([request('GET', '/ok', literal('x-bomb', 'b'.repeat(4_000), true)), Buffer.alloc(12_000, 0x80 | 62)]);
    const next = frame(HEADERS, END_STREAM | END_HEADERS, 3, request('GET', '/ok'));
    const got = await rawExchange(server.port, cert, [frame(HEADERS, END_STREAM | END_HEADERS, 1, bomb), next], (frames) => frames.some((f) => f.type === DATA && f.id === 3 && (f.flags & END_STREAM) !== 0));
    assert.notEqual(reset(got, 1), undefined, `stream 1 is reset, frames ${JSON.stringify(got.map((f) => [f.type, f.id]))}`);
    assert.equal(answered(got, 1), false);
    assert.equal(body(got, 3), 'ok');
    assert.equal(counts.views, views + 1, 'only the next stream reached a view');
  });
});
