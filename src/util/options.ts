import { describe } from './describe.js';

/**
 * Refuses an options object with a key that is not in `known`, naming the key
 * and the closest known one: plain JavaScript passes `route:` for `routes:` or
 * `timeout` for `timeoutMs` silently otherwise.
 *
 * @example
 * ```ts
 * checkKeys('createApp()', { route: [] }, ['routes', 'middleware']);
 * // TypeError: createApp(): unknown option "route"; did you mean "routes"?
 * ```
 */
export function checkKeys(where: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where} takes an options object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    const hint = guess === undefined ? `the options are ${known.join(', ')}` : `did you mean ${JSON.stringify(guess)}?`;
    throw new TypeError(`${where}: unknown option ${JSON.stringify(key)}; ${hint}`);
  }
}

/**
 * The candidate `name` most likely stands for: the same once snake_case is
 * camelCased and case ignored (Django's `process_request`), else the nearest
 * by edit distance, if near enough to be a typo.
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const folded = fold(name);
  const same = candidates.find((candidate) => fold(candidate) === folded);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(folded, fold(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function fold(name: string): string {
  return name.replace(/_/g, '').toLowerCase();
}

/** Levenshtein distance, with one row of memory. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** Node's timers take at most 2^31 - 1 ms; a longer one fires after 1 ms, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration in milliseconds: finite, above zero (or zero when `zero` allows
 * it) and at most `max`: by default what Node's timers take, for a duration
 * that one will wait out.
 */
export function checkMs(what: string, ms: unknown, { zero = false, max = MAX_TIMER_MS } = {}): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || (ms === 0 && !zero) || ms > max) {
    const range = zero ? 'zero or more' : 'a positive number of';
    throw new RangeError(`${what} must be ${range} milliseconds, at most ${max}, got ${describe(ms)}`);
  }
  return ms;
}

/** A count: a whole number, at least `min`. */
export function checkCount(what: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${what} must be a whole number of at least ${min}, got ${describe(value)}`);
  }
  return value;
}

/** A whole number from `min` to `max`. */
export function checkRange(what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be a whole number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** An amount of `unit` (bytes, seconds): a whole number, zero or more. */
export function checkAmount(what: string, value: unknown, unit: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a whole number of ${unit}, got ${describe(value)}`);
  }
  return value;
}

/** A switch that may instead be the options of what it turns on: true, false or an options object. */
export function checkFeature<T extends object>(what: string, value: boolean | T | undefined): void {
  if (value !== undefined && typeof value !== 'boolean' && (value === null || typeof value !== 'object')) {
    throw new TypeError(`${what} must be true, false or an options object, got ${describe(value)}`);
  }
}

/** A switch: true or false. */
export function checkBoolean(what: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${what} must be true or false, got ${describe(value)}`);
  return value;
}
