// A streamed body through the in-process test client reads as a server sends
// it (src/transport/source-reader.ts): the same status, log line and outcome
// over either transport.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { after, createApp, get, NotFound, StreamingResponse, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, LEVEL, memoryLogger, unreadable } from '../helpers.js';

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a stream that fails before its first byte is answered with the error's own response, logged, as a server answers it`, async () => {
    const { logger, lines } = memoryLogger();
    const app = createApp({
      logger,
      routes: [
        get('/report', () => new StreamingResponse((async function* () { throw new NotFound('no such report'); })())),
        get('/crash', () => new StreamingResponse((async function* () { throw new Error('disk on fire'); })())),
      ],
    });
    await using client = createTestClient(app, { transport });
    // In-process, both rejected with the source's own error, where a server answers 404 and 500.
    const report = await client.get('/report');
    assert.deepEqual([report.status, await report.text()], [404, 'no such report']);
    const crash = await client.get('/crash');
    assert.equal(crash.status, 500);
    assert.ok(lines.some((l) => l.level === LEVEL.error && l.msg === "unhandled error in the streaming response's source: disk on fire"));
  });

  test(`${transport}: a stream that throws a value whose reading throws (a Proxy) before its first byte is a 500 naming what reading it threw`, async () => {
    const { logger, lines } = memoryLogger();
    const app = createApp({ logger, routes: [get('/hostile', () => new StreamingResponse((async function* () { throw unreadable(); })()))] });
    await using client = createTestClient(app, { transport });
    const response = await client.get('/hostile');
    assert.equal(response.status, 500);
    assert.ok(lines.some((l) => l.level === LEVEL.error && /^unhandled error in the streaming response's source: (get|prototype) trap$/.test(String(l.msg))));
  });

  test(`${transport}: a stream that breaks the Content-Length it declared is a 500 before its first byte, a cut after it, logged with both counts`, async () => {
    const { logger, lines } = memoryLogger();
    const app = createApp({
      logger,
      routes: [
        get('/long', () => new StreamingResponse((async function* () { yield 'abcdef'; })(), { headers: { 'content-length': '3' } })),
        get('/short', () => new StreamingResponse((async function* () { yield 'ab'; })(), { headers: { 'content-length': '5' } })),
      ],
    });
    await using client = createTestClient(app, { transport });
    // In-process, both were a 200 with the bytes as produced: a test passed that a server fails.
    assert.equal((await client.get('/long')).status, 500);
    assert.ok(lines.some((l) => l.level === LEVEL.error && /declared Content-Length 3 but its stream produced more \(at least 6 bytes\)/.test(String(l.msg))));
    await assert.rejects(client.get('/short'));
    assert.ok(lines.some((l) => l.level === LEVEL.error && /declared Content-Length 5 but its stream produced ended after 2 bytes/.test(String(l.msg))));
  });

  test(`${transport}: a stream still going when the request's timeoutMs runs out is let go, as a client that leaves: its source closed, its tasks run aborted`, async () => {
    const closed = deferred();
    const outcome = deferred<Outcome>();
    const app = createApp({
      routes: [get('/endless', () => {
        after(({ outcome: seen }) => outcome.resolve(seen));
        return new StreamingResponse((async function* () {
          try {
            for (;;) {
              yield 'x';
              await new Promise((resolve) => setImmediate(resolve));
            }
          } finally {
            closed.resolve();
          }
        })());
      })],
    });
    await using client = createTestClient(app, { transport });
    await assert.rejects(client.get('/endless', { timeoutMs: 50 }), /no complete response after 50 ms/);
    // In-process, the stream was read on, forever, after the rejection: its source never closed, its task never ran, settle() timed out.
    await closed.promise;
    const { aborted, completed, error } = await outcome.promise;
    assert.deepEqual({ aborted, completed, error }, { aborted: true, completed: false, error: undefined });
    await client.settle({ timeoutMs: 5_000 });
  });
}
