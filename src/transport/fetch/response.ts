import { Buffer } from 'node:buffer'; // not the global, a getter Node runs on every read
import { ReadableStream } from 'node:stream/web';
import type { Exchange } from '../../after/exchange.js';
import { ProgrammingError } from '../../http/errors.js';
import type { HttpResponse } from '../../http/response.js';
import { isResponseBody } from '../../http/response-body.js';
import { StreamingResponse } from '../../http/streaming-response.js';
import { kNodeHeaders } from '../../symbols.js';
import { checkSentBodyText, claimStream, releaseStream, unsendableBody } from '../body.js';
import { declaredLength, dropConnectionHeaders, frameFixed, frameStream } from '../framing.js';
import { outcomeOf } from '../outcome.js';
import { FixedSource, StreamSourceBody } from './body-source.js';

type HeaderRecord = Record<string, string | string[]>;

/**
 * The exchange's response as a Web `Response`. Coda frames it as on a
 * socket (its Content-Length for a fixed body, none of the body for HEAD,
 * 204 or 304) and leaves out the connection-specific headers, which belong
 * to whatever carries the Response on. The exchange finishes when the body
 * has been read to its end (completed) or cancelled (aborted), at once when
 * there is no body; `signal` (the Request's) aborting before then is the
 * client going away. A stream's first chunk is read first, as a socket's
 * head waits for it. Rejects, before anything is consumed, with what a
 * socket would refuse too (see refused.ts), a status a Response cannot
 * carry, and the error of a stream that fails before its first chunk.
 */
export async function webResponse(exchange: Exchange, signal: AbortSignal): Promise<Response> {
  const response = exchange.response!;
  const { status } = response;
  // A response's status is from 200 (checkStatus): only those past 599 are HttpResponse's alone.
  if (status > 599) throw new ProgrammingError(`app.fetch() cannot answer with status ${status}: a Web Response carries a status from 200 to 599`);
  const headers = response.headers[kNodeHeaders]();
  dropConnectionHeaders(headers);
  const source = bodySource(exchange, response, headers);
  if (source !== undefined) source.follow(signal);
  // A stream's first chunk before the Response: a source failing first rejects here, for its own response instead.
  // Not when the client left already (`follow` stopped the body): nothing would come, and the Response's body fails at once.
  if (source instanceof StreamSourceBody && !source.stopped) await source.prime();
  const web = new Response(source === undefined ? null : new ReadableStream(source, { highWaterMark: 0 }) as globalThis.ReadableStream, { status, headers: webHeaders(headers) });
  // A client gone before the Response was made got nothing of it, its head neither.
  if (source === undefined) exchange.finish(outcomeOf(exchange, !signal.aborted, undefined, !signal.aborted));
  return web;
}

function bodySource(exchange: Exchange, response: HttpResponse, headers: HeaderRecord): FixedSource | StreamSourceBody | undefined {
  const { status } = response;
  const { method } = exchange.request;
  if (response instanceof StreamingResponse) {
    claimStream(response);
    if (!frameStream(headers, method, status)) {
      releaseStream(response);
      return undefined;
    }
    return new StreamSourceBody(exchange, response, response.stream, declaredLength(headers));
  }
  const { body } = response;
  if (!isResponseBody(body)) throw unsendableBody(body);
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const length = bytes === null ? 0 : bytes.byteLength;
  if (typeof body === 'string') checkSentBodyText(response, body, length);
  if (!frameFixed(headers, method, status, bytes !== null, length)) return undefined;
  return bytes === null || length === 0 ? undefined : new FixedSource(exchange, bytes);
}

/** A header record (arrays for repeated fields) as Web `Headers`. */
export function webHeaders(record: HeaderRecord): Headers {
  const headers = new Headers();
  for (const name of Object.keys(record)) {
    const value = record[name]!;
    if (typeof value === 'string') headers.set(name, value);
    else for (const each of value) headers.append(name, each);
  }
  return headers;
}
