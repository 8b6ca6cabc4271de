import { AsyncLocalStorage } from 'node:async_hooks';
import type { ReadableStreamDefaultController, UnderlyingSource } from 'node:stream/web';
import type { Exchange } from '../../after/exchange.js';
import type { StreamingResponse, StreamSource } from '../../http/streaming-response.js';
import { outcomeOf } from '../outcome.js';
import { SourceReader, type ChunkSink } from '../source-reader.js';

const PUMPING = 0;
const DONE = 1;

/** The first chunk awaited before the Response is made (see `StreamSourceBody.prime()`). */
interface Priming {
  resolve(): void;
  reject(error: unknown): void;
}

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
  /** Given when the Response's stream is made; a streamed body reads its first chunk before that (see `prime()`). */
  protected controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Why the body stopped before its stream was made: the stream fails with it from the start. */
  #stoppedBy: unknown;
  #unfollow: (() => void) | undefined;

  constructor(exchange: Exchange) {
    this.exchange = exchange;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
    if (this.state !== PUMPING) controller.error(this.#stoppedBy);
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

  /** Stops following the request's signal. */
  protected unfollow(): void {
    this.#unfollow?.();
  }

  /** The request's client went away: the consumer's reads fail with `reason`. */
  abort(reason: unknown): void {
    if (this.state !== PUMPING) return;
    this.#stoppedBy = reason;
    this.controller?.error(reason);
    this.scope(() => this.stop(undefined));
  }

  /** The consumer has been handed the last byte. */
  end(): void {
    this.state = DONE;
    this.unfollow();
    this.controller!.close();
    this.exchange.finish(outcomeOf(this.exchange, true));
  }

  /** Ends unfinished: the source is let go of, the exchange finished as aborted (with `error`, if the source failed). */
  protected stop(error: unknown): void {
    if (this.state !== PUMPING) return;
    this.state = DONE;
    this.unfollow();
    if (error !== undefined) {
      this.exchange.error = error;
      this.#stoppedBy = error;
      this.controller?.error(error);
    }
    this.release();
    // The head is delivered once the Response is made (its stream given its controller): before that, the client left first.
    this.exchange.finish(outcomeOf(this.exchange, false, undefined, this.controller !== undefined));
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
    this.controller!.enqueue(this.#bytes);
    this.exchange.bytesSent = this.#bytes.byteLength;
    this.scope(() => this.end());
  }
}

/**
 * A `StreamingResponse`'s stream, chunk by chunk as the consumer reads (see
 * source-reader.ts). Its first chunk is read before the Response is made, as
 * a socket's head waits for the first byte: a source that fails before it
 * gets the error's own response instead.
 */
export class StreamSourceBody extends BodySource implements ChunkSink {
  readonly #reader: SourceReader;
  /** While the first chunk is awaited (`prime()`): settles once it came, the source ended, or the body stopped. */
  #priming: Priming | undefined;
  /** What the source gave before the Response was made: its first chunk, or its end. */
  #first: Uint8Array | undefined;
  #endedFirst = false;

  constructor(exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number) {
    super(exchange);
    this.#reader = new SourceReader(exchange, response, source, declared, this, CUT);
  }

  get stopped(): boolean {
    return this.state !== PUMPING;
  }

  /**
   * Reads up to the first chunk (or the end). Rejects with the source's error
   * if it fails first, the source let go: the caller answers with that
   * error's own response. Resolves too when the body stopped meanwhile (the
   * client went away): the Response's stream then fails at once.
   */
  prime(): Promise<void> {
    const primed = new Promise<void>((resolve, reject) => {
      this.#priming = { resolve, reject };
    });
    void this.scope(() => this.#reader.read());
    return primed;
  }

  pull(): Promise<void> | void {
    if (this.state !== PUMPING) return;
    if (this.#first !== undefined) {
      this.controller!.enqueue(this.#first);
      this.#first = undefined;
      return;
    }
    if (this.#endedFirst) return this.scope(() => this.end());
    return this.scope(() => this.#reader.read());
  }

  write(bytes: Uint8Array): void {
    if (this.#primed()) this.#first = bytes;
    else this.controller!.enqueue(bytes);
  }

  override end(): void {
    if (this.#primed()) this.#endedFirst = true;
    else super.end();
  }

  cut(error: unknown): void {
    this.stop(error);
  }

  /** Before the first chunk, the error is the caller's to answer; after it, the Response has been handed over. */
  answer(error: unknown): boolean {
    const priming = this.#takePriming();
    if (priming === undefined) return false;
    this.state = DONE;
    this.unfollow();
    this.release();
    priming.reject(error);
    return true;
  }

  protected override stop(error: unknown): void {
    super.stop(error);
    this.#primed();
  }

  /** Ends the priming, if under way: true when it was. */
  #primed(): boolean {
    const priming = this.#takePriming();
    priming?.resolve();
    return priming !== undefined;
  }

  #takePriming(): Priming | undefined {
    const priming = this.#priming;
    this.#priming = undefined;
    return priming;
  }

  protected override release(): void {
    this.#reader.release();
  }
}
