import { BadRequest, MethodNotAllowed, NotFound } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import { HttpResponse } from '../http/response.js';
import type { Handler, Middleware, View } from '../pipeline/types.js';
import type { ResolvedView } from '../pipeline/view-stage.js';
import { kRouteTarget } from '../symbols.js';
import { echo } from '../util/echo.js';
import { slashRedirect } from './append-slash.js';
import type { FlatRoute, RouteGroup } from './include.js';
import { djangoParam, fillPath, oddParamName, parsePattern, repeatedParam, shown, unknownName, unreachableChar, type ParamValue } from './reverse.js';
import { RouteTree } from './route-tree.js';
import { METHODS, type Method } from './routes.js';

/** What the route table keeps for a route, and hands to the view stage. */
export interface RouteTarget {
  view: View;
  /** "view showNote", named for error messages. */
  culprit: string;
  bodyLimit: number | undefined;
  /** The path pattern, for `request.route`. */
  pattern: string;
  /** The route's whole name (`namespace:name` inside include()), as app.reverse() takes it: for the snapshot a durable task keeps and error messages. */
  name?: string | undefined;
  /** The view inside the middleware of its groups (include()): the outermost group's onion. */
  handler?: Handler;
  /** What the onion of the k-th group with middleware calls: the view, or the next group's onion. */
  levels?: readonly ResolvedView[];
  /** Routing's own answer (appendSlash's redirect): see ResolvedView. */
  routing?: true;
}

/** What the router takes beside the routes: how to build a group's middleware, and whether a miss redirects to the slash form. */
export interface RouterOptions {
  /** Builds a group's middleware onion (once per group); `resolve` gives what is inside it for a request. */
  compose: (middleware: readonly Middleware[], resolve: (request: HttpRequest) => ResolvedView) => Handler;
  /** A miss on a path without a trailing slash whose slash form has routes redirects there (Django's APPEND_SLASH). */
  appendSlash: boolean;
}

/**
 * The route table, over find-my-way (Fastify's radix-tree router). GET routes
 * answer HEAD; OPTIONS on a path with routes answers 204 with `Allow`, unless
 * the app routes OPTIONS there itself, and `OPTIONS *` (RFC 9110 9.3.7: the
 * server as a whole) 204 with every method some route answers; a miss is a 404, or a 405 with `Allow`
 * when the path exists for other methods; a path with broken
 * percent-encoding, or an encoded control character, is a 400.
 */
export class Router {
  readonly #tree = new RouteTree();
  /** Each named route, by its whole name, with a method it answers (to route its links back). */
  readonly #named = new Map<string, { target: RouteTarget; method: Method }>();
  readonly #appendSlash: boolean;
  readonly #groups = new GroupOnions();
  /** `OPTIONS *` (the server as a whole): 204 with every method some route answers. */
  readonly #serverOptions: RouteTarget;

