import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import type { App } from '../app/app.js';
import { inJob } from '../after/context.js';
import type { Exchange } from '../after/exchange.js';
import { isResponseBody } from '../http/response-body.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { kDispatch, kJournal, kNodeHeaders, kRefused, kRenderedError } from '../symbols.js';
import { checkSentBodyText, claimStream, releaseStream, releaseUnsent, unsendableBody } from '../transport/body.js';
import { declaredLength, frameStream, sendsBody } from '../transport/framing.js';
import { StreamSourceBody } from '../transport/fetch/body-source.js';
import { outcomeOf } from '../transport/outcome.js';
import { replaceRefused } from '../transport/refused.js';
import { collectStream, type StreamEnds } from './collect-stream.js';
import { serverRefusal } from './refusals.js';
import { sentHeaders } from './sent-headers.js';
import { TestResponse } from './test-response.js';
import { TestStreamResponse } from './test-stream.js';

/** A request the app answered, its response handed over and journaled; not read yet. */
interface Answered {
  exchange: Exchange;
  asyncContext: boolean;
}

/**
 * A request through `app` without a socket, with the pieces a socket's
 * request goes through (dispatch, journal, framing, outcome): the response as
 * a client gets it, with the error behind an error response. Its head is
 * delivered when the view's response is handed to the test; `signal`
 * aborting before (the request's timeoutMs ran out) is a client gone first,
 * as over a socket: nothing delivered, the exchange aborted.
 */
export async function inProcess(app: App, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<TestResponse> {
  const answered = await answer(app, method, path, headers, body, signal);
  return answered instanceof TestResponse ? answered : readWhole(app, answered, method, signal);
}

/**
 * `inProcess`, its body read as the test reads it: a streamed one chunk by
 * chunk (as app.fetch() hands it over, fetch/body-source.ts), its head once
 * its first chunk came, as a socket sends it; any other whole. `signal`
 * aborting is the client going away, before the head or while it reads
 * (the response's close() calls `stop`, which aborts it).
 */
export async function inProcessStream(app: App, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal, stop: (reason: Error) => void): Promise<TestStreamResponse> {
  const answered = await answer(app, method, path, headers, body, signal);
  if (answered instanceof TestResponse) return wholeStream(answered, stop);
  const { exchange, asyncContext } = answered;
  const response = exchange.response!;
  if (!(response instanceof StreamingResponse) || !sendsBody(method, response.status)) return wholeStream(await readWhole(app, answered, method, signal), stop);
  let source: StreamSourceBody;
  try {
    claimStream(response);
    // As over a socket: a streamed body is produced in the request's context (after() works there).
    source = inJob(exchange, asyncContext, () => new StreamSourceBody(exchange, response, response.stream, declaredLength(response.headers[kNodeHeaders]())), undefined);
  } catch (error) {
    // Refused before any byte, as send() refuses: a 500 instead.
    replaceRefused(exchange, error, app.debug);
    return wholeStream(await readWhole(app, answered, method, signal), stop);
  }
  source.follow(signal);
  try {
    if (!source.stopped) await source.prime();
  } catch (error) {
    // As a server answers a stream that fails before its first byte (transport/node/send.ts).
    replaceRefused(exchange, error, app.debug, "the streaming response's source");
    return wholeStream(await readWhole(app, answered, method, signal), stop);
  }
  if (signal.aborted) throw signal.reason;
  const stream = new ReadableStream(source, { highWaterMark: 0 });
  return new TestStreamResponse(response.status, sentHeaders(response, method), stream, stop, exchange.request[kRenderedError]);
}

/** A whole response as a stream of its one chunk. */
function wholeStream(response: TestResponse, stop: (reason: Error) => void): TestStreamResponse {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      if (response.body.length > 0) controller.enqueue(new Uint8Array(response.body));
      controller.close();
    },
  });
  return new TestStreamResponse(response.status, response.headers, stream, stop, response.error);
}

/** Dispatches the request and awaits its response; what the real server would refuse before its app is answered here instead. */
async function answer(app: App, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<Answered | TestResponse> {
  // Every HTTP/1.1 request names its host (a socket's is 127.0.0.1:port): request.host is never undefined in production.
  headers['host'] ??= 'localhost';
  // What the real server refuses never reaches its app: a test must not pass here and fail there.
  const refused = serverRefusal(path, headers);
  if (refused !== undefined) {
    app[kRefused](refused.refusal);
    return refused.response;
  }
  const { exchange, response: pending, asyncContext } = app[kDispatch]({
    method,
    url: path,
    headers,
    body: body === undefined ? null : Readable.from([body]),
    // As Django's test client: a request from the loopback address.
    remoteAddress: '127.0.0.1',
  });
  exchange.response = await app[kJournal](exchange, await pending);
  if (signal.aborted) {
    if (exchange.response instanceof StreamingResponse) releaseUnsent(exchange.response);
    exchange.finish(outcomeOf(exchange, false, undefined, false));
    throw signal.reason;
  }
  return { exchange, asyncContext };
}

/** The exchange's response read to its end, the exchange then finished. */
async function readWhole(app: App, { exchange, asyncContext }: Answered, method: string, signal: AbortSignal): Promise<TestResponse> {
  let failure: unknown;
  const ends: StreamEnds = {
    failed(error) {
      failure = exchange.error = error;
    },
    refuse(error) {
      // As a server answers a stream that fails before its first byte (transport/node/send.ts).
      replaceRefused(exchange, error, app.debug, "the streaming response's source");
      return read();
    },
  };
  // As over a socket: a streamed body is produced in the request's context (after() works there).
  const read = (): Promise<Buffer> => deliver(exchange, method, signal, ends);
  let bytes: Buffer;
  try {
    bytes = await inJob(exchange, asyncContext, read, undefined);
  } catch (error) {
    // Refused before any byte, as send() refuses: a 500 instead.
    replaceRefused(exchange, error, app.debug);
    bytes = await read();
  }
  const response = exchange.response!;
  // Framed before the tasks start, as a socket frames the head before they can run.
  const sent = sentHeaders(response, method);
  exchange.bytesSent = bytes.length;
  // The request's timeoutMs ran out while its stream was read: a client that left (the test has its rejection).
  const left = failure === undefined && signal.aborted && response instanceof StreamingResponse;
  exchange.finish(outcomeOf(exchange, failure === undefined && !left));
  if (failure !== undefined) throw failure;
  if (left) throw signal.reason;
  return new TestResponse(response.status, sent, bytes, exchange.request[kRenderedError]);
}

/**
 * Reads a response's body as a client would, streaming ones to their end (see
 * collect-stream.ts). Throws, before reading, what send() would refuse: a
 * body of the wrong type, a stream that cannot be opened or whose
 * Content-Length is not a number.
 */
async function deliver(exchange: Exchange, method: string, signal: AbortSignal, ends: StreamEnds): Promise<Buffer> {
  const response = exchange.response!;
  if (response instanceof StreamingResponse) {
    claimStream(response);
    const headers = response.headers[kNodeHeaders]();
    // As over a socket: a body that is not sent is not read (it may never end).
    if (!frameStream(headers, method, response.status)) {
      releaseStream(response);
      return Buffer.alloc(0);
    }
    return collectStream(exchange, response, declaredLength(headers), signal, ends);
  }
  const body: unknown = response.body;
  if (!isResponseBody(body)) throw unsendableBody(body);
  if (typeof body === 'string') checkSentBodyText(response, body, Buffer.byteLength(body));
  if (!sendsBody(method, response.status) || body === null) return Buffer.alloc(0);
  return Buffer.from(body);
}
