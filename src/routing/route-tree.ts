import FindMyWay from 'find-my-way';
import type { Method } from './routes.js';

type Found = FindMyWay.FindResult<FindMyWay.HTTPVersion.V1>;

const NO_QUERY = (): Record<string, string> => ({});
/**
 * The longest param find-my-way matches: what a request line can carry under
 * Node's default header limit (16 KiB), so that no param of a request that
 * reached the app is refused for its length alone. Its default (100) sent a
 * longer one (a JWT, a long slug) to a 404 "no route", where Django and
 * Express take it; it bounds what a param's regex (`:id(^\\d+)`) reads too.
 */
const MAX_PARAM_LENGTH = 16 * 1024;

function tree(): FindMyWay.Instance<FindMyWay.HTTPVersion.V1> {
  return FindMyWay({ caseSensitive: true, querystringParser: NO_QUERY, maxParamLength: MAX_PARAM_LENGTH });
}

function noop(): void {}

/** One route as added: for trying it alone. */
interface Added {
  path: string;
  store: object;
  alone?: FindMyWay.Instance<FindMyWay.HTTPVersion.V1>;
}

/**
 * find-my-way's route tree, where no `:param` matches an empty segment:
 * find-my-way matches `/users/` to `/users/:id` with the id '' (and `/a//b`
 * to `/a/:x/b`), which Django's and Express's routers never do, nor
 * reverse() links to. Such a path goes to the route find-my-way ranks next
 * (`/users/*`, `/users/`), as if the empty match were not there. A `*` may be
 * empty.
 */
export class RouteTree {
  readonly #tree = tree();
  /** The routes added, by method and their text before their first param or `*`: a path that starts otherwise cannot match them. */
  readonly #byPrefix = new Map<string, Added[]>();
  /** The lengths of those texts, shortest first. */
  #prefixLengths: number[] = [];

  on(method: Method, path: string, store: object): void {
    this.#tree.on(method, path, noop, store);
    const param = path.search(/[:*]/);
    const prefix = param === -1 ? path : path.slice(0, param);
    const key = `${method} ${prefix}`;
    const added = this.#byPrefix.get(key);
    if (added === undefined) this.#byPrefix.set(key, [{ path, store }]);
    else added.push({ path, store });
    if (!this.#prefixLengths.includes(prefix.length)) this.#prefixLengths = [...this.#prefixLengths, prefix.length].sort((a, b) => a - b);
  }

  hasRoute(method: Method, path: string): boolean {
    return this.#tree.hasRoute(method, path);
  }

  /** The route added for `method` and exactly this pattern (param names aside), if any. */
  findRoute(method: Method, path: string): { store: unknown } | null {
    return this.#tree.findRoute(method, path);
  }

  compile(): void {
    this.#tree.compile();
  }

  find(method: Method, path: string): Found | null {
    const found = this.#tree.find(method, path);
    return found === null || !hasEmptyParam(found) ? found : this.#pastEmpty(method, path);
  }

  /**
   * The route find-my-way would match if no empty `:param` matched: of the
   * routes that match `path` alone with none empty, the one it ranks first
   * (its order is their places in its tree, which a tree of just them keeps).
   * Only paths with an empty segment get here; of the routes, only those
   * whose text before their first param starts the path are tried (trying
   * every route made a client's `/x/` cost a lookup for each).
   */
  #pastEmpty(method: Method, path: string): Found | null {
    const matching: Added[] = [];
    for (const added of this.#candidates(method, path)) {
      if (added.alone === undefined) (added.alone = tree()).on(method, added.path, noop, added.store);
      const found = added.alone.find(method, path);
      if (found !== null && !hasEmptyParam(found)) matching.push(added);
    }
    if (matching.length <= 1) return matching[0]?.alone!.find(method, path) ?? null;
    const ranked = tree();
    for (const added of matching) ranked.on(method, added.path, noop, added.store);
    return ranked.find(method, path);
  }

  /** The routes of `method` whose text before their first param starts `path`, as sent or decoded (find-my-way matches route text to the path decoded). */
  #candidates(method: Method, path: string): Set<Added> {
    const plain = decoded(path);
    const candidates = new Set<Added>();
    for (const length of this.#prefixLengths) {
      if (length > plain.length && length > path.length) break;
      for (const start of plain === path ? [path] : [path, plain]) {
        for (const added of this.#byPrefix.get(`${method} ${start.slice(0, length)}`) ?? []) candidates.add(added);
      }
    }
    return candidates;
  }
}

/** The path as find-my-way matches a route's text to it, or near enough to test a prefix: decoded (as sent, if it does not decode; the router refuses it). */
function decoded(path: string): string {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function hasEmptyParam({ params }: Found): boolean {
  for (const key in params) if (params[key] === '' && key !== '*') return true;
  return false;
}
