import type { Exchange } from '../after/exchange.js';
import { ProgrammingError } from '../http/errors.js';
import type { StreamingResponse, StreamSource } from '../http/streaming-response.js';
import { kAbortStream } from '../symbols.js';
import { chunkBytes, returnIterator } from './body.js';
import { causeSaidOnce } from '../log/cause-once.js';

/** Where a stream's chunks go: a socket (node/pump.ts) or a Web Response body's consumer (fetch/body-source.ts). */
export interface ChunkSink {
  /** The response stopped early (the client went away, or it was cut): a read in flight only lets the source go. */
  readonly stopped: boolean;
  /** Sends the next chunk (already counted in `bytesSent`); the sink asks for the one after. */
  write(bytes: Uint8Array): void;
  /** The source ended with the whole body sent. */
  end(): void;
  /** Ends the response unfinished with `error` (already logged); the sink lets go of the source (`release()`). */
  cut(error: unknown): void;
  /**
   * The source failed before its first byte: answers with the error's own
   * response (logged) instead, and lets go of the source; false when the
   * response is committed already (its head is out), and it must be cut.
   */
  answer(error: unknown): boolean;
}

/**
 * Reads a `StreamingResponse`'s source chunk by chunk for a sink, one read
 * at a time. It keeps a Content-Length the app declared (cut before any byte
 * past it, or when the source ends short of it), and lets go of the source
 * when the response stops early: the response's signal aborts, a Readable is
 * destroyed, an iterator returned (at once, or when a read in flight yields).
 */
export class SourceReader {
  readonly #exchange: Exchange;
  readonly #response: StreamingResponse;
  readonly #iterator: AsyncIterator<unknown>;
  /** The Content-Length the app declared, -1 when none. */
  readonly #declared: number;
  readonly #sink: ChunkSink;
  /** How the response is cut, for the logs. */
  readonly #cut: string;
  /** The source is at a yield (no read in flight, not ended nor failed): its iterator can be returned now. */
  #suspended = true;

  constructor(exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number, sink: ChunkSink, cut: string) {
    this.#exchange = exchange;
    this.#response = response;
    this.#declared = declared;
    this.#sink = sink;
    this.#cut = cut;
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Asks the source for its next chunk; settles once the sink has been handed what came of it. */
  read(): Promise<void> {
    this.#suspended = false;
    let next: Promise<IteratorResult<unknown>>;
    try {
      next = Promise.resolve(this.#iterator.next());
    } catch (error) {
      next = Promise.reject(error);
    }
    return next.then(this.#onNext, this.#onError);
  }

  /** Lets go of the source: the response stopped before its end. */
  release(): void {
    this.#response[kAbortStream]();
    if (this.#suspended) returnIterator(this.#iterator);
  }

  readonly #onNext = (result: IteratorResult<unknown>): void => {
    if (this.#sink.stopped) {
      // Stopped while the source was busy: it has yielded once more, now it ends.
      if (result.done !== true) returnIterator(this.#iterator);
      return;
    }
    const exchange = this.#exchange;
    if (result.done === true) {
      if (this.#declared >= 0 && exchange.bytesSent !== this.#declared) this.#broken(`ended after ${exchange.bytesSent} bytes`);
      else this.#end();
      return;
    }
    this.#suspended = true;
    let bytes: Uint8Array;
    try {
      bytes = chunkBytes(result.value);
    } catch (error) {
      this.#fail(error);
      return;
    }
    const sent = exchange.bytesSent + bytes.byteLength;
    if (this.#declared >= 0 && sent > this.#declared) {
      this.#broken(`more (at least ${sent} bytes)`);
      return;
    }
    exchange.bytesSent = sent;
    this.#sink.write(bytes);
  };

  readonly #onError = (error: unknown): void => {
    // Once stopped, a source ending with an error is expected (e.g. the AbortError of what it awaited).
    if (!this.#sink.stopped) this.#fail(error);
  };

  /**
   * The source ended: the response ends once every durable task registered
   * for it is journaled. One registered as the body streamed (`after(task,
   * payload)` in the generator, not awaited) came after the first byte's
   * wait for the journal: a client that took the whole response relies on
   * it, so a store that refuses it fails the response instead (cut, or its
   * 503 if no byte is out).
   */
  #end(): void {
    const journaled = this.#exchange.journaled;
    if (journaled === undefined) {
      this.#sink.end();
      return;
    }
    journaled.then(() => {
      if (!this.#sink.stopped) this.#sink.end();
    }, (error: unknown) => {
      if (!this.#sink.stopped) this.#fail(error);
    });
  }

  /** The source threw, or yielded something that is not bytes: the response cannot be completed. */
  #fail(error: unknown): void {
    if (this.#sink.answer(error)) return;
    const { request } = this.#exchange;
    request.log.error({ err: causeSaidOnce(error), method: request.method, path: request.path }, `streaming response failed mid-way; ${this.#cut}`);
    this.#sink.cut(error);
  }

  /** The stream broke the Content-Length the app declared (`what` it produced instead): logged with both counts. */
  #broken(what: string): void {
    const exchange = this.#exchange;
    const { request } = exchange;
    const message = `streaming response of ${request.method} ${request.path} declared Content-Length ${this.#declared} but its stream produced ${what}`;
    if (this.#sink.answer(new ProgrammingError(message))) return;
    const error = new ProgrammingError(`${message}; ${this.#cut}`);
    request.log.error({ method: request.method, path: request.path, declared: this.#declared, sent: exchange.bytesSent }, error.message);
    this.#sink.cut(error);
  }
}
