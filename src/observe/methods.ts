/** The methods the HTTP semantic conventions name. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

/**
 * A request method as spans and metrics name it: itself when the conventions
 * know it, else `_OTHER`, so that a client inventing methods (any token
 * passes `app.fetch`) cannot make span names or metric series without bound.
 */
export function knownMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}
