import { AsyncLocalStorage } from 'node:async_hooks';
import type { ReadableStreamDefaultController, UnderlyingSource } from 'node:stream/web';
import type { Exchange } from '../../after/exchange.js';
import type { StreamingResponse, StreamSource } from '../../http/response.js';
import { outcomeOf } from '../outcome.js';
import { SourceReader, type ChunkSink } from '../source-reader.js';

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
  protected controller!: ReadableStreamDefaultController<Uint8Array>;
  #unfollow: (() => void) | undefined;

  constructor(exchange: Exchange) {
    this.exchange = exchange;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  abstract pull(): void | Promise<void>;

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
    this.controller.error(reason);
    this.scope(() => this.stop(undefined));
  }

  /** The consumer has been handed the last byte. */
  end(): void {
    this.state = DONE;
    this.#unfollow?.();
    this.controller.close();
    this.exchange.finish(outcomeOf(this.exchange, true));
  }

  /** Ends unfinished: the source is let go of, the exchange finished as aborted (with `error`, if the source failed). */
  protected stop(error: unknown): void {
    if (this.state !== PUMPING) return;
    this.state = DONE;
    this.#unfollow?.();
    if (error !== undefined) {
      this.exchange.error = error;
      this.controller.error(error);
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

  pull(): void {
    if (this.state !== PUMPING) return;
    this.controller.enqueue(this.#bytes);
    this.exchange.bytesSent = this.#bytes.byteLength;
    this.scope(() => this.end());
  }
}

/** A `StreamingResponse`'s stream, chunk by chunk as the consumer reads (see source-reader.ts). */
export class StreamSourceBody extends BodySource implements ChunkSink {
  readonly #reader: SourceReader;

  constructor(exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number) {
    super(exchange);
    this.#reader = new SourceReader(exchange, response, source, declared, this, CUT);
  }

  get stopped(): boolean {
    return this.state !== PUMPING;
  }

  pull(): Promise<void> | void {
    if (this.state !== PUMPING) return;
    return this.scope(() => this.#reader.read());
  }

  write(bytes: Uint8Array): void {
    this.controller.enqueue(bytes);
  }

  cut(error: unknown): void {
    this.stop(error);
  }

  /** The Response, status and headers, was handed over when the view answered: too late for another. */
  answer(): boolean {
    return false;
  }

  protected override release(): void {
    this.#reader.release();
  }
}
