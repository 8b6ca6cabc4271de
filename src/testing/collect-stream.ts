import type { Exchange } from '../after/exchange.js';
import type { StreamingResponse } from '../http/streaming-response.js';
import { SourceReader, type ChunkSink } from '../transport/source-reader.js';

/** What the in-process client does with what a stream comes to, besides its bytes. */
export interface StreamEnds {
  /** The source failed after its first byte (logged already): the response is cut. */
  failed(error: unknown): void;
  /** The source failed before its first byte: the body of the error's own response instead, as a server answers it. */
  refuse(error: unknown): Promise<Buffer>;
}

/**
 * Reads a `StreamingResponse`'s body for the in-process test client, chunk by
 * chunk as a server sends it (see source-reader.ts): the Content-Length the
 * app declared is kept, a source that fails before its first byte is
 * answered by `ends.refuse`, one that fails after it is logged and cut.
 * `signal` aborting (the request's timeoutMs ran out) stops the reading and
 * lets go of the source, as a client that leaves: the promise then resolves
 * with what came, and `signal.aborted` says why.
 */
export function collectStream(exchange: Exchange, response: StreamingResponse, declared: number, signal: AbortSignal, ends: StreamEnds): Promise<Buffer> {
  return new Promise((resolve) => new Collector(exchange, response, declared, signal, ends, resolve));
}

/** The reader's sink: the chunks in memory, until the source ends, fails or the test stops waiting. */
class Collector implements ChunkSink {
  readonly #reader: SourceReader;
  readonly #signal: AbortSignal;
  readonly #ends: StreamEnds;
  readonly #resolve: (bytes: Buffer | Promise<Buffer>) => void;
  readonly #chunks: Uint8Array[] = [];
  /** A chunk came: a failure now is a cut, not an answer. */
  #begun = false;
  #stopped = false;

  constructor(exchange: Exchange, response: StreamingResponse, declared: number, signal: AbortSignal, ends: StreamEnds, resolve: (bytes: Buffer | Promise<Buffer>) => void) {
    this.#signal = signal;
    this.#ends = ends;
    this.#resolve = resolve;
    this.#reader = new SourceReader(exchange, response, response.stream, declared, this, "the test client's request fails");
    signal.addEventListener('abort', this.#leave, { once: true });
    void this.#reader.read();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  write(bytes: Uint8Array): void {
    this.#begun = true;
    this.#chunks.push(bytes);
    void this.#reader.read();
  }

  end(): void {
    this.#halt(false);
    this.#resolve(Buffer.concat(this.#chunks));
  }

  cut(error: unknown): void {
    this.#ends.failed(error);
    this.#halt(true);
    this.#resolve(Buffer.concat(this.#chunks));
  }

  answer(error: unknown): boolean {
    if (this.#begun) return false;
    this.#halt(true);
    this.#resolve(this.#ends.refuse(error));
    return true;
  }

  readonly #leave = (): void => {
    if (this.#stopped) return;
    this.#halt(true);
    this.#resolve(Buffer.concat(this.#chunks));
  };

  /** No more reading: the source is let go of (`release`) unless it ended. */
  #halt(release: boolean): void {
    this.#stopped = true;
    this.#signal.removeEventListener('abort', this.#leave);
    if (release) this.#reader.release();
  }
}
