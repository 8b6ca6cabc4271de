import { HttpResponse } from './response.js';
import { describe } from '../util/describe.js';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** The schemes a redirect may name (Django's `allowed_schemes`): `javascript:`, `data:` and the like run in the browser that follows them. */
const SAFE_SCHEMES = new Set(['http', 'https', 'ftp']);
/** A URL's scheme as a browser reads it: leading spaces and control characters skipped, tabs and newlines anywhere ignored. */
const SCHEME = /^[\x00-\x20]*([a-z][a-z0-9+.-]*):/i;

/**
 * A redirect to `location`: a path, or an absolute URL whose scheme is
 * http, https or ftp (as Django refuses others: a `javascript:` location
 * made of user input runs script in the browser that follows it). What a URI
 * cannot hold is percent-encoded as Django's iri_to_uri does: non-ASCII
 * characters as UTF-8 (`/café` goes out as `/caf%C3%A9`), a space, a
 * backslash (which browsers read as a slash: `/\evil.example` would lead to
 * another host), a double quote, `` <>^`{|} `` and tab; `%` is kept (a location encoded
 * already stays as it is). A location past 16384 characters so encoded (Django's
 * MAX_URL_REDIRECT_LENGTH) is refused: few clients read a head that long.
 *
 * @example
 * ```ts
 * return redirect(app.reverse('note', { id }), 303);
 * ```
 */
export function redirect(location: string, status = 302): HttpResponse {
  // From JavaScript, redirect(request.query.get('next')) gave null, and the error was "Cannot read properties of null".
  if (typeof location !== 'string') {
    throw new TypeError(`redirect() takes the location as a string, got ${describe(location)}${(location as unknown) instanceof URL ? ' (give its href)' : ''}`);
  }
  if (!REDIRECT_STATUSES.has(status)) {
    throw new RangeError(`redirect status must be one of 301, 302, 303, 307, 308, got ${status}`);
  }
  const scheme = SCHEME.exec(location.replace(/[\t\n\r]/g, ''))?.[1]?.toLowerCase();
  if (scheme !== undefined && !SAFE_SCHEMES.has(scheme)) {
    throw new TypeError(`redirect(): unsafe redirect to a URL with the scheme '${scheme}:' (only http, https and ftp, or a path)`);
  }
  const uri = asciiLocation(location);
  if (uri.length > MAX_LOCATION) {
    throw new TypeError(`redirect(): the location comes to ${uri.length} characters as sent, past ${MAX_LOCATION}: a head that long is more than clients and proxies read (undici's fetch reads a 16 KiB head, nginx's proxy buffer 4 or 8 KiB), as Django refuses it (MAX_URL_REDIRECT_LENGTH)`);
  }
  return new HttpResponse(null, { status, headers: { location: uri } });
}

/** The longest location a redirect sends (Django's MAX_URL_REDIRECT_LENGTH), counted percent-encoded. */
const MAX_LOCATION = 16_384;

/** Whether `location` is short enough, once percent-encoded, for redirect() to send it. */
export function fitsRedirect(location: string): boolean {
  return asciiLocation(location).length <= MAX_LOCATION;
}

/** A location as a URI (RFC 3987's IRI to URI, as Django's iri_to_uri): what a URI cannot hold percent-encoded, as UTF-8. */
function asciiLocation(location: string): string {
  try {
    return location.replace(NOT_URI, encodeURIComponent);
  } catch {
    throw new TypeError(`redirect(): the location ${JSON.stringify(location)} is not well-formed Unicode (a lone surrogate)`);
  }
}

/**
 * Neither a URI character nor one Django's iri_to_uri keeps, nor a control
 * character but tab: CR, LF and the rest are left for the header's check to
 * refuse (a location with CRLF is an injection attempt, not a path).
 */
const NOT_URI = /[^\x00-\x08\x0a-\x1f\x7fA-Za-z0-9\-._~/#%[\]=:;$&()+,!?*@']+/g;
