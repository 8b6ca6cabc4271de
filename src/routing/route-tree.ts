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
  method: Method;
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
  readonly #added: Added[] = [];

  on(method: Method, path: string, store: object): void {
    this.#tree.on(method, path, noop, store);
    this.#added.push({ method, path, store });
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
   * Only paths with an empty segment get here, so the routes are tried one by one.
   */
  #pastEmpty(method: Method, path: string): Found | null {
    const matching = this.#added.filter((added) => {
      if (added.method !== method) return false;
      if (added.alone === undefined) (added.alone = tree()).on(method, added.path, noop, added.store);
      const found = added.alone.find(method, path);
      return found !== null && !hasEmptyParam(found);
    });
    if (matching.length <= 1) return matching[0]?.alone!.find(method, path) ?? null;
    const ranked = tree();
    for (const added of matching) ranked.on(method, added.path, noop, added.store);
    return ranked.find(method, path);
  }
}

function hasEmptyParam({ params }: Found): boolean {
  for (const key in params) if (params[key] === '' && key !== '*') return true;
  return false;
}
