import { describe } from '../util/describe.js';
import { closest } from '../util/options.js';

/** What reverse() fills a param with. */
export type ParamValue = string | number | bigint;

/** Params, or one value, in an error message: as JSON, a bigint as its digits (JSON.stringify throws on one). */
export function shown(value: unknown): string {
  if (typeof value === 'bigint') return String(value);
  return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? String(inner) : inner));
}

/** A piece of a route pattern: text as it is, or a param (`'*'` for the trailing wildcard) and the regex it must match, if any. */
export type Part = string | { readonly name: string; readonly regex?: string; readonly optional?: true };

/**
 * A route pattern in pieces, read as find-my-way reads it: `::` is a
 * literal colon; `:name` a param, its name ending at `(`, `-`, `.` or `/`,
 * then the regex in parentheses that its value must match, if any; a
 * trailing `*` the wildcard; a last param ending in `?` optional (its `/`
 * and itself left out when it has no value).
 */
export function parsePattern(pattern: string): Part[] {
  const parts: Part[] = [];
  let text = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === ':' && pattern[i + 1] === ':') {
      text += ':';
      i++;
    } else if (char === ':' || (char === '*' && i === pattern.length - 1)) {
      if (text !== '') parts.push(text);
      text = '';
      if (char === '*') {
        parts.push({ name: '*' });
        continue;
      }
      let end = i + 1;
      while (end < pattern.length && !'(-./'.includes(pattern[end]!)) end++;
      const name = pattern.slice(i + 1, end);
      if (end === pattern.length && name.endsWith('?')) {
        parts.push({ name: name.slice(0, -1), optional: true });
      } else if (pattern[end] !== '(') {
        parts.push({ name });
      } else {
        const close = closingParenthesis(pattern, end);
        parts.push({ name, regex: pattern.slice(end, close + 1) });
        end = close + 1;
      }
      i = end - 1;
    } else {
      text += char;
    }
  }
  if (text !== '') parts.push(text);
  return parts;
}

/** Where the regex opened at `open` closes: escaped and nested parentheses skipped, as find-my-way counts them. */
function closingParenthesis(pattern: string, open: number): number {
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === '(') depth++;
    else if (pattern[i] === ')' && --depth === 0) return i;
  }
  // find-my-way refuses such a route when it is added: never reached for a route the app has.
  throw new TypeError(`the regex of a param in ${pattern} is not closed`);
}

/** A `:param` a route pattern (in parts) names twice (its include() prefix and its own path may), if any: find-my-way keeps one of its values. */
export function repeatedParam(parts: readonly Part[]): string | undefined {
  const names = new Set<string>();
  for (const part of parts) {
    if (typeof part === 'string') continue;
    if (names.has(part.name)) return part.name;
    names.add(part.name);
  }
  return undefined;
}

/** A param's name as the router ends it: at `(`, `-`, `.` or `/` only. */
const PARAM_NAME = /^[\p{L}\p{N}_$]+$/u;

/**
 * A param name of a pattern (in parts) that is not letters, digits, `_` or `$`, if
 * any: find-my-way ends a name only at `(`, `-`, `.` or `/`, so
 * `:product+:price` is one param named `product+:price`, not two.
 */
export function oddParamName(parts: readonly Part[]): string | undefined {
  for (const part of parts) {
    if (typeof part !== 'string' && part.name !== '*' && !PARAM_NAME.test(part.name)) return part.name;
  }
  return undefined;
}

