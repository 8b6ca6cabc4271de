import { HttpResponse, JsonResponse, type HttpRequest, type MiddlewareFactory, type MiddlewareHooks } from 'coda-http';
import { timeline } from './timeline.js';

/** Adds a Server-Timing header: how long the inner layers took. */
export const timing: MiddlewareFactory = (getResponse) => async (request) => {
  const t0 = performance.now();
  const response = await getResponse(request);
  response.headers.set('server-timing', `app;dur=${(performance.now() - t0).toFixed(2)}`);
  return response;
};

/**
 * Bearer-token auth: short-circuits with 401 before routing (Django's
 * process_request). Its afterResponse hook writes the audit log once the
 * response is out, for every request it saw, refused ones included.
 */
export class Auth implements MiddlewareHooks {
  readonly name = 'auth';
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  processRequest(request: HttpRequest): HttpResponse | undefined {
    if (request.path === '/health') return undefined;
    if (request.headers.get('authorization') !== `Bearer ${this.#token}`) {
      return new JsonResponse({ error: { status: 401, message: 'missing or wrong bearer token' } }, {
        status: 401,
        headers: { 'www-authenticate': 'Bearer' },
      });
    }
    request.state.user = 'demo';
    return undefined;
  }

  afterResponse(request: HttpRequest, response: HttpResponse): void {
    timeline.task(request, 'audit', `${request.state.user ?? 'anonymous'} ${request.method} ${request.path} -> ${response.status}`);
  }
}
