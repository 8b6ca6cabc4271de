import { AsyncLocalStorage } from 'node:async_hooks';
import type { Exchange } from '../../after/exchange.js';
import type { StreamingResponse, StreamSource } from '../../http/response.js';
import { SourceReader, type ChunkSink } from '../source-reader.js';
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
 * Copies a stream to Node's response chunk by chunk (see source-reader.ts),
 * with backpressure: the next chunk is asked for once the socket took the
 * last one. It never waits on the source when the connection closes: it
 * stops at once and lets go of the source. One 'close' listener on `res`,
 * and one 'drain' listener while the socket is full.
 */
class Pump implements ChunkSink {
  readonly #res: NodeResponse;
  readonly #exchange: Exchange;
  readonly #reader: SourceReader;
  /** Node emits 'drain' and 'close' outside the request's async context: the stream resumes inside it (after() works there). */
  readonly #scope = AsyncLocalStorage.snapshot();
  #state = PUMPING;

  constructor(res: NodeResponse, exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number) {
    this.#res = res;
    this.#exchange = exchange;
    this.#reader = new SourceReader(exchange, response, source, declared, this, 'connection closed');
    res.once('close', this.#onClose);
    void this.#reader.read();
  }

  get stopped(): boolean {
    return this.#state !== PUMPING;
  }

  write(bytes: Uint8Array): void {
    if (this.#res.write(bytes)) void this.#reader.read();
    else this.#res.once('drain', this.#onDrain);
  }

  end(): void {
    this.#state = ENDED;
    this.#res.end();
  }

  /** Ends the response unfinished: the connection is destroyed, so nothing of it can be taken for the next response. */
  cut(error: unknown): void {
    this.#state = STOPPED;
    this.#exchange.error = error;
    this.#reader.release();
    this.#res.destroy();
  }

  readonly #onDrain = (): void => {
    this.#scope(() => void this.#reader.read());
  };

  readonly #onClose = (): void => {
    if (this.#state !== PUMPING) return;
    this.#state = STOPPED;
    this.#res.off('drain', this.#onDrain);
    this.#scope(() => this.#reader.release());
  };
}
