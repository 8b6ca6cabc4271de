// client.stream(): a response read as it arrives, on both transports. Ported
// from Starlette's streaming cases (tests/test_responses.py: its TestClient
// reads a body whole, and tests/test_testclient.py has none, so the peer is
// httpx's `client.stream()` over it): test_streaming_response,
// test_streaming_response_stops_if_receiving_http_disconnect and
// test_streaming_response_on_client_disconnects, read through the test client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { after, createApp, get, HttpResponse, StreamingResponse, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, spawnFixture } from '../helpers.js';

/**
 * An app whose `/events` streams what `body` yields, and what the test
 * awaits of it: its source's end, its signal's abort, its outcome. `gone`
 * rejects when the client goes, as an app's wait for its next event
 * (`events.once(emitter, name, { signal })`) ends then.
 */
function streamingApp(body: (gone: Promise<never>) => AsyncGenerator<string>, headers: Record<string, string> = {}) {
  const closed = deferred();
  const aborted = deferred();
  const outcome = deferred<Outcome>();
  const app = createApp({
    routes: [get('/events', () => {
      after(({ outcome: seen }) => outcome.resolve(seen));
      return new StreamingResponse(async function* (signal) {
        const gone = new Promise<never>((_, reject) => signal.addEventListener('abort', () => {
          aborted.resolve();
          reject(signal.reason);
        }, { once: true }));
        gone.catch(() => {});
        try {
          yield* body(gone);
        } finally {
          closed.resolve();
        }
      }, { headers });
    })],
  });
  return { app, closed, aborted, outcome };
}

/** A server-sent events app that sends an event each time the test opens `gates[i]`. */
function eventsApp(events: number) {
  const gates = Array.from({ length: events }, () => deferred());
  return {
    gates,
    ...streamingApp(async function* (gone) {
      for (const [i, gate] of gates.entries()) {
        await Promise.race([gate.promise, gone]);
        yield `id: ${i}\ndata: event ${i}\n\n`;
      }
    }, { 'content-type': 'text/event-stream' }),
  };
}