/** What no request path holds: `?` starts the query, `#` the fragment, and the router refuses control characters (C0, DEL). */
const UNREACHABLE = /[?#\x00-\x1f\x7f]/;

/** A character of a pattern's text (in parts, so neither an optional param's `?` nor a regex's) that no request path holds, if any. */
export function unreachableChar(parts: readonly Part[]): string | undefined {
  for (const part of parts) {
    const match = typeof part === 'string' ? UNREACHABLE.exec(part) : null;
    if (match !== null) return match[0];
  }
  return undefined;
}

/** Django's `<int:id>` or `<id>`, read where find-my-way reads text and param names (never inside a param's regex). */
const DJANGO_PARAM = /<(?:[A-Za-z_]\w*:)?([A-Za-z_]\w*)>/;

/** A param a route pattern (in parts) writes as Django does (`<int:id>`), and the `:id` that Coda reads as one, if any: find-my-way takes it as text. */
export function djangoParam(parts: readonly Part[]): { written: string; param: string } | undefined {
  const skeleton = parts.map((part) => (typeof part === 'string' ? part : `:${part.name}`)).join('');
  const match = DJANGO_PARAM.exec(skeleton);
  return match === null ? undefined : { written: match[0], param: `:${match[1]!}` };
}

/**
 * Builds a URL path from a route pattern: `:name` segments are filled from
 * `params` (percent-encoded), a trailing `*` with the `'*'` param, its
 * slashes kept and each segment between them percent-encoded. A path that
 * would start with `//` starts with `/%2F`: never a protocol-relative URL.
 * A param with a segment `.` or `..` is a TypeError: a browser collapses
 * such a segment, encoded or not (`%2E`), and the link would lead elsewhere.
 * So is an empty `:name` (no route matches an empty segment: the link would
 * lead to another route, or a 404) and a value that is neither a string, a
 * finite number nor a bigint (`[object Object]`, `NaN`, `true` in a link). A
 * number or bigint is its decimal string (`-0` is `0`, as `String` writes it).
 */
export function fillPath(routeName: string, pattern: string, params: Record<string, ParamValue>): string {
  const parts = parsePattern(pattern);
  checkParams(routeName, pattern, parts, params);
  const fill = ({ name, regex, optional }: Exclude<Part, string>): string => {
    // Own values only: a route's `:constructor` left out read Object.prototype's function.
    const value = Object.hasOwn(params, name) ? params[name] : undefined;
    if (value === undefined && optional) return '';
    if (value === undefined) {
      throw new TypeError(`reverse('${routeName}') needs the param ${JSON.stringify(name)} for ${pattern}`);
    }
    // A database driver's bigint id is common; a boolean, NaN or an object would be a link to nothing meant.
    if (typeof value !== 'string' && typeof value !== 'bigint' && !Number.isFinite(value)) {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(name)} must be a string, a finite number or a bigint, got ${describe(value)}`);
    }
    const text = String(value);
    if (text === '' && name !== '*') {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(name)} is empty, and ${pattern} matches no empty segment`);
    }
    const segments = name === '*' ? text.split('/') : [text];
    if (segments.some((segment) => segment === '.' || segment === '..')) {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(name)} has a segment '.' or '..' (${JSON.stringify(text)}), which a browser would collapse into another path`);
    }
    // Not encodeURI: it leaves `?` and `#` alone, which would cut the path short.
    const encoded = segments.map(encodeURIComponent).join('/');
    // Tested on the value, as request.params would give it back: the router matches the decoded path.
    if (regex !== undefined && !anchored(regex).test(text)) {
      throw new TypeError(`reverse('${routeName}'): the param ${JSON.stringify(name)} (${shown(value)}) does not match its regex ${regex} in ${pattern}: the link would lead to no route`);
    }
    return encoded;
  };
  let path = parts.map((part) => typeof part === 'string' ? part : fill(part)).join('');
  // An optional param left out takes its slash with it: '/notes/:id?' is '/notes'.
  if (path.endsWith('/') && parts.length > 1 && typeof parts.at(-1) !== 'string' && (parts.at(-1) as Exclude<Part, string>).optional) path = path.slice(0, -1) || '/';
  // '//example.com' is another host to a browser (Django's escape_leading_slashes).
  return path.startsWith('//') ? `/%2F${path.slice(2)}` : path;
}

/**
 * Refuses params that are not an object of values (`null` crashed reading
 * it), and a param the route does not take, as Django's reverse() does: it
 * was dropped without a word, most likely a typo or a param of another route.
 * A key whose value is `undefined` counts as left out.
 */
function checkParams(routeName: string, pattern: string, parts: readonly Part[], params: unknown): asserts params is Record<string, unknown> {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new TypeError(`reverse('${routeName}'): params must be an object of param values (e.g. { id: 7 }), got ${describe(params)}`);
  }
  const taken = parts.flatMap((part) => (typeof part === 'string' ? [] : [part.name]));
  const extra = Object.keys(params).find((key) => !taken.includes(key) && (params as Record<string, unknown>)[key] !== undefined);
  if (extra === undefined) return;
  const takes = taken.length === 0 ? 'it takes none' : `it takes ${taken.map((name) => JSON.stringify(name)).join(', ')}`;
  throw new TypeError(`reverse('${routeName}'): ${pattern} has no param ${JSON.stringify(extra)}; ${takes}`);
}

/**
 * Why `reverse()` finds no route named `name`, with the name most likely
 * meant: a typo of one, or the name inside a namespace (`note` for
 * `api:note`, `blah:note` for `api:note`), as Django's NoReverseMatch.
 */
export function unknownName(name: unknown, names: readonly string[]): string {
  if (typeof name !== 'string') return `reverse(): the route name must be a string, got ${describe(name)}`;
  const last = (whole: string): string => whole.slice(whole.lastIndexOf(':') + 1);
  const typo = closest(name, names);
  const guesses = typo !== undefined ? [typo] : names.filter((candidate) => last(candidate) === last(name));
  const hint = guesses.length === 0 ? '' : `; did you mean ${guesses.map((guess) => JSON.stringify(guess)).join(' or ')}?`;
  return `reverse(): no route is named ${JSON.stringify(name)}${hint}`;
}

/** Each param regex compiled, by its source: as many as the app's routes have. */
const COMPILED = new Map<string, RegExp>();

/** A param's regex as the router applies it, to the whole value: find-my-way drops its own `^` and `$`. */
function anchored(regex: string): RegExp {
  let compiled = COMPILED.get(regex);
  if (compiled === undefined) {
    const inner = regex.slice(1, -1).replace(/^\^/, '').replace(/(?<!\\)\$$/, '');
    COMPILED.set(regex, compiled = new RegExp(`^(?:${inner})$`));
  }
  return compiled;
}
