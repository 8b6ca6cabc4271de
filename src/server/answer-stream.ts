import { constants, type Http2ServerResponse } from 'node:http2';

/**
 * Answers an HTTP/2 request the server refuses before the app does (a header
 * list too large, a body too slow) with a plain-text response, then closes
 * its stream with NO_ERROR (RFC 9113 8.1), so that a client still sending a
 * body does not hold it; what it sends is discarded.
 */
export function answerAndCloseStream(response: Http2ServerResponse, status: number, body: string): void {
  const { stream } = response;
  stream.resume();
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  // On the next turn: 'finish' comes before Node has queued the END_STREAM, which a reset now would cut off.
  response.end(body, () => setImmediate(() => {
    if (!stream.closed && stream.state.remoteClose !== 1) stream.close(constants.NGHTTP2_NO_ERROR);
  }));
}
