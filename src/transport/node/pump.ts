import { AsyncLocalStorage } from 'node:async_hooks';
import { ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Exchange } from '../../after/exchange.js';
import type { StreamingResponse, StreamSource } from '../../http/streaming-response.js';
import { SourceReader, type ChunkSink } from '../source-reader.js';
import type { NodeResponse } from './response.js';

const PUMPING = 0;
/** Read to its end and handed to Node. */
const ENDED = 1;
/** Stopped before its end: the client went away, the source failed, or it broke its Content-Length. */
const STOPPED = 2;

/** The head of a streamed response, written with its first byte (or its end). */
export interface StreamHead {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
}

/**
 * Sends `source`, the stream of `response`, as the body of `res` under
 * `head`; `refuse(error)` answers instead when the source fails before its
 * first byte, while nothing is on the wire.
 */
export function pump(res: NodeResponse, exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number, head: StreamHead, refuse: (error: unknown) => void): void {
  new Pump(res, exchange, response, source, declared, head, refuse);
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
  /**
   * Until the first byte: a source that fails before it gets the error's own
   * response (Fastify answers a stream that fails at once, a file not found,
   * say, the same way); node:http2 would send the head at `writeHead`.
   */
  #head: StreamHead | undefined;
  readonly #refuse: (error: unknown) => void;

  constructor(res: NodeResponse, exchange: Exchange, response: StreamingResponse, source: StreamSource, declared: number, head: StreamHead, refuse: (error: unknown) => void) {
    this.#res = res;
    this.#exchange = exchange;
    this.#head = head;
    this.#refuse = refuse;
    this.#reader = new SourceReader(exchange, response, source, declared, this, 'connection closed');
    res.once('close', this.#onClose);
    void this.#reader.read();
  }

  get stopped(): boolean {
    return this.#state !== PUMPING;
  }

  write(bytes: Uint8Array): void {
    this.#writeHead();
    if (this.#res.write(bytes)) void this.#reader.read();
    else this.#res.once('drain', this.#onDrain);
  }

  end(): void {
    this.#state = ENDED;
    this.#writeHead();
    this.#res.end();
  }

  answer(error: unknown): boolean {
    if (this.#head === undefined) return false;
    this.#head = undefined;
    this.#state = STOPPED;
    this.#reader.release();
    this.#refuse(error);
    return true;
  }

  #writeHead(): void {
    const head = this.#head;
    if (head === undefined) return;
    this.#head = undefined;
    this.#res.writeHead(head.status, head.headers);
  }

  /** Ends the response unfinished: the connection is destroyed, so nothing of it can be taken for the next response. */
  cut(error: unknown): void {
    this.#state = STOPPED;
    this.#exchange.error = error;
    this.#reader.release();
    // node:http corks a tick's writes until the next tick (on the socket; Node 26 on the response, whose destroy()
    // drops them): what went before the failure (the head, the last chunks) is flushed first, so that the client sees
    // how far the response got, not an empty reply.
    const res = this.#res;
    if (res instanceof ServerResponse) {
      for (let corked = res.writableCorked; corked > 0; corked--) res.uncork();
      res.socket?.uncork();
    }
    res.destroy();
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
