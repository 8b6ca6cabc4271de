import type { IncomingHttpHeaders } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { peerOf, type RequestSource } from '../../http/request.js';
import { echo } from '../../util/echo.js';
import { repeatedField } from './repeated-fields.js';

const COLON = 0x3a;

/**
 * An HTTP/2 request as Coda takes every request, with the headers an
 * HTTP/1.1 request would have: the pseudo-headers (`:method`, `:path`,
 * `:scheme`, `:authority`) left out, and `:authority` as `Host` when the
 * client sent no Host (as RFC 9113 8.3.1 asks of a gateway to HTTP/1.1).
 * A CONNECT request has no `:path`: its target is the authority, as in
 * HTTP/1.1's authority form.
 */
export function http2Source(req: Http2ServerRequest): RequestSource {
  const given = req.headers;
  const headers: IncomingHttpHeaders = {};
  for (const name of Object.keys(given)) if (name.charCodeAt(0) !== COLON) headers[name] = given[name];
  const authority = given[':authority'];
  if (headers.host === undefined && authority !== undefined) headers.host = authority;
  // The peer is read now: once the stream is closed, Node's request no longer reaches its connection (an access line had no address).
  const session = req.stream.session;
  const peer = session === undefined || session.destroyed ? undefined : peerOf(session.socket);
  return { method: req.method, url: req.url ?? authority ?? '', headers, body: req, raw: req, remoteAddress: peer?.address, encrypted: peer?.encrypted };
}

/**
 * What is wrong with an HTTP/2 request's Host, or with the other fields it
 * carries once (see `repeatedField`), or undefined when nothing is (two Host
 * fields never come here: nghttp2 resets their stream). A Host that names
 * another authority than `:authority` (letter case, an empty port and the
 * scheme's default port aside) is wrong: RFC 9113 8.3.1 forbids a server to
 * take the target from Host when `:authority` is there, and asks it to treat
 * such a request as malformed; Coda took Host, so a proxy routing by
 * `:authority` and the app (`request.host`, allowedHosts) each believed a
 * different host, as with two Host lines over HTTP/1.1.
 */
export function authorityProblem(source: RequestSource): string | undefined {
  const raw = source.raw;
  if (raw === undefined) return undefined;
  const given = raw.headers;
  const repeated = repeatedField(given, raw.rawHeaders);
  if (repeated !== undefined) return repeated;
  const authority = given[':authority'];
  const host = source.headers.host;
  if (authority === undefined || host === undefined || host === authority) return undefined;
  const scheme = given[':scheme'];
  if (comparable(host, scheme) === comparable(authority, scheme)) return undefined;
  return `the request's Host ${JSON.stringify(echo(host))} differs from its :authority ${JSON.stringify(echo(authority))} (RFC 9113 8.3.1)`;
}

/** The port a scheme's authority means when it names none. */
const DEFAULT_PORTS: Partial<Record<string, string>> = { http: ':80', https: ':443' };

/**
 * An authority as RFC 9110 4.2.3 compares them: in lower case, an empty port
 * or the scheme's default (`:443` for https, `:80` for http) the same as none.
 */
function comparable(authority: string, scheme: string | string[] | undefined): string {
  const lower = authority.toLowerCase();
  if (lower.endsWith(':')) return lower.slice(0, -1);
  const port = typeof scheme === 'string' ? DEFAULT_PORTS[scheme.toLowerCase()] : undefined;
  return port !== undefined && lower.endsWith(port) ? lower.slice(0, -port.length) : lower;
}
