import type { IncomingHttpHeaders } from 'node:http';

/**
 * What is wrong with a request that repeats a field it carries once, or
 * undefined when it repeats none. Node keeps the first of such lines,
 * dropping any other without a word (node:http and node:http2 alike), while
 * a proxy in front may act on the last: two `Content-Type` lines let the
 * proxy inspect one body type and the app parse another (a smuggling shape),
 * two `Authorization` lines let each check other credentials. `headers`
 * tells whether the field was sent at all, so a request without these
 * fields costs three property loads (by name: a load keyed by a variable
 * name is a megamorphic one on every request), and only one with such a
 * field scans `rawHeaders` (name, value, name, value, ...).
 */
export function repeatedField(headers: IncomingHttpHeaders, rawHeaders: readonly string[]): string | undefined {
  if (headers['content-type'] !== undefined && sentTwice('content-type', rawHeaders)) return twice('Content-Type');
  if (headers.authorization !== undefined && sentTwice('authorization', rawHeaders)) return twice('Authorization');
  if (headers['proxy-authorization'] !== undefined && sentTwice('proxy-authorization', rawHeaders)) return twice('Proxy-Authorization');
  return undefined;
}

function twice(name: string): string {
  return `the request has more than one ${name} header`;
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