  /** `routes`: the app's routes and groups, flattened (see include.ts). */
  constructor(routes: readonly FlatRoute[], options: RouterOptions) {
    this.#appendSlash = options.appendSlash;
    const stored = routes.map((route) => this.#add(route, options));
    // GET routes answer HEAD too, unless the app routes HEAD on that path itself.
    routes.forEach(({ route, path }, i) => {
      if (route.methods.includes('GET') && !this.#tree.hasRoute('HEAD', path)) this.#tree.on('HEAD', path, stored[i]!);
    });
    this.#tree.compile();
    const methods = new Set<string>(routes.flatMap(({ route }) => route.methods));
    if (methods.has('GET')) methods.add('HEAD');
    methods.add('OPTIONS');
    const allow = METHODS.filter((method) => methods.has(method)).join(', ');
    this.#serverOptions = automaticOptions(allow, '*');
  }

  #add({ route: { methods, view, options }, path, name, groups }: FlatRoute, { compose }: RouterOptions): RouteTarget {
    const stored: RouteTarget = { view, culprit: `view ${view.name || `for ${path}`}`, bodyLimit: options.bodyLimit, pattern: path, name };
    const parts = parsePattern(path);
    const repeated = repeatedParam(parts);
    if (repeated !== undefined) {
      throw new TypeError(`${describeRoute(stored)} names the param :${repeated} twice, and request.params keeps one value of it; rename one (include() prefixes and their routes share the params)`);
    }
    const django = djangoParam(parts);
    if (django !== undefined) {
      throw new TypeError(`${describeRoute(stored)} writes a param as Django does, ${django.written}, which the router reads as plain text; write ${django.param} (with a regex: ${django.param}(^\\d+$))`);
    }
    const unreachable = unreachableChar(parts);
    if (unreachable !== undefined) {
      throw new TypeError(`${describeRoute(stored)} has ${JSON.stringify(unreachable)} in its text, which no request path holds (a request's "?" starts its query, "#" its fragment, and a control character is refused): no request could reach it`);
    }
    const odd = oddParamName(parts);
    if (odd !== undefined) {
      throw new TypeError(`${describeRoute(stored)} has a param named ${JSON.stringify(odd)}: a param's name ends only at '(', '-', '.' or '/', so this is one param, not what it looks like; name params with letters, digits and _ (':a-:b' for two)`);
    }
    const withMiddleware = groups.filter((group) => group.middleware.length > 0);
    if (withMiddleware.length > 0) {
      const onions = withMiddleware.map((group, depth) => this.#groups.onion(group, depth, compose));
      stored.handler = onions[0];
      stored.levels = onions.map((_, depth) => ({ view, culprit: stored.culprit, handler: onions[depth + 1] }));
    }
    for (const method of methods) {
      // find-my-way's own error names neither route, and shows the path with its params cut (`/a/:`).
      const taken = this.#tree.findRoute(method, path);
      if (taken !== null) throw new TypeError(`two routes answer ${method} ${path}: ${describeRoute(taken.store as RouteTarget)} and ${describeRoute(stored)}; remove one, or change its method or path`);
      this.#tree.on(method, path, stored);
    }
    if (name !== undefined) {
      const taken = this.#named.get(name);
      if (taken !== undefined) throw new TypeError(`two routes are named ${JSON.stringify(name)}: ${taken.target.pattern} and ${path}`);
      this.#named.set(name, { target: stored, method: methods[0]! });
    }
    return stored;
  }

  /**
   * The route for a request, set on the request with its params (its body limit with it);
   * or the HttpError that says why there is none.
   */
  resolve(request: HttpRequest): RouteTarget {
    const { method, path } = request;
    if (path.includes('%')) checkEscapes(path);
    if (path === '*') return this.#asterisk(method);
    const found = this.#tree.find(method as Method, path);
    if (found === null) {
      const allowed = this.#allowed(path);
      if (method === 'OPTIONS' && allowed.length > 0) return this.#options(request, allowed);
      // Only a path no route takes, as Django's is_valid_path: one that answers other methods gets its 405, never a redirect.
      if (this.#appendSlash && allowed.length === 0 && !path.endsWith('/') && this.#allowed(`${path}/`).length > 0) {
        return { view: slashRedirect, culprit: 'appendSlash redirect', bodyLimit: undefined, pattern: `${path}/`, routing: true };
      }
      throw this.#miss(method, path, allowed);
    }
    const target = found.store as RouteTarget;
    request.params = found.params as Record<string, string>;
    request.route = target.pattern;
    request[kRouteTarget] = target;
    return target;
  }

  /**
   * The body limit of the route `method` and `path` reach, found without
   * resolving them: for a body middleware reads before routing. Undefined
   * when that route has none, or no route takes them.
   */
  bodyLimitOf(method: string, path: string): number | undefined {
    return (this.#tree.find(method as Method, path)?.store as RouteTarget | undefined)?.bodyLimit;
  }

  /**
   * The asterisk-form target, which names the server as a whole, is for
   * OPTIONS only (RFC 9112 3.2.4); Node's parser takes it with any method,
   * and find-my-way would match `GET *` to the route for `/`.
   */
  #asterisk(method: string): RouteTarget {
    if (method === 'OPTIONS') return this.#serverOptions;
    throw new BadRequest(`the request target * (the server as a whole) is for OPTIONS only, not ${echo(method)}`);
  }

  /**
   * The 404 or 405 for a path no route takes, without a stack: it would
   * always point here, a 4xx is logged without it, and capturing it was most
   * of what a 404 cost beyond a 200 (about 100k instructions of some 110k).
   */
  #miss(method: string, path: string, allowed: readonly Method[]): Error {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      if (allowed.length > 0) return new MethodNotAllowed(allowed, `method ${echo(method)} is not allowed for ${echo(path)}; allowed: ${allowed.join(', ')}`);
      return new NotFound(`no route for ${echo(method)} ${echo(path)}`);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /** The methods a path answers, OPTIONS included when any; empty when it has no route (Django's `is_valid_path`). */
  #allowed(path: string): Method[] {
    const allowed = METHODS.filter((m) => this.#tree.find(m, path) !== null);
    if (allowed.length > 0 && !allowed.includes('OPTIONS')) allowed.push('OPTIONS');
    return allowed;
  }

  /** OPTIONS on a path that has routes but none for OPTIONS: 204 and `Allow` (RFC 9110 9.3.7). */
  #options(request: HttpRequest, allowed: readonly Method[]): RouteTarget {
    const some = this.#tree.find(allowed[0]!, request.path)!;
    request.params = some.params as Record<string, string>;
    request.route = (some.store as RouteTarget).pattern;
    return automaticOptions(allowed.join(', '), request.route);
  }

  /**
   * The path of the route named `name`, filled with `params`, and routed
   * back: a link that the router would give to another route, or to this one
   * with other params, is a TypeError rather than a wrong link.
   */
  reverse(name: string, params: Record<string, ParamValue> = {}): string {
    const named = this.#named.get(name);
    if (named === undefined) throw new TypeError(unknownName(name, [...this.#named.keys()]));
    const { target, method } = named;
    const path = fillPath(name, target.pattern, params);
    const found = this.#tree.find(method, path);
    const back = (found?.params ?? {}) as Record<string, string>;
    if (found?.store === target && Object.keys(back).every((key) => back[key] === String(params[key]))) return path;
    const to = found === null ? 'no route' : found.store === target ? `its route with the params ${JSON.stringify(back)}` : describeRoute(found.store as RouteTarget);
    // '/days/:date.:format' with the date 'a' and format 'b.json' gave '/days/a.b.json': the date 'a.b' once routed.
    throw new TypeError(`reverse('${name}'): the link ${path} would lead to ${to}, not to ${target.pattern} with ${shown(params)}; a value holds the text that ends its param, or another route takes the link`);
  }
}

/** The answer to OPTIONS where no route takes it (RFC 9110 9.3.7): 204 with `allow`, the methods `pattern` answers. */
function automaticOptions(allow: string, pattern: string): RouteTarget {
  return { view: () => new HttpResponse(null, { status: 204, headers: { allow } }), culprit: 'automatic OPTIONS', bodyLimit: undefined, pattern };
}

/** A route in an error message: its view, its whole name and its pattern (which may be written with other param names). */
function describeRoute(target: RouteTarget): string {
  const { name } = target;
  return `${target.culprit}${name === undefined ? '' : ` (named ${JSON.stringify(name)})`} at ${target.pattern}`;
}

/**
 * Each group's middleware onion, built once (a factory is called once per
 * group, not per route). The onion is shared by the group's routes: what it
 * calls inside is read from the route the request matched.
 */
class GroupOnions {
  /** Per group, per depth among the groups with middleware (a group included twice may sit at two depths). */
  readonly #built = new Map<RouteGroup, Map<number, Handler>>();

  onion(group: RouteGroup, depth: number, compose: RouterOptions['compose']): Handler {
    let byDepth = this.#built.get(group);
    if (byDepth === undefined) this.#built.set(group, (byDepth = new Map()));
    let onion = byDepth.get(depth);
    if (onion === undefined) {
      onion = compose(group.middleware, (request) => (request[kRouteTarget] as RouteTarget).levels![depth]!);
      byDepth.set(depth, onion);
    }
    return onion;
  }
}

// %00-%1F and %7F: C0 controls and DEL (request.path has its escapes in upper case).
const ENCODED_CONTROL = /%(?:[01][0-9A-F]|7F)/;

/**
 * Refuses what the router would decode into a param badly: broken
 * percent-encoding, and control characters (a NUL cuts file names and is
 * refused by databases, CR and LF forge log lines). The parser refuses them
 * raw; this refuses them encoded.
 */
function checkEscapes(path: string): void {
  try {
    decodeURIComponent(path);
  } catch {
    throw new BadRequest(`invalid percent-encoding in path ${JSON.stringify(echo(path))}`);
  }
  const control = ENCODED_CONTROL.exec(path);
  if (control !== null) throw new BadRequest(`the path ${JSON.stringify(echo(path))} holds a control character (${control[0]}), which no path may`);
}
