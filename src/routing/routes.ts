import type { View } from '../pipeline/types.js';
import { describe } from '../util/describe.js';
import { checkAmount, checkKeys } from '../util/options.js';

/**
 * The parameters of a path pattern, as a type: `'/users/:id/notes/:note'`
 * gives `{ id: string; note: string }`, a trailing `*` gives `{ '*': string }`.
 * A name ends where the router ends it: at `/`, `-`, `.` or `(`
 * (`'/files/:name.:ext'` gives `name` and `ext`).
 */
export type ParamsOf<Path extends string> = string extends Path
  ? Record<string, string>
  : Path extends `${string}:${infer Rest}`
    ? { [K in ParamName<Rest>]: string } & ParamsOf<Rest>
    : Path extends `${string}*`
      ? { '*': string }
      : Record<never, string>;

/** The param name at the start of `S`: up to the first `/`, `-`, `.` or `(`. */
type ParamName<S extends string> = S extends `${infer Name}/${string}`
  ? ParamName<Name>
  : S extends `${infer Name}-${string}`
    ? ParamName<Name>
    : S extends `${infer Name}.${string}`
      ? ParamName<Name>
      : S extends `${infer Name}(${string}`
        ? Name
        : S;

/** The methods a route may answer, in the order `Allow` lists them. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** A method a route may answer. */
export type Method = (typeof METHODS)[number];

/** `route()`'s options (and `get()`'s, `post()`'s, ...). */
export interface RouteOptions {
  /** Names the route for `app.reverse(name, params)`. */
  name?: string;
  /** The request body limit for this route, in bytes (else the app's `bodyLimit`). */
  bodyLimit?: number;
}

/** A route: methods, a path pattern and the view that answers. */
export interface Route {
  readonly methods: readonly Method[];
  readonly path: string;
  readonly view: View;
  readonly options: RouteOptions;
}

/**
 * A route for one or more methods. Paths use `:param` segments and a trailing `*`.
 *
 * @example
 * ```ts
 * route(['GET', 'POST'], '/notes', notes);
 * route('GET', '/files/*', (request) => new HttpResponse(request.params['*']));
 * ```
 */
export function route<Path extends string>(
  methods: Method | readonly Method[],
  path: Path,
  view: View<ParamsOf<Path>>,
  options: RouteOptions = {},
): Route {
  if (typeof methods !== 'string' && !Array.isArray(methods)) throw new TypeError(`route ${path}: methods must be a method or a list of them, got ${describe(methods)}`);
  const list: Method[] = typeof methods === 'string' ? [methods] : [...methods];
  // An empty list made a route that answered nothing, a 404 without a word.
  if (list.length === 0) throw new TypeError(`route ${path}: the list of methods is empty; give at least one, e.g. ['GET']`);
  list.forEach((method, i) => {
    if (!METHODS.includes(method)) throw new TypeError(`route ${path}: unknown method ${JSON.stringify(method)}, expected one of ${METHODS.join(', ')}`);
    // Refused rather than deduplicated, as Fastify refuses it: ['GET', 'GET'] is most likely a typo for another method.
    if (list.indexOf(method) !== i) throw new TypeError(`route ${path}: the method ${method} is listed twice in ${JSON.stringify(list)}`);
  });
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`route path must start with "/", got ${JSON.stringify(path)}`);
  if (typeof view !== 'function') throw new TypeError(`route ${path}: the view must be a function, got ${typeof view}`);
  checkKeys(`route ${path}`, options, ['name', 'bodyLimit']);
  const { bodyLimit } = options;
  // Checked here as the app's own limit is: NaN would silently mean "no limit".
  if (bodyLimit !== undefined) checkAmount(`route ${path}: bodyLimit`, bodyLimit, 'bytes');
  return { methods: list, path, view: view as View, options };
}

type Builder = <Path extends string>(path: Path, view: View<ParamsOf<Path>>, options?: RouteOptions) => Route;

function builder(method: Method): Builder {
  return (path, view, options) => route(method, path, view, options);
}

/**
 * A GET route; it answers HEAD too, without a body.
 *
 * @example
 * ```ts
 * get('/notes/:id', (request) => new JsonResponse(notes.find(request.params.id)), { name: 'note' });
 * ```
 */
export const get = builder('GET');
/**
 * A POST route.
 *
 * @example
 * ```ts
 * post('/notes', async (request) => new JsonResponse(await notes.create(await request.json()), { status: 201 }));
 * ```
 */
export const post = builder('POST');
/** A PUT route, as `post()` is written. */
export const put = builder('PUT');
/** A PATCH route, as `post()` is written. */
export const patch = builder('PATCH');
/** A DELETE route (`delete` is a reserved word), as `post()` is written. */
export const del = builder('DELETE');
