import { AsyncLocalStorage } from 'node:async_hooks';
import type { ReadableStreamDefaultController, UnderlyingSource } from 'node:stream/web';
import type { Exchange } from '../../after/exchange.js';
import type { StreamingResponse, StreamSource } from '../../http/response.js';
import { kAbortStream } from '../../symbols.js';
import { brokenLength, chunkBytes, logStreamFailure, returnIterator } from '../body.js';
import { outcomeOf } from '../outcome.js';

const PUMPING = 0;
const DONE = 1;

/** How a Web Response's body tells the consumer's end of it that the source failed. */
const CUT = 'the Response body stream errored';

/**
 * The source of a Web `Response` body made from Coda's response, pulled by
 * whoever consumes it (highWaterMark 0: nothing is read before it is asked
 * for, as a socket asks). The exchange finishes once: completed when the
 * consumer has been handed the last byte, aborted when it cancels the body,
 * when the request's signal aborts (its client went away), or when the
 * source fails; `bytesSent` counts what it was handed.
 */
abstract class BodySource implements UnderlyingSource<Uint8Array> {
  protected readonly exchange: Exchange;
  /** Calls from the stream's consumer run in the request's async context (after() works there). */
  protected readonly scope = AsyncLocalStorage.snapshot();
  protected state = PUMPING;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #unfollow: (() => void) | undefined;

  constructor(exchange: Exchange) {
    this.exchange = exchange;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  abstract pull(controller: ReadableStreamDefaultController<Uint8Array>): void | Promise<void>;

  /** The consumer does not want the rest. */
  cancel(): void {
    this.scope(() => this.stop(undefined));
  }

  /** Aborts the body when `signal` (the Request's: its client went away) aborts, until the body is done. */
  follow(signal: AbortSignal): void {
    if (signal.aborted) {
      this.abort(signal.reason);
      return;
    }
    const onAbort = (): void => this.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    // A host may share one signal among many requests: no listener is left behind.
    this.#unfollow = () => signal.removeEventListener('abort', onAbort);
  }

  /** The request's client went away: the consumer's reads fail with `reason`. */
  abort(reason: unknown): void {
    if (this.state !== PUMPING) return;
    this.#controller.error(reason);
    this.scope(() => this.stop(undefined));
  }

  protected end(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.state = DONE;
    this.#unfollow?.();
    controller.close();
    this.exchange.finish(outcomeOf(this.exchange, true));
  }

  /** Ends unfinished: the source is let go of, the exchange finished as aborted (with `error`, if the source failed). */
  protected stop(error: unknown): void {
    if (this.state !== PUMPING) return;
    this.state = DONE;
    this.#unfollow?.();
    if (error !== undefined) {
      this.exchange.error = error;
      this.#controller.error(error);
    }
    this.release();
    this.exchange.finish(outcomeOf(this.exchange, false));
  }

  protected release(): void {}
}

/** A fixed body: handed over whole at the first read. */
export class FixedSource extends BodySource {
  readonly #bytes: Uint8Array;

  constructor(exchange: Exchange, bytes: Uint8Array) {
    super(exchange);
    this.#bytes = bytes;
  }

  pull(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (this.state !== PUMPING) return;
    controller.enqueue(this.#bytes);
    this.exchange.bytesSent = this.#bytes.byteLength;
    this.scope(() => this.end(controller));
  }
}

/**
 * A `StreamingResponse`'s stream, chunk by chunk, as the consumer reads. It
 * keeps a Content-Length the app declared (an error past it or short of it,
 * as on a socket) and lets go of the source when it stops early: the
 * response's signal aborts, a Readable is destroyed, an iterator returned
 * (at once, or when a read in flight yields).
 */
export class StreamSourceBody extends BodySource {
  readonly #response: StreamingResponse;
  readonly #iterator: AsyncIterator<unknown>;
  readonly #declared: number;
  #reading = false;

  constructor(exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number) {
    super(exchange);
    this.#response = response;
    this.#declared = declared;
    this.#iterator = source[Symbol.asyncIterator]();
  }

  pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    return this.scope(() => this.#read(controller));
  }

  async #read(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.state !== PUMPING) return;
    let result: IteratorResult<unknown>;
    this.#reading = true;
    try {
      result = await this.#iterator.next();
    } catch (error) {
      this.#reading = false;
      // Once stopped, a source ending with an error is expected (e.g. the AbortError of what it awaited).
      if (this.state === PUMPING) this.#fail(error);
      return;
    }
    this.#reading = false;
    if (this.state !== PUMPING) {
      // Stopped while the source was busy: it has yielded once more, now it ends.
      if (result.done !== true) returnIterator(this.#iterator);
      return;
    }
    if (result.done === true) {
      if (this.#declared >= 0 && this.exchange.bytesSent !== this.#declared) this.stop(brokenLength(this.exchange, this.#declared, `ended after ${this.exchange.bytesSent} bytes`, CUT));
      else this.end(controller);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = chunkBytes(result.value);
    } catch (error) {
      this.#fail(error);
      return;
    }
    const sent = this.exchange.bytesSent + bytes.byteLength;
    if (this.#declared >= 0 && sent > this.#declared) {
      this.stop(brokenLength(this.exchange, this.#declared, `more (at least ${sent} bytes)`, CUT));
      return;
    }
    this.exchange.bytesSent = sent;
    controller.enqueue(bytes);
  }

  #fail(error: unknown): void {
    logStreamFailure(this.exchange, error, CUT);
    this.stop(error);
  }

  protected override release(): void {
    this.#response[kAbortStream]();
    if (!this.#reading) returnIterator(this.#iterator);
  }
}
