import type { HttpRequest } from '../http/request.js';
import { redirect, type HttpResponse } from '../http/response.js';

/**
 * The redirect of `appendSlash` (Django's APPEND_SLASH): the same path with a
 * trailing slash, the query string kept. GET and HEAD get a 301; other
 * methods a 308, which keeps the method and the body (Django, which can only
 * send a 301, raises an error in debug mode instead, since a client would
 * replay a POST as a GET).
 */
export function slashRedirect(request: HttpRequest): HttpResponse {
  const { method } = request;
  return redirect(withSlash(request), method === 'GET' || method === 'HEAD' ? 301 : 308);
}

/** The request's path with a trailing slash, and its query string: a location on this host. */
export function withSlash(request: HttpRequest): string {
  const { url } = request;
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  const query = q === -1 || (hash !== -1 && hash < q) ? '' : url.slice(q, hash === -1 ? undefined : hash);
  // '//evil.example' would be read as another host by the client (Django's escape_leading_slashes).
  const path = request.path.startsWith('//') ? `/%2F${request.path.slice(2)}` : request.path;
  return `${path}/${query}`;
}
