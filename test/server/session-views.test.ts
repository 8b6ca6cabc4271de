// limitSessionViews() alone, on a cleartext HTTP/2 server the test makes: the
// server's own 408 (request-timeout.ts) and the app's answer (the transport)
// are played by the test, so that they can fall in one turn.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { test } from 'node:test';
import type { Refusal } from '../../src/observe/refusal.js';
import { limitSessionViews, MAX_CONCURRENT_STREAMS } from '../../src/server/session-views.js';
import { kAnswered, kCutOff } from '../../src/symbols.js';
import type { NodeResponse } from '../../src/transport/node/response.js';
import { deferred, memoryLogger } from '../helpers.js';

test('a waiting request the server answered 408 is not started when a place frees in the same turn, before its stream has closed; it is counted as refused', async (t) => {
  const started: string[] = [];
  const held: NodeResponse[] = [];
  const refusals: Refusal[] = [];
  const allStarted = deferred();
  const handler = limitSessionViews((request, response) => {
    started.push(request.url ?? '');
    held.push(response as NodeResponse);
    if (held.length === MAX_CONCURRENT_STREAMS) allStarted.resolve();
  }, memoryLogger().logger, (refusal) => refusals.push(refusal));
  const server = http2.createServer();
  server.on('request', handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  session.on('error', () => {});
  t.after(async () => {
    session.destroy();
    server.close();
    await once(server, 'close');
  });
  // The session's places, each held by a view that has not answered; their clients reset them (rapid resets).
  const closing: Promise<unknown>[] = [];
  server.on('stream', (stream) => closing.push(once(stream, 'close')));
  const holds = Array.from({ length: MAX_CONCURRENT_STREAMS }, (_, i) => session.request({ ':path': `/hold/${i}` }).on('error', () => {}));
  await allStarted.promise;
  for (const stream of holds) stream.close(http2.constants.NGHTTP2_CANCEL);
  await Promise.all(closing);
  // One more waits for a place: this listener runs after the limiter's.
  const waiting = once(server, 'request') as Promise<[Http2ServerRequest, Http2ServerResponse]>;
  const late = session.request({ ':path': '/late' }).on('error', () => {});
  const [request, response] = await waiting;
  assert.equal(started.includes('/late'), false, 'it waits');
  // In one turn: the server answers it 408 (its stream closes on a later one), and a view answers, freeing a place.
  (response as NodeResponse)[kCutOff] = { status: 408, reason: 'the request did not arrive in time' };
  response.writeHead(408).end();
  held[0]![kAnswered]!();
  assert.equal(request.stream.destroyed, false, 'its stream has not closed yet');
  assert.equal(started.includes('/late'), false, 'answered by the server, it never reaches the app');
  const [headers] = (await once(late, 'response')) as [http2.IncomingHttpHeaders];
  assert.equal(headers[':status'], 408);
  await once(request.stream, 'close');
  assert.deepEqual(refusals.map(({ status }) => status), [408]);
});
