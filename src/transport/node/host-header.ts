import type { IncomingMessage } from 'node:http';
import { repeatedField } from './repeated-fields.js';

/**
 * What is wrong with a request's Host lines, or with the other fields it
 * carries once (see `repeatedField`), or undefined when nothing is.
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
    if (!isHost(rawHeaders[i]!)) continue;
    if (seen) return 'the request has more than one Host header';
    seen = true;
  }
  if (seen || (request.httpVersionMajor === 1 && request.httpVersionMinor === 0) || request.httpVersionMajor === 0) return repeatedField(request.headers, rawHeaders);
  // Versions after 1.1 on an HTTP/1 connection are served as HTTP/1.1, so they need a Host too.
  return 'the request has no Host header, which HTTP/1.1 requires';
}

/**
 * Whether a header name is Host, in any letter case, by character codes
 * (`code | 0x20` is a letter's lower-case code only for that letter in either
 * case): lower-casing or comparing every name would cost a builtin call each.
 */
function isHost(name: string): boolean {
  return name.length === 4
    && (name.charCodeAt(0) | 0x20) === 0x68
    && (name.charCodeAt(1) | 0x20) === 0x6f
    && (name.charCodeAt(2) | 0x20) === 0x73
    && (name.charCodeAt(3) | 0x20) === 0x74;
}
