import { Readable } from 'node:stream';
import type { App } from '../app/app.js';
import { inJob } from '../after/context.js';
import { checkStatus, isResponseBody, StreamingResponse, type HttpResponse } from '../http/response.js';
import { kAbortStream, kDispatch, kJournal, kRenderedError } from '../symbols.js';
import { checkSentBodyText, chunkBytes, claimStream, releaseStream, releaseUnsent, unsendableBody } from '../transport/body.js';
import { sendsBody } from '../transport/framing.js';
import { outcomeOf } from '../transport/outcome.js';
import { replaceRefused } from '../transport/refused.js';
import { sentHeaders } from './sent-headers.js';
import { TestResponse } from './test-response.js';

/**
 * A request through `app` without a socket, with the pieces a socket's
 * request goes through (dispatch, journal, framing, outcome): the response as
 * a client gets it, with the error behind an error response. Its head is
 * delivered when the view's response is handed to the test; `signal`
 * aborting before (the request's timeoutMs ran out) is a client gone first,
 * as over a socket: nothing delivered, the exchange aborted.
 */
export async function inProcess(app: App, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<TestResponse> {
  if (body !== undefined) headers['content-length'] = String(body.length);
  // Every HTTP/1.1 request names its host (a socket's is 127.0.0.1:port): request.host is never undefined in production.
  headers['host'] ??= 'localhost';
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
  let failure: unknown;
  const failed = (error: unknown): void => {
    failure = exchange.error = error;
  };
  // As over a socket: a streamed body is produced in the request's context (after() works there).
  const read = (): Promise<Buffer> => deliver(exchange.response!, sendsBody(method, exchange.response!.status), failed);
  let bytes: Buffer;
  try {
    bytes = await inJob(exchange, asyncContext, read, undefined);
  } catch (error) {
    // Refused before any byte, as send() refuses: a 500 instead.
    replaceRefused(exchange, error, app.debug);
    bytes = await read();
  }
  const response = exchange.response;
  // Framed before the tasks start, as a socket frames the head before they can run.
  const sent = sentHeaders(response, method);
  exchange.bytesSent = bytes.length;
  exchange.finish(outcomeOf(exchange, failure === undefined));
  if (failure !== undefined) throw failure;
  return new TestResponse(response.status, sent, bytes, exchange.request[kRenderedError]);
}

/**
 * Reads a response's body as a client would, streaming ones to their end; a
 * stream that fails mid-way is told to `failed`. Throws, before reading, what
 * send() would refuse: a status Node cannot send (set after construction), a
 * body of the wrong type, a stream that cannot be opened.
 */
async function deliver(response: HttpResponse, withBody: boolean, failed: (error: unknown) => void): Promise<Buffer> {
  checkStatus(response.status);
  if (response instanceof StreamingResponse) {
    claimStream(response);
    // As over a socket: a body that is not sent is not read (it may never end).
    if (!withBody) {
      releaseStream(response);
      return Buffer.alloc(0);
    }
    const source = response.stream;
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of source) chunks.push(chunkBytes(chunk));
    } catch (error) {
      response[kAbortStream]();
      failed(error);
    }
    return Buffer.concat(chunks);
  }
  const body: unknown = response.body;
  if (!isResponseBody(body)) throw unsendableBody(body);
  if (typeof body === 'string') checkSentBodyText(response, body, Buffer.byteLength(body));
  if (!withBody || body === null) return Buffer.alloc(0);
  return Buffer.from(body);
}
