import type { HttpResponse } from '../http/response.js';
import type { ResponseBody } from '../http/response-body.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { kNodeHeaders } from '../symbols.js';
import { webHeaders } from '../transport/fetch/response.js';
import { dropHttp1Framing, frameFixed, frameStream } from '../transport/framing.js';

/**
 * The headers a client gets with `response` to `method`, framed as a socket
 * frames them (framing.ts): a fixed body's Content-Length (a HEAD's too),
 * none for 1xx and 204, no Transfer-Encoding the app set nor a Connection
 * other than close; and a Date, as node:http adds one to every response the
 * app gave none. Call once the body is known to be sendable.
 */
export function sentHeaders(response: HttpResponse, method: string): Headers {
  const headers = response.headers[kNodeHeaders]();
  dropHttp1Framing(headers);
  if (response instanceof StreamingResponse) frameStream(headers, method, response.status);
  else frameFixed(headers, method, response.status, response.body !== null, byteLength(response.body as ResponseBody));
  const sent = webHeaders(headers);
  // Node's sendDate: in the client's Headers only, not on the response the tasks see (Node's record has none either).
  if (!sent.has('date')) sent.set('date', new Date().toUTCString());
  return sent;
}

function byteLength(body: ResponseBody): number {
  if (body === null) return 0;
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}
