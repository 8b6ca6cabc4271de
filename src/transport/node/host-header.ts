import type { IncomingMessage } from 'node:http';

/**
 * What is wrong with a request's Host lines, or undefined when nothing is.
 * RFC 9112 3.2: a server must answer 400 to an HTTP/1.1 request with no Host
 * or with more than one (proxies and the app may each believe a different
 * one; Node keeps the first and says nothing). Node refuses a missing Host
 * itself, with an empty body; serve() turns that check off so that this one
 * answers, naming the problem. Scans `rawHeaders` (name, value, name, value,
 * ...) without building anything.
 */
export function hostProblem(request: IncomingMessage): string | undefined {
  const { rawHeaders } = request;
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Clients write it 'Host' (or 'host'): lower-casing every four-letter name is the dear part of this scan.
    if (name !== 'Host' && name !== 'host' && (name.length !== 4 || name.toLowerCase() !== 'host')) continue;
    if (seen) return 'the request has more than one Host header';
    seen = true;
  }
  if (seen || (request.httpVersionMajor === 1 && request.httpVersionMinor === 0) || request.httpVersionMajor === 0) return undefined;
  // Versions after 1.1 on an HTTP/1 connection are served as HTTP/1.1, so they need a Host too.
  return 'the request has no Host header, which HTTP/1.1 requires';
}
