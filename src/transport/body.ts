import { Buffer } from 'node:buffer'; // not the global, a getter Node runs on every read
import { Readable } from 'node:stream';
import { ProgrammingError } from '../http/errors.js';
import type { HttpResponse } from '../http/response.js';
import { wrongBody } from '../http/response-body.js';
import type { StreamingResponse } from '../http/streaming-response.js';
import { checkSentText } from '../http/text-charset.js';
import { kAbortStream, kClaimStream, kOpenedStream } from '../symbols.js';
import { describe } from '../util/describe.js';
import { bodiless } from './framing.js';

/** The error for a fixed body that cannot be sent: `response.body` is public, and something set it to this. */
export function unsendableBody(body: unknown): ProgrammingError {
  return new ProgrammingError(`cannot send the response: ${wrongBody(body)}`);
}

/** The refusal of a StreamingResponse sent before: its stream is the other send's, not to be let go with this one. */
export class SentAlready extends ProgrammingError {}

/**
 * Claims `response` for sending: a StreamingResponse sent before (one
 * shared by requests, a module-level constant) has its stream read or let
 * go already, or being read for another client, and would go out empty, or
 * cut; a ProgrammingError instead, before anything is written (the
 * caller's 500).
 */
export function claimStream(response: StreamingResponse): void {
  if (!response[kClaimStream]()) {
    throw new SentAlready('cannot send the StreamingResponse: it was sent already (returned for another request, or twice), and its stream is read once, as it is sent; make a new StreamingResponse for each request');
  }
}

/** A streamed chunk as bytes: a string as UTF-8; anything but a string or bytes is a TypeError naming it. */
export function chunkBytes(chunk: unknown): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError(`a StreamingResponse source must yield strings or Uint8Arrays, got ${describe(chunk)}`);
}

/**
 * Lets go of a stream that will not be read (on): its signal aborts, a
 * function source is not called, a Readable is destroyed, an iterator's
 * return() runs.
 */
export function releaseStream(response: StreamingResponse): void {
  response[kAbortStream]();
  const source = response[kOpenedStream];
  if (source !== undefined && !(source instanceof Readable)) returnIterator(source[Symbol.asyncIterator]());
}

/**
 * Lets go of the stream of a response that this send will not send (it is
 * replaced, or its client left), unless another send claimed it before: a
 * shared response another client may be reading still. Claimed here, so
 * that no later send goes out with the stream let go.
 */
export function releaseUnsent(response: StreamingResponse): void {
  if (response[kClaimStream]()) releaseStream(response);
}

/** Ends an iterator early (a generator's finally blocks run); what its return() throws is its own. */
export function returnIterator(iterator: AsyncIterator<unknown>): void {
  if (typeof iterator.return !== 'function') return;
  try {
    void Promise.resolve(iterator.return()).catch(() => {});
  } catch {
    // A return() that throws at once: the iterator is left as it is, as after a rejection.
  }
}

/** The send-time charset check of a fixed text body (http/text-charset.ts), every transport's: none for a status that sends no body (a 204, a 304). */
export function checkSentBodyText(response: HttpResponse, text: string, byteLength: number): void {
  if (!bodiless(response.status)) checkSentText(response.headers, text, byteLength);
}
