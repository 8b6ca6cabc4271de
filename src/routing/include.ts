import type { Middleware } from '../pipeline/types.js';
import { describe } from '../util/describe.js';
import { checkKeys } from '../util/options.js';
import type { Route } from './routes.js';

/** `include()`'s options. */
export interface IncludeOptions {
  /**
   * Middleware for this group's routes only, outermost first. It runs inside
   * the app's middleware, around the group's views: see docs/lifecycle.md.
   */
  middleware?: readonly Middleware[];
  /**
   * Names the group's routes `namespace:name` for `app.reverse()` (Django's
   * namespaces); nested namespaces join as `outer:inner:name`.
   */
  namespace?: string;
}

/** What `routes` holds: routes and groups of them. */
export type RouteEntry = Route | RouteGroup;

/** Routes under a path prefix, with their own middleware: what `include()` makes. */
export class RouteGroup {
  readonly prefix: string;
  readonly routes: readonly RouteEntry[];
  readonly middleware: readonly Middleware[];
  readonly namespace: string | undefined;

  constructor(prefix: string, routes: readonly RouteEntry[], options: IncludeOptions) {
    this.prefix = prefix;
    this.routes = routes;
    this.middleware = options.middleware ?? [];
    this.namespace = options.namespace;
  }
}

const NAMESPACE = /^[A-Za-z0-9_.-]+$/;

/**
 * Routes under a path prefix, as Django's `include()`: each route's path is
 * the prefix followed by its own (`'/'` alone stands for the prefix itself),
 * `request.route` is that whole pattern, and `app.reverse()` gives whole
 * paths. Groups nest. The group's middleware wraps its routes' views only,
 * inside the app's middleware.
 *
 * @example
 * ```ts
 * const api = [get('/notes/:id', showNote, { name: 'note' })];
 * const app = createApp({ routes: [include('/api', api, { middleware: [apiAuth], namespace: 'api' })] });
 * app.reverse('api:note', { id: 7 }); // '/api/notes/7'
 * ```
 */
export function include(prefix: string, routes: readonly RouteEntry[], options: IncludeOptions = {}): RouteGroup {
  const where = `include(${JSON.stringify(prefix)})`;
  if (typeof prefix !== 'string' || !prefix.startsWith('/')) throw new TypeError(`include() prefix must start with "/", got ${describe(prefix)}`);
  if (prefix.endsWith('/')) throw new TypeError(`${where}: the prefix must not end with "/" (the routes inside start with one)`);
  if (prefix.endsWith('*')) throw new TypeError(`${where}: the prefix cannot end with a wildcard`);
  if (!Array.isArray(routes)) throw new TypeError(`${where}: routes must be an array, got ${describe(routes)}`);
  checkKeys(where, options, ['middleware', 'namespace']);
  if (options.middleware !== undefined && !Array.isArray(options.middleware)) throw new TypeError(`${where}: middleware must be an array, got ${describe(options.middleware)}`);
  const { namespace } = options;
  if (namespace !== undefined && (typeof namespace !== 'string' || !NAMESPACE.test(namespace))) {
    throw new TypeError(`${where}: namespace must be letters, digits, "_", "-" or ".", got ${describe(namespace)}`);
  }
  return new RouteGroup(prefix, routes, options);
}

/** A route as the router takes it: its whole path and name, and the groups it sits in (outermost first). */
export interface FlatRoute {
  route: Route;
  path: string;
  name: string | undefined;
  groups: readonly RouteGroup[];
}

/** Routes and groups, nested, as one list of routes with whole paths and names. */
export function flattenRoutes(entries: readonly RouteEntry[]): FlatRoute[] {
  const flat: FlatRoute[] = [];
  collect(entries, 'routes', '', '', [], flat);
  return flat;
}

function collect(entries: readonly RouteEntry[], where: string, prefix: string, namespace: string, groups: readonly RouteGroup[], into: FlatRoute[]): void {
  entries.forEach((entry, index) => {
    const at = `${where}[${index}]`;
    if (entry instanceof RouteGroup) {
      const inner = entry.namespace === undefined ? namespace : `${namespace}${entry.namespace}:`;
      collect(entry.routes, `${at} (include ${JSON.stringify(entry.prefix)}) routes`, prefix + entry.prefix, inner, [...groups, entry], into);
      return;
    }
    checkRoute(entry, at);
    const name = entry.options.name;
    into.push({ route: entry, path: joinPath(prefix, entry.path), name: name === undefined ? undefined : namespace + name, groups });
  });
}

/** A prefix and a route path: `'/'` alone is the prefix itself, as Fastify and Hono read it. */
function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path;
  return path === '/' ? prefix : prefix + path;
}

/** An entry of `routes` that did not come from `route()`, `get()` and friends would fail deep in the router. */
function checkRoute(route: Route, at: string): void {
  const ok = route !== null && typeof route === 'object' && Array.isArray(route.methods) && typeof route.path === 'string' && typeof route.view === 'function';
  if (!ok) throw new TypeError(`${at} is not a route, got ${describe(route)}: build routes with get(), post(), put(), patch(), del(), route() or include()`);
}
