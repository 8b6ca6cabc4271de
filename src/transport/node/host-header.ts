/**
 * Whether a request's head holds more than one Host line. RFC 9112 3.2: a
 * server must answer such a request 400, since proxies and the app may each
 * believe a different one (Node keeps the first and says nothing). Scans
 * `rawHeaders` (name, value, name, value, ...) without building anything.
 */
export function repeatsHost(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}
