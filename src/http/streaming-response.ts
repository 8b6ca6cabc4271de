import { Readable } from 'node:stream';
import { kAbortStream, kClaimStream, kOpenedStream, kStreamTaken, kTransformStream } from '../symbols.js';
import { HttpResponse, type ResponseInit } from './response.js';
import type { ResponseBody } from './response-body.js';
import { currentRequest } from '../util/current-request.js';
import { describe } from '../util/describe.js';
import { keepUnreadFailure } from '../util/unread-failure.js';

export type StreamSource = AsyncIterable<Uint8Array | string> | Readable;

/** Makes a response's stream when sending starts; `signal` aborts if the response ends before the stream does. */
export type StreamOpener = (signal: AbortSignal) => StreamSource;

function isStreamSource(value: unknown): value is StreamSource {
  return value !== null && typeof value === 'object' && Symbol.asyncIterator in value;
}

/**
 * A response whose body is produced while it is sent, with backpressure: the
 * source is read only as fast as the client takes it. After-response tasks run
 * once the stream has ended (or the client has gone).
 *
 * The source is an async iterable of strings (sent as UTF-8) or bytes, a
 * Readable, or a function `(signal) => source` called when sending starts.
 * The signal (also `response.signal`) aborts when the response ends before the
 * stream: the client went away, or the body is not sent (HEAD, 204, 304).
 * Pass it to what the source awaits, so that an idle stream (server-sent
 * events, long polling) ends at once instead of at its next event. Either way
 * a Readable is then destroyed, and a generator is returned when it next yields.
 *
 * Coda frames the stream: chunked, unless the app declares a Content-Length,
 * which the stream must then deliver exactly (else the connection is closed
 * and the mismatch logged). A Transfer-Encoding set by the app is dropped.
 *
 * @example
 * ```ts
 * import { once } from 'node:events';
 *
 * get('/events', () => new StreamingResponse(async function* (signal) {
 *   for (;;) {
 *     const [note] = await once(notes, 'created', { signal }); // rejects, ending the generator, when the client goes
 *     yield `data: ${JSON.stringify(note)}\n\n`;
 *   }
 * }, { headers: { 'content-type': 'text/event-stream' } }));
 * ```
 */
export class StreamingResponse extends HttpResponse {
  #stream: StreamSource | undefined;
  readonly #opener: StreamOpener | undefined;
  #transform: ((source: StreamSource) => StreamSource) | undefined = undefined;
  #controller: AbortController | undefined = undefined;
  #taken = false;
  #claimed = false;

  constructor(source: StreamSource | StreamOpener, init?: ResponseInit) {
    super(null, init);
    if (typeof source === 'function') {
      this.#opener = source;
    } else if (isStreamSource(source)) {
      // Read only once the response is sent: a Readable failing before (a hook or the journal holding the response) is its error's own 500, not an uncaught 'error'.
      this.#stream = source instanceof Readable ? keepUnreadFailure(source) : source;
    } else {
      // Django's and Starlette's sources (an array, a sync generator) are not async: say how to stream one.
      const sync = source !== null && typeof source === 'object' && Symbol.iterator in source;
      const got = sync ? `a sync iterable (${Array.isArray(source) ? 'an array' : describe(source)}): stream it as Readable.from(iterable), or yield from an async function*` : describe(source);
      throw new TypeError(`StreamingResponse takes an async iterable, a Readable or a function returning one, got ${got}`);
    }
    // The request's exchange (after/exchange.ts) releases it if another response is sent instead.
    (currentRequest() as { made(response: StreamingResponse): void } | undefined)?.made(this);
  }

  /** Null: the body is the stream. */
  override get body(): null {
    return null;
  }

  /**
   * A body set here (by a middleware that rewrites bodies) would be ignored,
   * its stream sent all the same: refused instead, as Django refuses
   * `content` on a streaming response.
   */
  override set body(value: ResponseBody) {
    throw new TypeError(`a StreamingResponse sends its stream, not a body: setting its body to ${describe(value)} would change nothing that is sent; return new HttpResponse(body, { status, headers }) in its place`);
  }

  /** The body's source. A function source is called on first read (sending reads it) with `signal`. */
  get stream(): StreamSource {
    this.#taken = true;
    if (this.#stream === undefined) {
      const opened = this.#opener!(this.signal);
      if (!isStreamSource(opened)) {
        throw new TypeError(`the function given to StreamingResponse returned ${describe(opened)}, expected an async iterable or a Readable`);
      }
      this.#stream = this.#transform === undefined ? opened : this.#transform(opened);
    }
    return this.#stream;
  }

  /**
   * @internal The body is sent through `transform` (compression): at once if
   * the stream is open, else when it opens. Aborting destroys what
   * `transform` returned; it must then let go of its source.
   */
  [kTransformStream](transform: (source: StreamSource) => StreamSource): void {
    if (this.#stream !== undefined) {
      this.#stream = transform(this.#stream);
      return;
    }
    const before = this.#transform;
    this.#transform = before === undefined ? transform : (source) => transform(before(source));
  }

  /** Aborts when the response ends before its stream: the client went away, the body is not sent, or sending it failed. */
  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  /** @internal Whether `stream` was read: whoever read it sends it, or lets it go. */
  get [kStreamTaken](): boolean {
    return this.#taken;
  }

  /**
   * @internal A transport begins to send the response (its stream read, or
   * let go for a HEAD, 204 or 304): false when one did before, as for a
   * response shared by requests, whose stream the first left ended.
   */
  [kClaimStream](): boolean {
    if (this.#claimed) return false;
    this.#claimed = true;
    return true;
  }

  /** The stream, unread or read (`stream` was), as a summary shows it: never its content. */
  protected override bodySummary(): string {
    return this.#taken ? '[stream, read]' : '[stream, not read]';
  }

  /** @internal The stream if it was opened, else undefined. */
  get [kOpenedStream](): StreamSource | undefined {
    return this.#stream;
  }

  /** @internal The response ends before its stream: the signal aborts, an opened Readable is destroyed (an iterator is its reader's to return). */
  [kAbortStream](): void {
    (this.#controller ??= new AbortController()).abort(new DOMException('the response ended before its stream', 'AbortError'));
    if (this.#stream instanceof Readable) this.#stream.destroy();
  }

  protected override defaultContentType(): string {
    return 'application/octet-stream';
  }
}
