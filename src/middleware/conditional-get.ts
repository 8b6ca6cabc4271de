import { createHash } from 'node:crypto';
import { notModified } from '../http/not-modified.js';
import { conditionsAnswer, httpDate, preconditionFailed } from '../http/preconditions.js';
import type { HttpRequest } from '../http/request.js';
import { copyResponse } from '../http/response-copy.js';
import type { HttpResponse } from '../http/response.js';
import type { MiddlewareHooks } from '../pipeline/types.js';
import { checkBoolean, checkKeys } from '../util/options.js';

/** `conditionalGet()`'s options. */
export interface ConditionalGetOptions {
  /** Give a fixed 2xx body without an ETag a strong one, from a hash of its bytes. Default true; false compares only the validators the response has. */
  etag?: boolean;
}

const NO_STORE = /(?:^|,)\s*no-store\s*(?:,|$)/i;

/**
 * Conditional GET, as Django's ConditionalGetMiddleware: a fixed 2xx body
 * to a GET or HEAD without an ETag gets a strong one (a SHA-1 of its bytes),
 * unless it is empty or `Cache-Control` says `no-store`; then a response with
 * an ETag or Last-Modified is compared with the request's conditions in RFC
 * 9110 13.2.2's order: If-Match (strong comparison, `*` holds), else a valid
 * If-Unmodified-Since, failing is a 412; If-None-Match (weak comparison,
 * `*` matches) matching, else (without If-None-Match) a valid
 * If-Modified-Since no older than Last-Modified, is a 304. A date that is no
 * HTTP-date is ignored. The 304 has no body and keeps only Cache-Control,
 * Content-Location, Date, ETag, Expires, Last-Modified, Vary and the cookies;
 * its after() tasks run, and the outcome says 304.
 *
 * HEAD is handled as GET, where Django leaves it: Coda runs the GET view for
 * a HEAD and drops the body when sending, so the tag is the GET's. A
 * StreamingResponse is never read to be hashed; its own validators are
 * compared. Other methods and statuses pass untouched. Never in place: a
 * response shared by many requests is copied before its tag is written.
 *
 * Put it after `compress()` (inside it): the tag is then the identity
 * bytes', which compress() makes weak when it compresses them, and a client
 * that sends that weak tag back gets its 304 by weak comparison.
 *
 * @example
 * ```ts
 * createApp({ middleware: [compress(), conditionalGet()], routes });
 * ```
 */
export function conditionalGet(options: ConditionalGetOptions = {}): MiddlewareHooks {
  checkKeys('conditionalGet()', options, ['etag']);
  const addTags = checkBoolean('conditionalGet(): etag', options.etag ?? true);
  return {
    name: 'conditionalGet',
    processResponse(request: HttpRequest, response: HttpResponse): HttpResponse {
      const { method } = request;
      if ((method !== 'GET' && method !== 'HEAD') || response.status < 200 || response.status > 299) return response;
      const made = addTags && !response.headers.has('etag') ? strongTag(response) : undefined;
      const etag = made ?? response.headers.get('etag') ?? undefined;
      const lastModified = response.headers.get('last-modified');
      const modified = lastModified === null ? undefined : httpDate(lastModified);
      const answer = conditionsAnswer(request.headers, etag, modified);
      if (answer === 412) throw preconditionFailed(request.path);
      if (answer === 304) return notModified(response, made);
      if (made === undefined) return response;
      const tagged = copyResponse(response, response.body);
      tagged.headers.set('etag', made);
      return tagged;
    },
  };
}

/** A strong tag for a fixed, non-empty body that may be stored; undefined otherwise. */
function strongTag(response: HttpResponse): string | undefined {
  const { body } = response;
  if (body === null || body.length === 0) return undefined;
  const cacheControl = response.headers.get('cache-control');
  if (cacheControl !== null && NO_STORE.test(cacheControl)) return undefined;
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}
