import { maxHeaderSize, type IncomingMessage } from 'node:http';

/**
 * The most bytes a chunked body may send between two bytes of its data: a
 * size line (Go's server caps it at 4 KiB), the extensions Node's parser
 * takes (16 KiB a chunk) and, after the last chunk, the trailers (a head's
 * `maxHeaderSize`).
 */
export const CHUNK_FRAMING_LIMIT = 4 * 1024 + 16 * 1024 + maxHeaderSize;

/** What the 400 says (after "the request is malformed: "). */
export const CHUNK_FRAMING_TOO_LONG = `its chunked framing ran past ${CHUNK_FRAMING_LIMIT} bytes without a byte of the body (a chunk-size line of leading zeros, which has no length limit in Node's parser)`;

/** The parts of node:http's parser (`socket.parser`, an `HTTPParser`) read here. */
interface Parser {
  [key: number]: unknown;
  _consumed?: boolean;
  constructor: { kOnExecute?: number };
}

/** On a watch: the callback of Node's it wraps. */
const kNodeOnExecute = Symbol('coda.nodeOnExecute');

type OnExecute = ((this: unknown, result: unknown) => unknown) & { [kNodeOnExecute]?: OnExecute };

/**
 * llhttp reads a chunk-size line of any length (`000…0005`): a client could
 * send gigabytes of zeros that no body byte came of, for as long as
 * `requestTimeoutMs` let it, and a proxy in front that caps the line (Go's
 * server: 4 KiB) read the stream otherwise than Coda. For a chunked request,
 * the bytes read off the socket since the body's last data are checked after
 * each read the parser takes (its `kOnExecute` callback, which node:http
 * calls with the parser's result); past `CHUNK_FRAMING_LIMIT` the read is
 * handed on as a parse error, which node:http reports as 'clientError': a
 * 400 naming the problem, the connection closed, and the view reading the
 * body sees its client gone (no more of the body is given to it). Only
 * chunked requests pay: one wrapped callback a read, one a body chunk. A
 * parser that reads from the socket's 'data' events (not consuming the
 * handle natively) is not watched.
 */
export function limitChunkFraming(request: IncomingMessage): void {
  const { socket } = request;
  const parser = (socket as { parser?: Parser | null }).parser;
  const key = parser?.constructor.kOnExecute;
  if (parser == null || parser._consumed !== true || key === undefined) return;
  // One watch a parser, over Node's own callback: a head comes once the request before it is whole, its watch done
  // (wrapping it instead, a client ending each body in the read with the next head grew a chain that overflowed the stack).
  const installed = parser[key] as OnExecute;
  const onExecute = installed[kNodeOnExecute] ?? installed;
  let lastData = socket.bytesRead;
  let refused = false;
  const push = request.push;
  request.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    // Nothing read after the refusal reaches the view: it sees its client gone when the connection closes.
    if (refused && chunk !== null) return true;
    lastData = socket.bytesRead;
    return push.call(this, chunk, encoding);
  };
  const watch: OnExecute = function (this: unknown, result) {
    if (request.complete || refused) {
      // A request after this one may have put its own watch in place already.
      if (parser[key] === watch) parser[key] = onExecute;
    } else if (typeof result === 'number' && socket.bytesRead - lastData > CHUNK_FRAMING_LIMIT) {
      refused = true;
      return onExecute.call(this, Object.assign(new Error(CHUNK_FRAMING_TOO_LONG), { reason: CHUNK_FRAMING_TOO_LONG }));
    }
    return onExecute.call(this, result);
  };
  watch[kNodeOnExecute] = onExecute;
  parser[key] = watch;
}
