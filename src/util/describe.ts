import { inspect } from 'node:util';

/**
 * An error's message, or the thrown value as a string when it is not an
 * Error; inspected when `String()` throws on it (an object without a
 * prototype, a `toString` that throws), so that a message made of it is made.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return inspect(error, { depth: 2, breakLength: Infinity });
  }
}

/** errorMessage() of a value whose reading may itself throw (a Proxy whose traps throw): words saying so instead. */
export function readableMessage(error: unknown): string {
  try {
    return errorMessage(error);
  } catch {
    return 'a value that could not be read either';
  }
}

/** A short description of a value for error messages: `undefined`, `a plain object`, `an instance of Foo`, `number NaN`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name && name !== 'Object' ? `an instance of ${name}` : 'a plain object';
  }
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (typeof value === 'symbol') return String(value);
  return `${typeof value} ${JSON.stringify(value)}`;
}
