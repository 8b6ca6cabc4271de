import { AsyncLocalStorage } from 'node:async_hooks';
import type { Exchange } from '../../after/exchange.js';
import type { StreamingResponse, StreamSource } from '../../http/response.js';
import { kAbortStream } from '../../symbols.js';
import { brokenLength, chunkBytes, logStreamFailure, returnIterator } from '../body.js';
import type { NodeResponse } from './response.js';

const PUMPING = 0;
/** Read to its end and handed to Node. */
const ENDED = 1;
/** Stopped before its end: the client went away, the source failed, or it broke its Content-Length. */
const STOPPED = 2;

/** Sends `source`, the stream of `response`, as the body of `res` (its head written). */
export function pump(res: NodeResponse, exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number): void {
  new Pump(res, exchange, response, source, declared);
}

/**
 * Copies a stream to Node's response chunk by chunk, with backpressure (the
 * next chunk is asked for once the socket took the last one). It never waits
 * on the source when the connection closes: it stops at once, aborts the
 * response's signal, destroys a Readable, and returns an iterator, now or,
 * when a read is in flight, as soon as that read yields. One 'close' listener
 * on `res`, and one 'drain' listener while the socket is full.
 */
class Pump {
  readonly #res: NodeResponse;
  readonly #exchange: Exchange;
  readonly #response: StreamingResponse;
  readonly #iterator: AsyncIterator<unknown>;
  /** The Content-Length the app declared, -1 when none. */
  readonly #declared: number;
  /** Node emits 'drain' and 'close' outside the request's async context: the stream resumes inside it (after() works there). */
  readonly #scope = AsyncLocalStorage.snapshot();
  #state = PUMPING;
  /** A next() is in flight. */
  #reading = false;

  constructor(res: NodeResponse, exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number) {
    this.#res = res;
    this.#exchange = exchange;
    this.#response = response;
    this.#declared = declared;
    this.#iterator = source[Symbol.asyncIterator]();
    res.once('close', this.#onClose);
    this.#read();
  }

  #read(): void {
    this.#reading = true;
    let next: Promise<IteratorResult<unknown>>;
    try {
      next = Promise.resolve(this.#iterator.next());
    } catch (error) {
      next = Promise.reject(error);
    }
    next.then(this.#onNext, this.#onError);
  }

  readonly #onNext = (result: IteratorResult<unknown>): void => {
    this.#reading = false;
    if (this.#state !== PUMPING) {
      // Stopped while the source was busy: it has yielded once more, now it ends.
      if (result.done !== true) returnIterator(this.#iterator);
      return;
    }
    if (result.done === true) {
      this.#end();
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = chunkBytes(result.value);
    } catch (error) {
      this.#fail(error, true);
      return;
    }
    const sent = this.#exchange.bytesSent + bytes.byteLength;
    if (this.#declared >= 0 && sent > this.#declared) {
      this.#broken(`more (at least ${sent} bytes)`, true);
      return;
    }
    this.#exchange.bytesSent = sent;
    if (this.#res.write(bytes)) this.#read();
    else this.#res.once('drain', this.#onDrain);
  };

  readonly #onError = (error: unknown): void => {
    this.#reading = false;
    // Once stopped, a source ending with an error is expected (e.g. the AbortError of what it awaited).
    if (this.#state === PUMPING) this.#fail(error, false);
  };

  readonly #onDrain = (): void => {
    this.#scope(() => this.#read());
  };

  readonly #onClose = (): void => {
    if (this.#state !== PUMPING) return;
    this.#state = STOPPED;
    this.#res.off('drain', this.#onDrain);
    this.#scope(() => this.#stopSource(!this.#reading));
  };

  #end(): void {
    if (this.#declared >= 0 && this.#exchange.bytesSent !== this.#declared) {
      this.#broken(`ended after ${this.#exchange.bytesSent} bytes`, false);
      return;
    }
    this.#state = ENDED;
    this.#res.end();
  }

  /** The source threw, or yielded something that is not bytes: the response cannot be completed. */
  #fail(error: unknown, suspended: boolean): void {
    logStreamFailure(this.#exchange, error, 'connection closed');
    this.#cut(error, suspended);
  }

  /** The stream broke the Content-Length the app declared: cut before any byte past it. */
  #broken(what: string, suspended: boolean): void {
    this.#cut(brokenLength(this.#exchange, this.#declared, what, 'connection closed'), suspended);
  }

  /** Ends the response unfinished: the connection is destroyed, so nothing of it can be taken for the next response. */
  #cut(error: unknown, suspended: boolean): void {
    this.#state = STOPPED;
    this.#exchange.error = error;
    this.#stopSource(suspended);
    this.#res.destroy();
  }

  /** `suspended`: the source is at a yield (no read in flight), so its iterator can be returned now. */
  #stopSource(suspended: boolean): void {
    this.#response[kAbortStream]();
    if (suspended) returnIterator(this.#iterator);
  }
}
