import { describe } from '../util/describe.js';
import { ABSOLUTE_FORM } from './client-address.js';

/** Whether a request's host (`request.host`: lower-case, port included, undefined when absent or malformed) is one the app serves. */
export type HostCheck = (host: string | undefined) => boolean;

// A host name or IPv4 address, or a bracketed IPv6 address: no scheme, port, path or wildcard inside.
const PATTERN = /^\.?(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$/;

/**
 * The app's `allowedHosts` (Django's ALLOWED_HOSTS) as a check, or undefined
 * when every host is served. A pattern is a host (`example.com`, matched
 * exactly), a domain and its subdomains (`.example.com`), or `*` (any valid
 * host). Ports are not part of a pattern: the request's is ignored, as
 * Django ignores it. A trailing dot on the request's host is too, and on
 * an entry (`example.com.` is `example.com`).
 *
 * @example
 * createApp({ allowedHosts: ['example.com', '.api.example.com'], routes })
 */
export function compileAllowedHosts(value: unknown): HostCheck | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new TypeError(`createApp(): allowedHosts must be a list of host names, got ${describe(value)}`);
  if (value.length === 0) throw new TypeError('createApp(): allowedHosts is empty, so no request could be served; leave it out to serve any host');
  const exact = new Set<string>();
  const domains: string[] = [];
  let any = false;
  for (const entry of value) {
    if (typeof entry !== 'string') throw new TypeError(`createApp(): allowedHosts holds ${describe(entry)}; each entry is a host name, '.domain' or '*'`);
    // A fully qualified name's trailing dot (`example.com.`) is dropped, as it is from the request's host.
    const pattern = entry.length > 1 && entry.endsWith('.') ? entry.slice(0, -1).toLowerCase() : entry.toLowerCase();
    if (pattern === '*') any = true;
    else if (!PATTERN.test(pattern)) {
      throw new TypeError(`createApp(): allowedHosts entry ${JSON.stringify(entry)} is not a host name: give it without scheme, port or path (${hint(pattern)})`);
    } else if (pattern.startsWith('.')) domains.push(pattern);
    else exact.add(pattern);
  }
  if (any) return (host) => host !== undefined;
  return (host) => {
    if (host === undefined) return false;
    const name = hostName(host);
    if (exact.has(name)) return true;
    return domains.some((domain) => name.endsWith(domain) || name === domain.slice(1));
  };
}

/** A host without its port and trailing dot: `Example.com.:8000` is `example.com` (request.host is lower-case already). */
function hostName(host: string): string {
  const port = host.startsWith('[') ? host.indexOf(']:') + 1 : host.lastIndexOf(':');
  const name = port > 0 ? host.slice(0, port) : host;
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** The entry as it should have been written, when that can be guessed. */
function hint(pattern: string): string {
  if (pattern.startsWith('*.')) return `did you mean ${JSON.stringify(pattern.slice(1))}? A leading dot takes the domain and its subdomains`;
  let guess: string | undefined;
  try {
    guess = new URL(pattern.includes('://') ? pattern : `http://${pattern}`).hostname;
  } catch {
    // No URL either: no guess.
  }
  // A guess that is the entry itself ("did you mean "a..b"?") says nothing.
  return guess === undefined || guess === pattern ? "e.g. 'example.com' or '.example.com'" : `did you mean ${JSON.stringify(guess)}?`;
}

/**
 * Why a request was refused for its host: the host it asked for
 * (`request.host`); else what it sent that is no host: the authority of an
 * absolute-form `target` (which wins over the Host line, RFC 9112 3.2.2), or
 * the Host line.
 */
export function disallowedHost(host: string | undefined, sent: string | null, target: string): string {
  if (host !== undefined) return `the host ${JSON.stringify(host)} is not one this app serves (createApp's allowedHosts)`;
  const authority = ABSOLUTE_FORM.exec(target)?.[1];
  if (authority !== undefined) {
    return `the host ${JSON.stringify(authority)} of the request target ${JSON.stringify(target)} is not a valid host name, and this app serves only its allowedHosts`;
  }
  if (sent === null) return 'the request names no host, and this app serves only its allowedHosts';
  return `the Host ${JSON.stringify(sent)} is not a valid host name, and this app serves only its allowedHosts`;
}
