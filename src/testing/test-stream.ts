import { ReadableStream, TextDecoderStream, type ReadableStreamReadResult } from 'node:stream/web';
import { charsetOf } from '../http/body.js';

/** Where a line ends in an event stream (WHATWG HTML 9.2.5): CRLF, LF or CR alone. */
const LINE_END = /\r\n|\n|\r/;

/**
 * A response whose body is read as it arrives (`client.stream()`): its status
 * and headers as soon as its head is sent, its body chunk by chunk. Stopping
 * early (a `break` out of a loop over it, `close()`, the end of its `await
 * using` block) is the client going away, as over a real connection: the
 * app's stream is let go of (a generator's `finally` runs, its signal
 * aborts) and its outcome is aborted.
 *
 * @example
 * ```ts
 * await using res = await client.stream('GET', '/events');
 * assert.equal(res.headers.get('content-type'), 'text/event-stream');
 * for await (const line of res.lines()) {
 *   if (line === 'data: done') break;   // the app sees the client leave
 * }
 * ```
 */
export class TestStreamResponse implements AsyncIterable<Uint8Array>, AsyncDisposable {
  /** The body as a Web stream, as fetch's `Response.body` is; read once, by one reader (the iterators here take it too). */
  readonly body: ReadableStream<Uint8Array>;
  readonly #stop: (reason: Error) => void;

  constructor(
    readonly status: number,
    readonly headers: Headers,
    body: ReadableStream<Uint8Array>,
    stop: (reason: Error) => void,
    /** In-process only: the error the app turned into its error response, as `TestResponse.error`. */
    readonly error?: unknown,
  ) {
    this.body = watched(body, () => whenOver.get(this)?.());
    this.#stop = stop;
  }

  /** The body's chunks as they arrive; leaving the loop early closes the response. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.body.values();
  }

  /**
   * The body's text, line by line, as it arrives (an event stream's fields,
   * `data: ...`, and the blank line ending each event), in the charset its
   * Content-Type names (UTF-8 by default); without the line ends, CRLF, LF
   * or CR. Leaving the loop early closes the response.
   */
  async *lines(): AsyncGenerator<string, void, undefined> {
    let pending = '';
    /** The last chunk ended with a CR: a LF first in the next is the rest of that line end, not an empty line. */
    let afterCr = false;
    for await (const decoded of this.body.pipeThrough(decoder(this.headers.get('content-type')))) {
      const text: string = afterCr && decoded.startsWith('\n') ? decoded.slice(1) : decoded;
      afterCr = text.endsWith('\r');
      // Only the new text is split (the unfinished line holds no line end): a long line costs its length once, not once a chunk.
      const lines = text.split(LINE_END);
      lines[0] = pending + lines[0]!;
      pending = lines.pop()!;
      yield* lines;
    }
    if (pending !== '') yield pending;
  }

  /**
   * Stops reading, as a client that goes away: the app's stream is let go of
   * and its outcome is aborted; a read under way rejects. Nothing once the
   * body has been read to its end.
   */
  async close(): Promise<void> {
    whenOver.get(this)?.();
    this.#stop(new Error(`the test client closed the response (status ${this.status}) before its end`));
  }

  /** `await using res = await client.stream(...)`: closed at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** What to call once a response's body is over (see `onOver`). */
const whenOver = new WeakMap<TestStreamResponse, () => void>();

/** Calls `over` once `response`'s body is over: read to its end, failed, or cancelled (the client's own list of open streams). */
export function onOver(response: TestStreamResponse, over: () => void): void {
  whenOver.set(response, over);
}

/**
 * `body` read through a stream of its own that calls `over` when it ends,
 * fails or is cancelled; a chunk read only when one is asked for (no
 * read-ahead: a test reads each event before the app sends the next).
 */
function watched(body: ReadableStream<Uint8Array>, over: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await reader.read();
      } catch (error) {
        over();
        throw error;
      }
      if (read.done) {
        over();
        controller.close();
      } else {
        controller.enqueue(read.value);
      }
    },
    cancel(reason) {
      over();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** A decoder for the charset `contentType` names, UTF-8 when it names none or one no decoder knows (as `TestResponse.text()` reads). */
function decoder(contentType: string | null): TextDecoderStream {
  const charset = charsetOf(contentType);
  if (charset !== undefined) {
    try {
      return new TextDecoderStream(charset);
    } catch {
      // A charset no decoder knows: read as UTF-8, as a browser falls back.
    }
  }
  return new TextDecoderStream();
}
