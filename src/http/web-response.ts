import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import * as zlib from 'node:zlib';
import { ProgrammingError } from './errors.js';
import { HttpResponse } from './response.js';
import { StreamingResponse } from './streaming-response.js';

/** Fields about one connection, not the response (RFC 9110 7.6.1): a proxy drops them, and so does Coda from a Response fetch() got. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/**
 * The content codings fetch() (undici) decodes: a body in them comes out
 * decoded, under the upstream's Content-Encoding and Content-Length still.
 * zstd from undici 7 (Node 24 and later) where zlib has it: Node 22's undici
 * 6 passes a zstd body on encoded, though its zlib has zstd.
 */
const DECODED = new Set(['gzip', 'x-gzip', 'deflate', 'br', ...('createZstdDecompress' in zlib && undiciMajor() >= 7 ? ['zstd'] : [])]);

function undiciMajor(): number {
  return Number.parseInt(process.versions['undici'] ?? '0', 10);
}

/**
 * Turns a Web-standard `Response` (accepted from views) into an
 * `HttpResponse`: its body, if any, streamed (a Content-Length it carries is
 * kept, and held to; the Fetch API gives no other: one made from a string
 * goes out chunked). A Response that `fetch()` got (`type` 'basic' or
 * 'cors'; the app's own are 'default') is forwarded as a proxy forwards it:
 * without the upstream connection's fields, and, when fetch() decoded its
 * body, without the Content-Encoding and Content-Length that described the
 * encoded bytes (sent as they were, the client would decode a body that is
 * not encoded, and the length would cut it short).
 */
export function fromWebResponse(web: Response): HttpResponse {
  // Readable.fromWeb's own words ("ReadableStream is locked") name neither the Response nor the mistake.
  if (web.bodyUsed || web.body?.locked === true) {
    throw new ProgrammingError('a Response whose body was read already (or is being read) cannot be sent: its body is read once, as it is sent; make a new Response for each request (a module-level one is sent once), or send response.clone()');
  }
  const dropped = web.type === 'default' ? undefined : fetchedOnly(web);
  // Pairs, which the response's constructor checks and fills in one pass (a ResponseHeaders given it is copied).
  const headers: [string, string][] = [];
  web.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && dropped?.has(name) !== true) headers.push([name, value]);
  });
  for (const cookie of web.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  if (web.body === null) return new HttpResponse(null, { status: web.status, headers });
  // An upstream cut before the response is sent (a hook or the journal holding it) fails it then, its error's own 500: see StreamingResponse.
  return new StreamingResponse(Readable.fromWeb(web.body as ReadableStream), { status: web.status, headers });
}

/** The headers of a fetched Response that were the upstream connection's, or the encoded body's. */
function fetchedOnly(web: Response): Set<string> {
  const dropped = new Set(HOP_BY_HOP);
  // Connection names the other fields of that connection alone.
  for (const name of (web.headers.get('connection') ?? '').split(',')) dropped.add(name.trim().toLowerCase());
  const coding = web.headers.get('content-encoding');
  // undici decodes every coding or, when one is unknown to it, none (the bytes as sent, their length too).
  if (web.body !== null && coding !== null && coding.split(',').every((each) => DECODED.has(each.trim().toLowerCase()))) {
    dropped.add('content-encoding');
    dropped.add('content-length');
  }
  return dropped;
}
