import { NotFound } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import { fitsRedirect, redirect } from '../http/redirect.js';
import type { HttpResponse } from '../http/response.js';
import { echo } from '../util/echo.js';

/**
 * The redirect of `appendSlash` (Django's APPEND_SLASH): the same path with a
 * trailing slash, the query string kept. GET and HEAD get a 301; other
 * methods a 308, which keeps the method and the body (Django, which can only
 * send a 301, raises an error in debug mode instead, since a client would
 * replay a POST as a GET).
 */
export function slashRedirect(request: HttpRequest): HttpResponse {
  const { method } = request;
  return toSlashForm(request, method === 'GET' || method === 'HEAD' ? 301 : 308, `no route for ${echo(method)} ${echo(request.path)}`);
}

/**
 * The redirect to `path`'s slash form (`withSlash`), or, when its location
 * would be too long to send once percent-encoded, the 404 it stands for,
 * `miss` saying what was missed: the miss stays a miss, never a 500.
 */
export function toSlashForm(request: HttpRequest, status: number, miss: string, path = request.path): HttpResponse {
  const location = withSlash(request, path);
  if (!fitsRedirect(location)) throw new NotFound(`${miss}: the redirect to its slash form would be longer than clients read`);
  return redirect(location, status);
}

/** `path` (the request's, by default) with a trailing slash, and the request's query string: a location on this host. */
export function withSlash(request: HttpRequest, path = request.path): string {
  const { url } = request;
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  const query = q === -1 || (hash !== -1 && hash < q) ? '' : url.slice(q, hash === -1 ? undefined : hash);
  // Browsers read a backslash as a slash, so '/\evil.example' and '//evil.example' would be
  // another host: backslashes are encoded (as Django's escape_uri_path does), and a leading
  // '//' escaped (Django's escape_leading_slashes). Both still name the same route.
  const encoded = path.includes('\\') ? path.replaceAll('\\', '%5C') : path;
  const safe = encoded.startsWith('//') ? `/%2F${encoded.slice(2)}` : encoded;
  return `${safe}/${query}`;
}
