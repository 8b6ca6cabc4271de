import FindMyWay from 'find-my-way';
import { BadRequest, MethodNotAllowed, NotFound } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import { HttpResponse } from '../http/response.js';
import type { View } from '../pipeline/types.js';
import { kBodyLimit } from '../symbols.js';
import { describe } from '../util/describe.js';
import { fillPath } from './reverse.js';
import { METHODS, type Method, type Route } from './routes.js';

/** What the route table keeps for a route, and hands to the view stage. */
export interface RouteTarget {
  view: View;
  /** "view showNote", named for error messages. */
  culprit: string;
  bodyLimit: number | undefined;
  /** The path pattern, for `request.route`. */
  pattern: string;
}

const NO_QUERY = (): Record<string, string> => ({});

/**
 * The route table, over find-my-way (Fastify's radix-tree router). GET routes
 * answer HEAD; OPTIONS on a path with routes answers 204 with `Allow`, unless
 * the app routes OPTIONS there itself; a miss is a 404, or a 405 with `Allow`
 * when the path exists for other methods; a path with broken
 * percent-encoding is a 400.
 */
export class Router {
  readonly #tree = FindMyWay({ caseSensitive: true, querystringParser: NO_QUERY });
  readonly #patterns = new Map<string, string>();

  constructor(routes: readonly Route[]) {
    routes.forEach(checkRoute);
    const stored = routes.map((route) => this.#add(route));
    // GET routes answer HEAD too, unless the app routes HEAD on that path itself.
    routes.forEach((route, i) => {
      if (route.methods.includes('GET') && !this.#tree.hasRoute('HEAD', route.path)) this.#tree.on('HEAD', route.path, noop, stored[i]);
    });
    this.#tree.compile();
  }

  #add({ methods, path, view, options }: Route): RouteTarget {
    const stored: RouteTarget = { view, culprit: `view ${view.name || `for ${path}`}`, bodyLimit: options.bodyLimit, pattern: path };
    for (const method of methods) this.#tree.on(method, path, noop, stored);
    if (options.name !== undefined) {
      if (this.#patterns.has(options.name)) throw new TypeError(`two routes are named ${JSON.stringify(options.name)}`);
      this.#patterns.set(options.name, path);
    }
    return stored;
  }

  /**
   * The route for a request, its params and body limit set on the request;
   * or the HttpError that says why there is none.
   */
  resolve(request: HttpRequest): RouteTarget {
    const { method, path } = request;
    if (path.includes('%')) checkEncoding(path);
    const found = this.#tree.find(method as Method, path);
    if (found === null) {
      if (method === 'OPTIONS') return this.#options(request);
      throw this.#miss(method, path);
    }
    const target = found.store as RouteTarget;
    request.params = found.params as Record<string, string>;
    request.route = target.pattern;
    if (target.bodyLimit !== undefined) request[kBodyLimit] = target.bodyLimit;
    return target;
  }

  #miss(method: string, path: string): Error {
    const allowed = this.#allowed(path);
    if (allowed.length > 0) return new MethodNotAllowed(allowed, `method ${method} is not allowed for ${path}; allowed: ${allowed.join(', ')}`);
    return new NotFound(`no route for ${method} ${path}`);
  }

  /** The methods a path answers, OPTIONS included when any; empty when it has no route. */
  #allowed(path: string): Method[] {
    const allowed = METHODS.filter((m) => this.#tree.find(m, path) !== null);
    if (allowed.length > 0 && !allowed.includes('OPTIONS')) allowed.push('OPTIONS');
    return allowed;
  }

  /** OPTIONS on a path that has routes but none for OPTIONS: 204 and `Allow` (RFC 9110 9.3.7); a 404 when it has none. */
  #options(request: HttpRequest): RouteTarget {
    const allowed = this.#allowed(request.path);
    if (allowed.length === 0) throw new NotFound(`no route for OPTIONS ${request.path}`);
    const allow = allowed.join(', ');
    const some = this.#tree.find(allowed[0]!, request.path)!;
    request.params = some.params as Record<string, string>;
    request.route = (some.store as RouteTarget).pattern;
    return { view: () => new HttpResponse(null, { status: 204, headers: { allow } }), culprit: 'automatic OPTIONS', bodyLimit: undefined, pattern: request.route };
  }

  /** The path of the route named `name`, filled with `params`. */
  reverse(name: string, params: Record<string, string | number> = {}): string {
    const pattern = this.#patterns.get(name);
    if (pattern === undefined) throw new TypeError(`reverse(): no route is named ${JSON.stringify(name)}`);
    return fillPath(name, pattern, params);
  }
}

function noop(): void {}

/** An entry of `routes` that did not come from `route()`, `get()` and friends would fail deep in the router. */
function checkRoute(route: Route, index: number): void {
  const ok = route !== null && typeof route === 'object' && Array.isArray(route.methods) && typeof route.path === 'string' && typeof route.view === 'function';
  if (!ok) throw new TypeError(`routes[${index}] is not a route, got ${describe(route)}: build routes with get(), post(), put(), patch(), del() or route()`);
}

function checkEncoding(path: string): void {
  try {
    decodeURIComponent(path);
  } catch {
    throw new BadRequest(`invalid percent-encoding in path ${JSON.stringify(path)}`);
  }
}
