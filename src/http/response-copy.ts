import { kAfterEntries, kCookies, kTaskEntries } from '../symbols.js';
import { representationType, setRepresentationType } from './representation-type.js';
import { HttpResponse } from './response.js';
import type { ResponseBody } from './response-body.js';

/**
 * A copy of `response` with `body` (its status, its headers copied, its
 * pending cookies, the tasks it was built with, the type a 304 stands for),
 * for a middleware whose change holds for one request only (a body
 * compressed for this client's Accept-Encoding, the origin CORS allows): a
 * response may be shared by many requests (a
 * module-level constant), and changed in place it kept the change for the
 * next request, a client that accepts no gzip then sent gzip bytes. The
 * copy is sent instead; tasks the request gave the one it replaces still
 * run (Exchange.give).
 */
export function copyResponse(response: HttpResponse, body: ResponseBody): HttpResponse {
  // Made empty, then given the body: the constructor would add a Content-Type the response may not have.
  const copy = new HttpResponse(null, { status: response.status, headers: response.headers });
  copy.body = body;
  const type = representationType(response);
  if (type !== null && !copy.headers.has('content-type')) setRepresentationType(copy, type);
  copy[kAfterEntries] = response[kAfterEntries];
  copy[kTaskEntries] = response[kTaskEntries];
  // The same pending cookies, in a map of its own: a cookie set on the copy (a session middleware outside) is this request's alone.
  const cookies = response[kCookies];
  if (cookies !== undefined) copy[kCookies] = new Map(cookies);
  return copy;
}
