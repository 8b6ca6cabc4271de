import { representationType, setRepresentationType } from './representation-type.js';
import { copyResponse } from './response-copy.js';
import type { HttpResponse } from './response.js';

/** The headers a 304 keeps (RFC 9110 15.4.5, and Last-Modified as Django keeps it), the cookies with them. */
const KEPT = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary', 'set-cookie']);

/**
 * The 304 for `response` (conditionalGet()'s, FileResponse's): no body, the
 * headers RFC 9110 15.4.5 has it keep and the cookies (pending ones too),
 * its tasks; `etag` in place of its own when given. Its type is kept beside
 * it, unsent, for compress() to give it the Vary its 200 has.
 */
export function notModified(response: HttpResponse, etag?: string): HttpResponse {
  const type = representationType(response);
  const answer = copyResponse(response, null);
  answer.status = 304;
  const names = Array.from(answer.headers, ([name]) => name);
  for (const name of names) if (!KEPT.has(name)) answer.headers.delete(name);
  if (etag !== undefined) answer.headers.set('etag', etag);
  return type === null ? answer : setRepresentationType(answer, type);
}