/** Every chunk of `res`, to its end. */
async function readAll(res: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of res) chunks.push(chunk);
  return chunks;
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: Starlette test_streaming_response, as server-sent events: each event is read before the view sends the next`, async () => {
    const { app, gates, outcome } = eventsApp(3);
    await using client = createTestClient(app, { transport });
    gates[0]!.resolve();
    // The head comes with the first event: the others are not sent yet, so a client that read the body whole would wait forever.
    await using res = await client.stream('GET', '/events');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const read: string[] = [];
    for await (const line of res.lines()) {
      read.push(line);
      // An event ends at its blank line: the next is sent only now.
      if (line === '') gates[read.filter((l) => l === '').length]?.resolve();
    }
    assert.deepEqual(read, ['id: 0', 'data: event 0', '', 'id: 1', 'data: event 1', '', 'id: 2', 'data: event 2', '']);
    const { completed, aborted } = await outcome.promise;
    assert.deepEqual({ completed, aborted }, { completed: true, aborted: false });
  });

  test(`${transport}: Starlette test_streaming_response_stops_if_receiving_http_disconnect: a test that stops reading early is a client gone: the source closed, its signal aborted, the outcome aborted`, async () => {
    const { app, closed, aborted, outcome } = streamingApp(async function* () {
      for (;;) yield 'chunk ';
    });
    await using client = createTestClient(app, { transport });
    const res = await client.stream('GET', '/events');
    let streamed = 0;
    for await (const chunk of res) {
      streamed += chunk.byteLength;
      if (streamed >= 16) break;
    }
    await Promise.all([closed.promise, aborted.promise]);
    const seen = await outcome.promise;
    assert.deepEqual({ completed: seen.completed, aborted: seen.aborted, headersSent: seen.headersSent }, { completed: false, aborted: true, headersSent: true });
    await client.settle();
  });

  test(`${transport}: Starlette test_streaming_response_on_client_disconnects: res.close() while a read waits rejects it and lets go of the source`, async () => {
    const { app, gates, closed, aborted, outcome } = eventsApp(2);
    await using client = createTestClient(app, { transport });
    gates[0]!.resolve();
    const res = await client.stream('GET', '/events');
    const chunks = res[Symbol.asyncIterator]();
    assert.match(new TextDecoder().decode((await chunks.next()).value), /^id: 0\n/);
    // The second event's gate stays shut: this read waits until the close.
    const waiting = chunks.next();
    await res.close();
    await assert.rejects(waiting, /the test client closed the response \(status 200\) before its end/);
    await Promise.all([closed.promise, aborted.promise]);
    assert.equal((await outcome.promise).aborted, true);
  });

  test(`${transport}: client.close() with a stream open closes it: the source let go of, a read after it rejected`, async () => {
    const { app, gates, closed, outcome } = eventsApp(2);
    const client = createTestClient(app, { transport });
    gates[0]!.resolve();
    const res = await client.stream('GET', '/events');
    await client.close();
    await closed.promise;
    assert.equal((await outcome.promise).aborted, true);
    await assert.rejects(res.body.getReader().read(), /the test client closed the response/);
  });

  test(`${transport}: the request's timeoutMs bounds the wait for the head, not a body still read`, async () => {
    const { app, gates, outcome } = eventsApp(2);
    await using client = createTestClient(app, { transport });
    gates[0]!.resolve();
    await using res = await client.stream('GET', '/events', { timeoutMs: 50 });
    const chunks = res[Symbol.asyncIterator]();
    await chunks.next();
    // Not a wait for work: the request's 50 ms pass while the test holds the stream.
    await delay(150);
    gates[1]!.resolve();
    assert.match(new TextDecoder().decode((await chunks.next()).value), /data: event 1/);
    assert.equal((await chunks.next()).done, true);
    assert.equal((await outcome.promise).completed, true);
    // A head that does not come within it is a rejection naming the request.
    const { app: silent } = eventsApp(1);
    await using other = createTestClient(silent, { transport });
    await assert.rejects(other.stream('GET', '/events', { timeoutMs: 50 }), /client GET \/events: no response head after 50 ms/);
  });

  test(`${transport}: lines() splits on CRLF, LF and CR alone, a CRLF split between chunks too, in the charset the Content-Type names`, async () => {
    const app = createApp({
      routes: [
        get('/lines', () => new StreamingResponse((async function* () {
          yield 'a\r';
          yield '\nb\r\n';
          yield 'c\rd\n\ne';
        })())),
        get('/latin1', () => new StreamingResponse((async function* () {
          yield Buffer.from('caf\xe9\n', 'latin1');
        })(), { headers: { 'content-type': 'text/plain; charset=iso-8859-1' } })),
      ],
    });
    await using client = createTestClient(app, { transport });
    const lines: string[] = [];
    for await (const line of (await client.stream('GET', '/lines')).lines()) lines.push(line);
    assert.deepEqual(lines, ['a', 'b', 'c', 'd', '', 'e']);
    const latin: string[] = [];
    for await (const line of (await client.stream('GET', '/latin1')).lines()) latin.push(line);
    assert.deepEqual(latin, ['café']);
  });

  test(`${transport}: a fixed response, an error before the first chunk and a HEAD come through stream() as through get()`, async () => {
    const app = createApp({
      routes: [
        get('/fixed', () => new HttpResponse('whole', { headers: { 'set-cookie': 'seen=1' } })),
        get('/cookie', (request) => new HttpResponse(request.headers.get('cookie') ?? 'none')),
        get('/broken', () => new StreamingResponse((async function* () { throw new Error('disk on fire'); })())),
        get('/mid', () => new StreamingResponse((async function* () {
          yield 'first';
          throw new Error('lost the disk');
        })())),
      ],
    });
    await using client = createTestClient(app, { transport });
    const fixed = await client.stream('GET', '/fixed');
    assert.deepEqual([fixed.status, fixed.headers.get('content-length')], [200, '5']);
    assert.equal(Buffer.concat(await readAll(fixed)).toString(), 'whole');
    // Its cookie is kept, as get()'s.
    assert.equal(await (await client.get('/cookie')).text(), 'seen=1');
    assert.equal((await client.stream('GET', '/broken')).status, 500);
    const head = await client.stream('HEAD', '/mid');
    assert.deepEqual(await readAll(head), []);
    const mid = await client.stream('GET', '/mid');
    await assert.rejects(readAll(mid), transport === 'in-process' ? /lost the disk/ : /client GET \/mid: the response \(status 200\) was cut after 5 bytes/);
  });
}

test('a stream() option that does not exist is a TypeError naming it and the one meant', async () => {
  const app = createApp({ routes: [] });
  await using client = createTestClient(app);
  await assert.rejects(client.stream('GET', '/', { timeout: 5 } as never), { name: 'TypeError', message: 'client GET /: unknown option "timeout"; did you mean "timeoutMs"?' });
  await assert.rejects(client.stream('FOO', '/'), /FOO/);
});

test('res.bytes() and res.arrayBuffer() give the body, as fetch\'s Response does, each a copy of its own', async () => {
  const app = createApp({ routes: [get('/', () => new HttpResponse(new Uint8Array([1, 2, 3])))] });
  await using client = createTestClient(app);
  const res = await client.get('/');
  const bytes = await res.bytes();
  assert.deepEqual([bytes.constructor, [...bytes]], [Uint8Array, [1, 2, 3]]);
  bytes[0] = 9;
  assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [1, 2, 3]);
  assert.equal((await res.arrayBuffer()).byteLength, 3);
});

test('a socket stream that is never read nor closed does not keep the process alive', { timeout: 20_000 }, async (t) => {
  const fixture = spawnFixture(new URL('./fixtures/forgotten-stream.ts', import.meta.url));
  // A process that hangs is this test's failure, not left running after it.
  t.after(() => fixture.child.kill());
  assert.deepEqual(await fixture.line((line) => 'status' in line), { status: 200 });
  assert.equal(await fixture.exited, 0);
});
