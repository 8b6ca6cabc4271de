import { JsonResponse, type HttpRequest, type MiddlewareHooks } from 'coda-http';

declare module 'coda-http' {
  interface RequestState {
    /** Who the request acts for, set by {@link Auth}. */
    user: string;
  }
}

/** The signed cookie `POST /api/login` sets: a browser's way in, where scripts send the bearer token. */
export const SESSION_COOKIE = 'session';

/**
 * Lets in a request with the bearer token or a signed session cookie, as
 * Django's `process_request` would: anything else is a 401 before the view.
 */
export function auth(token: string): MiddlewareHooks {
  return {
    name: 'auth',
    processRequest(request: HttpRequest) {
      if (request.path === '/api/login') return undefined;
      const session = request.signedCookies.get(SESSION_COOKIE, { maxAge: 86_400 });
      if (session !== undefined) request.state.user = session;
      else if (request.headers.get('authorization') === `Bearer ${token}`) request.state.user = 'api';
      else return new JsonResponse({ error: 'a bearer token or a session cookie is needed' }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
      return undefined;
    },
  };
}
