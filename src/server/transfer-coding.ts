import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from '../observe/refusal.js';
import { limitChunkFraming } from './chunk-framing.js';
import { malformed, refuseHttp1 } from './refuse-http1.js';
import { echo } from '../util/echo.js';

/** The 501's reason, as the access log records it (the body names the client's coding). */
export const UNSUPPORTED_CODING = 'a Transfer-Encoding other than chunked is not supported';
/** llhttp's reason for refusing a coding list that does not end in chunked. */
export const INVALID_CODING = 'Request has invalid `Transfer-Encoding`';
const HTTP10_REASON = 'an HTTP/1.0 request has a Transfer-Encoding, which HTTP/1.0 does not have';
/** Codings and then chunked: what Node's parser takes and reads as chunked alone (it refuses a list that does not end in chunked itself). */
const CODED_AND_CHUNKED = /,[\t ]*chunked$/i;
/** llhttp reads a request's body as chunked only when `chunked` is its last coding (a token of its own). */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked$/i;
/** Requests left for llhttp to refuse: client-error.ts records their refusal, as no exchange of the app's will. */
const leftToParser = new WeakSet<object>();
/** Requests whose head llhttp refused after node:http handed them on (client-error.ts marks them). */
const refusedByParser = new WeakSet<object>();

/**
 * Answers 501, and closes the connection, when an HTTP/1.1 request's
 * Transfer-Encoding has codings before `chunked`, and 400 when an HTTP/1.0
 * request has one at all; returns whether it did. HTTP/1.0 has no transfer
 * codings: RFC 9112 6.1 has such a request's framing taken as faulty, and
 * the connection closed. Node read its body as chunked, where Go reads none
 * (by Content-Length), as may a proxy in front: the bytes one took for the
 * body the other read as the next request.
 * Node's parser refuses (400) a coding list that does not end in `chunked`
 * (only once node:http has handed the request here: it is not served, and
 * the parser's error answers it), but takes `gzip, chunked` (or two Transfer-Encoding lines) and undoes only
 * the chunking, so the app read the gzip bytes as the body itself, where a
 * proxy in front may have read another. RFC 9112 6.1 asks for a 501; Go and
 * nginx accept `chunked` alone too. The answer names the coding; the log line does
 * not (it is the client's bytes). A chunked body's framing is bounded
 * (`limitChunkFraming`).
 */
export function refuseTransferCoding(request: IncomingMessage, response: ServerResponse, refused: (refusal: Refusal) => void): boolean {
  const coding = request.headers['transfer-encoding'];
  if (coding === undefined) return false;
  if (request.httpVersionMinor === 0) {
    refuseHttp1(request, response, 400, `${HTTP10_REASON}: its body cannot be told apart from what follows (RFC 9112 6.1)\n`, HTTP10_REASON, refused);
    return true;
  }
  if (!chunkedLast(coding)) {
    // llhttp refuses it (400) once node:http has handed it here, in the same read: the app must not see it (a view
    // that answered at once was served it, and its answer went out instead). client-error.ts answers the parser's error.
    leftToParser.add(request);
    // A parser run lenient (node --insecure-http-parser) takes it and reads the body to the connection's end: refused here then, as llhttp would.
    queueMicrotask(() => {
      if (request.socket.writableEnded || request.socket.destroyed) return;
      const [status, text] = malformed(INVALID_CODING);
      refuseHttp1(request, response, status, `${text}\n`, text, refused);
    });
    return true;
  }
  const body = unsupportedCoding(coding);
  if (body === undefined) {
    // Node's parser refuses any other coding list: this body is chunked.
    limitChunkFraming(request);
    return false;
  }
  // The connection closed: what follows the head is not known to be this body, and must not be read as the next request.
  refuseHttp1(request, response, 501, body, UNSUPPORTED_CODING, refused);
  return true;
}

/**
 * Calls `serve` for a request `refuseTransferCoding` let through, but for one
 * with a Transfer-Encoding only once llhttp has gone on past its head, and
 * not at all if it refused the request before reaching its body. llhttp
 * takes `chunked` as the last coding only when spaces alone follow it:
 * `chunked` then a tab (OWS too, RFC 9110 5.6.3) it refuses (400), and Node
 * trims the tab off the value checked here. Handed on at once, a view that
 * answered at once was served it and its 200 sent, not the 400; one reading
 * the body ran its task. The refusal comes before a microtask runs (as for a
 * coding list not ending in chunked), and so does one of a chunk size in
 * the same read; a fault after some of the body reaches the view reading
 * it, which sees the request cut off. Such a request costs one microtask.
 */
export function serveUnlessParserRefuses(request: IncomingMessage, serve: () => void): void {
  if (request.headers['transfer-encoding'] === undefined) {
    serve();
    return;
  }
  leftToParser.add(request);
  queueMicrotask(() => {
    if (refusedByParser.has(request)) return;
    leftToParser.delete(request);
    serve();
  });
}

/** Records that llhttp refused `request` after its head was handed on (client-error.ts answers it). */
export function markRefusedByParser(request: object): void {
  refusedByParser.add(request);
}

/** Whether llhttp reads a Transfer-Encoding as chunked; it refuses any other (400). */
export function chunkedLast(coding: string): boolean {
  return CHUNKED_LAST.test(coding);
}

/** Whether `request` was left for llhttp to refuse (see `refuseTransferCoding`). */
export function isLeftToParser(request: object): boolean {
  return leftToParser.has(request);
}

/** The body of the 501 for an HTTP/1.1 request's Transfer-Encoding (one Node's parser took), or undefined for `chunked` alone. */
export function unsupportedCoding(coding: string): string | undefined {
  if (!CODED_AND_CHUNKED.test(coding)) return undefined;
  return `the request's Transfer-Encoding ${JSON.stringify(echo(coding))} is not supported: this server decodes chunked alone (RFC 9112 6.1)\n`;
}
