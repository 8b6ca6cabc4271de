// A stream that fails before its first byte, ported from Fastify's
// test/stream.test.js ("should respond with a stream (error)", "return a 404
// if the stream emits a 404 error"): nothing is on the wire yet, so the
// client gets the error's own response, not a connection closed on it.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, NotFound, StreamingResponse, type App, type Outcome, type Server } from 'coda-http';
import { LEVEL, memoryLogger, startServer, unreadable } from '../helpers.js';
import { pipelined, request, responses } from './wire.js';

const { logger, lines } = memoryLogger();

describe('a streamed source that fails before its first byte', { timeout: 10_000 }, () => {
  const outcomes: Record<string, Outcome> = {};
  let app: App;
  let server: Server;
  before(async () => {
    app = createApp({
      logger,
      routes: [
        get('/missing-file', () => new StreamingResponse(createReadStream(new URL('./no-such-file.txt', import.meta.url)))),
        get('/not-found', () => new StreamingResponse((async function* () {
          yield* [];
          throw new NotFound('no such feed');
        })())),
        get('/empty-declared', () => new StreamingResponse((async function* () {})(), { headers: { 'content-length': '10' } })),
        get('/fails-later', () => new StreamingResponse((async function* () {
          yield 'abc';
          throw new Error('later');
        })())),
        get('/unreadable', () => new StreamingResponse((async function* () {
          yield* [];
          throw unreadable();
        })())),
        get('/next', () => new HttpResponse('next one')),
      ],
    });
    app.signals.requestFinished.connect(({ request, outcome }) => { outcomes[request.path] = outcome; });
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test("the error's own response goes out (500, or an HttpError's status), logged, and the connection stays usable", async () => {
    for (const [path, status] of [['/missing-file', 500], ['/not-found', 404], ['/empty-declared', 500]] as const) {
      const raw = await pipelined(server, [request(path), request('/next', { close: true })]);
      const { list, rest } = responses(raw);
      assert.equal(list.length, 2, `${path}: two responses expected in ${JSON.stringify(raw.toString('latin1'))}`);
      assert.equal(rest.length, 0);
      assert.equal(list[0]!.status, status, path);
      assert.equal(list[0]!.headers['transfer-encoding'], undefined, path);
      assert.equal(list[1]!.body.toString(), 'next one');
    }
    assert.ok(lines.some((l) => l.level === LEVEL.error && l.path === '/missing-file' && /ENOENT/.test(String(l.msg))));
    assert.ok(lines.some((l) => l.level === LEVEL.error && l.path === '/empty-declared' && /declared Content-Length 10 but its stream produced ended after 0 bytes/.test(String(l.msg))));
    await app.settle();
    assert.equal(outcomes['/missing-file']?.status, 500);
    assert.equal(outcomes['/missing-file']?.completed, true);
    assert.match(String(outcomes['/missing-file']?.error), /ENOENT/);
    assert.equal(outcomes['/not-found']?.status, 404);
  });

  test('a source that throws a value whose reading throws (a Proxy) before its first byte gets a 500 naming what reading it threw, and the process lives', async () => {
    const raw = await pipelined(server, [request('/unreadable'), request('/next', { close: true })]);
    const { list } = responses(raw);
    assert.equal(list.length, 2, `two responses expected in ${JSON.stringify(raw.toString('latin1'))}`);
    assert.equal(list[0]!.status, 500);
    assert.equal(list[1]!.body.toString(), 'next one');
    assert.ok(lines.some((l) => l.level === LEVEL.error && l.path === '/unreadable' && /source: (get|prototype) trap$/.test(String(l.msg))));
    await app.settle();
    assert.equal(outcomes['/unreadable']?.status, 500);
  });

  test('a source that fails once bytes are out is still cut: the connection closes, never a second response', async () => {
    const raw = await pipelined(server, [request('/fails-later'), request('/next', { close: true })]);
    const text = raw.toString('latin1');
    assert.equal(text.indexOf('HTTP/1.1', 1), -1, `the next request was answered on the broken connection: ${JSON.stringify(text)}`);
    assert.ok(!text.endsWith('0\r\n\r\n'), 'the response must not look complete');
    await app.settle();
    assert.equal(outcomes['/fails-later']?.completed, false);
  });
});
