import type { IncomingHttpHeaders } from 'node:http';

/**
 * The fields a request carries once that Node keeps the first of, dropping
 * any other line without a word (node:http and node:http2 alike), while a
 * proxy in front may act on the last: two `Content-Type` lines let the proxy
 * inspect one body type and the app parse another (a smuggling shape), two
 * `Authorization` lines let each check other credentials. Each with the
 * spelling an error message names it by.
 */
const ONCE: ReadonlyArray<readonly [field: string, name: string]> = [
  ['content-type', 'Content-Type'],
  ['authorization', 'Authorization'],
  ['proxy-authorization', 'Proxy-Authorization'],
];

/**
 * What is wrong with a request that repeats a field it carries once, or
 * undefined when it repeats none. `headers` tells whether the field was sent
 * at all, so a request without these fields costs three lookups, and only
 * one with such a field scans `rawHeaders` (name, value, name, value, ...).
 */
export function repeatedField(headers: IncomingHttpHeaders, rawHeaders: readonly string[]): string | undefined {
  for (const [field, name] of ONCE) {
    if (headers[field] !== undefined && sentTwice(field, rawHeaders)) return `the request has more than one ${name} header`;
  }
  return undefined;
}

/** Whether `field` (in lower case) names more than one line of `rawHeaders`, in any letter case. */
function sentTwice(field: string, rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== field.length || name.toLowerCase() !== field) continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}
