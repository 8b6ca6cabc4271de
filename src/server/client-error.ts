import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { refusalOf, type Refusal } from '../observe/refusal.js';
import { kCutOff } from '../symbols.js';
import { TIMED_OUT, type NodeResponse } from '../transport/node/response.js';
import { overflowAnswer, type OverflowError } from './head-overflow.js';
import { malformed } from './refuse-http1.js';
import { isLeftToParser, markRefusedByParser } from './transfer-coding.js';

/** Node's parser errors (llhttp's `HPE_` codes) and its timeouts, as Node reports them on 'clientError'. */
interface ClientError extends Error, OverflowError {
  code?: string;
  /** llhttp's own words for what was wrong: "Invalid header value char". */
  reason?: string;
}

/** Status and words for the errors that are not a plain 400 ("the request is malformed: …") or a head too large (`overflowAnswer`). */
const ANSWERS: Record<string, [status: number, text: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, TIMED_OUT],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'the chunk extensions are larger than the server accepts'],
  // llhttp stops at the HTTP/2 preface (`PRI * HTTP/2.0`), a client speaking h2c with prior knowledge, and says "Pause on PRI/Upgrade".
  HPE_PAUSED_H2_UPGRADE: [505, 'the HTTP/2 preface (h2c) is not served: this connection speaks HTTP/1.1, and this server speaks HTTP/2 only over TLS, negotiated with ALPN (h2)'],
};

/**
 * Answers a request Node's parser refused before Coda saw it (malformed,
 * too large, too slow), as Node would (400, 431 or 408, then the connection
 * closed; but 414 for a URL too long, which Node answers 431, and 505 for the
 * HTTP/2 preface, which it answers 400) with a body
 * that names the problem: Node sends none. When the
 * refused request was pipelined behind one still being answered, that answer
 * goes out first: written now, the refusal would be read as its answer. A
 * connection already answering the refused request itself, or no longer
 * writable, is only closed; a reset needs no answer.
 */
export function answerClientError(error: ClientError, socket: Duplex, refused: (refusal: Refusal) => void): void {
  // Bytes after a `Connection: close` request (Node 22's llhttp refuses them, 24's ignores them) are no request to answer
  // (RFC 9112 9.6: read no further): the answers owed go out, and Node closes the connection after the last, as on 24.
  if (error.code === 'HPE_CLOSED_CONNECTION') return;
  // The request llhttp refused after its head was handed on must not reach the app, even if the answer waits.
  const refusing = parsing(socket);
  if (refusing?.complete === false) markRefusedByParser(refusing);
  const owed = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (owed?.req.complete === true && !owed.writableFinished) {
    owed.once('finish', () => answerClientError(error, socket, refused));
    return;
  }
  // A response already sent whole is no longer owed (Node 22 keeps it on the socket a little longer than 24).
  if (error.code === 'ECONNRESET' || !socket.writable || beforeHttp(socket) || (owed?.headersSent === true && !owed.writableFinished) || answered(socket)) {
    socket.destroy();
    return;
  }
  const known = error.code === 'HPE_HEADER_OVERFLOW' ? overflowAnswer(error, socket)
    : error.code === 'HPE_INVALID_EOF_STATE' ? endedEarly(socket)
    : error.code === undefined ? undefined : ANSWERS[error.code];
  const [status, text] = known ?? malformed(error.reason ?? error.message);
  answerAndClose(socket, status, `${text}\n`);
  const incoming = parsing(socket);
  // A request the app was given (its body too slow, or malformed) is recorded with its exchange, with this status: not twice.
  if (incoming?.complete === false && !isLeftToParser(incoming)) {
    if (owed?.req === incoming) (owed as NodeResponse)[kCutOff] = { status, reason: text };
  } else if ((socket as Partial<Socket>).bytesRead !== 0) {
    // A connection that sent nothing (a browser's preconnect, a port probe) gets its 408 as from Node, but it is no request: not recorded.
    refused(refusalOf(status, text, socket as Partial<Socket>, error.code));
  }
}

/**
 * The 400 for a request whose client closed its side of the connection
 * before the request was whole (llhttp says only "Invalid EOF state"): which
 * part was cut short, its head or its body.
 */
function endedEarly(socket: Duplex): [status: number, text: string] {
  const part = parsing(socket)?.complete === false
    ? 'its body was shorter than its Content-Length (or a chunked body lacked its last chunk)'
    : 'its head was cut short';
  return [400, `the client closed its side of the connection before the request was complete: ${part}`];
}

/**
 * Whether the error came before node:http took the connection: node:https and
 * node:http2 report a TLS handshake that failed or timed out here too. No
 * HTTP answer can go out on such a socket (written, it would wait for a
 * handshake that never comes, and the connection would stay open for good).
 */
function beforeHttp(socket: Duplex): boolean {
  return (socket as { parser?: unknown }).parser === undefined;
}

/**
 * Whether the request being parsed was answered already: its response went
 * out whole while its body was still arriving (the view did not read it, so
 * Node discards the rest). A refusal of it now (the body too slow: 408) would
 * be a second response to one request, read by the client as the answer to
 * its next one.
 */
function answered(socket: Duplex): boolean {
  const incoming = parsing(socket);
  if (incoming?.complete !== false) return false;
  // Node dumps what a response leaves unread once it is sent (a request already whole too: it keeps the parser's last);
  // Node 22 may tell the body's fault before, its response out whole already (a 400 then followed the view's 200).
  const owed = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  return incoming._dumped === true || (owed?.req === (incoming as object) && owed.headersSent);
}

/** The request node:http's parser is on: the last whose head it parsed (whole already, if the refused one is the next). */
function parsing(socket: Duplex): { complete: boolean; _dumped?: boolean } | null | undefined {
  return (socket as { parser?: { incoming?: { complete: boolean; _dumped?: boolean } | null } | null }).parser?.incoming;
}

/**
 * Writes a whole plain-text response on a socket no request of the app owns
 * (Node's parser refused it, or it asked for a tunnel), then closes it:
 * destroyed once written, as Node no longer tracks the socket and no
 * timeout or shutdown would close it.
 */
export function answerAndClose(socket: Duplex, status: number, body: string): void {
  socket.on('error', () => {});
  const head = closingHeaders(body).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`, () => socket.destroy());
}

/** The header fields of `answerAndClose`'s answer, in order (no Date: Node adds it to its own responses only). */
export function closingHeaders(body: string): [name: string, value: string][] {
  return [['Connection', 'close'], ['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(Buffer.byteLength(body))]];
}
