import type { HttpError } from './errors.js';
import type { HttpResponse } from './response.js';

/** Adds `field` to the response's `Vary` (RFC 9110 12.5.5), unless it is there already or `Vary: *`. */
export function addVary(response: HttpResponse, field: string): void {
  response.headers.set('vary', varyWith(response.headers.get('vary'), field));
}

/**
 * `error` with `field` added to its response's `Vary`, as addVary() adds it:
 * a copy (an HttpError's headers are frozen) of its class, with its status,
 * message, code and stack, for a route whose every answer, refusals
 * included, depends on that request header.
 */
export function errorVarying(error: HttpError, field: string): HttpError {
  const headers: Record<string, string> = {};
  let vary: string | null = null;
  for (const [name, value] of Object.entries(error.headers)) {
    if (name.toLowerCase() === 'vary') vary = value;
    else headers[name] = value;
  }
  headers.vary = varyWith(vary, field);
  const copy = Object.create(Object.getPrototypeOf(error) as object) as HttpError;
  // V8's `stack` is an accessor that reads the error it was made on: copied as is, it reads nothing on the copy.
  const stack = { value: error.stack, writable: true, configurable: true };
  return Object.defineProperties(copy, { ...Object.getOwnPropertyDescriptors(error), stack, headers: { value: Object.freeze(headers), enumerable: true } });
}

/** The Vary `current` (null: none) with `field` added, unless it is there already or `*`. */
function varyWith(current: string | null, field: string): string {
  if (current === null) return field;
  const fields = current.toLowerCase().split(',').map((name) => name.trim());
  if (fields.includes('*') || fields.includes(field.toLowerCase())) return current;
  return `${current}, ${field}`;
}
