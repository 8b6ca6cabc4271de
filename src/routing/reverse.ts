import { describe } from '../util/describe.js';

const SEGMENT = /:([A-Za-z0-9_]+)|\*$/g;

/** A `:param` a route pattern names twice (its include() prefix and its own path may), if any: find-my-way keeps one of its values. */
export function repeatedParam(pattern: string): string | undefined {
  const names = new Set<string>();
  for (const [, name] of pattern.matchAll(SEGMENT)) {
    if (name === undefined) continue;
    if (names.has(name)) return name;
    names.add(name);
  }
  return undefined;
}

/**
 * Builds a URL path from a route pattern: `:name` segments are filled from
 * `params` (percent-encoded), a trailing `*` with the `'*'` param, its
 * slashes kept and each segment between them percent-encoded. A path that
 * would start with `//` starts with `/%2F`: never a protocol-relative URL.
 * A param with a segment `.` or `..` is a TypeError: a browser collapses
 * such a segment, encoded or not (`%2E`), and the link would lead elsewhere.
 * So is an empty `:name` (no route matches an empty segment: the link would
 * lead to another route, or a 404) and a value that is neither a string nor a
 * finite number (`[object Object]`, `NaN` in a link).
 */
export function fillPath(routeName: string, pattern: string, params: Record<string, string | number>): string {
  const path = pattern.replace(SEGMENT, (_match, name: string | undefined) => {
    const key = name ?? '*';
    const value = params[key];
    if (value === undefined) {
      throw new TypeError(`reverse('${routeName}') needs the param ${JSON.stringify(key)} for ${pattern}`);
    }
    if (typeof value !== 'string' && !Number.isFinite(value)) {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(key)} must be a string or a finite number, got ${describe(value)}`);
    }
    if (value === '' && name !== undefined) {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(key)} is empty, and ${pattern} matches no empty segment`);
    }
    const segments = name === undefined ? String(value).split('/') : [String(value)];
    if (segments.some((segment) => segment === '.' || segment === '..')) {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(key)} has a segment '.' or '..' (${JSON.stringify(value)}), which a browser would collapse into another path`);
    }
    // Not encodeURI: it leaves `?` and `#` alone, which would cut the path short.
    return segments.map(encodeURIComponent).join('/');
  });
  // '//example.com' is another host to a browser (Django's escape_leading_slashes).
  return path.startsWith('//') ? `/%2F${path.slice(2)}` : path;
}
