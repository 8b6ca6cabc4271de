import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

/**
 * A Node Readable of a Web stream (a Request's body, a fetched Response's)
 * whose failure while nobody reads it is kept for its reader: Readable.fromWeb
 * destroys its Readable with the stream's error at once, an 'error' that,
 * with no listener yet (a view that ignores the body, a response not yet
 * sent), was uncaught and took the process down. A read of it fails with it.
 */
export function readableOfWeb(stream: ReadableStream<Uint8Array>): Readable {
  const readable = Readable.fromWeb(stream as NodeReadableStream<Uint8Array>);
  readable.on('error', keptForTheReader);
  return readable;
}

/** The error stays on the Readable (`errored`), where a read finds it. */
function keptForTheReader(): void {}
