import { parseSetCookie } from 'cookie';

interface Kept {
  name: string;
  /** As the app set it, not decoded: sent back as it came. */
  value: string;
  path: string;
  /** When it expires (`Date.now()` ms); Infinity for a session cookie. */
  expires: number;
}

/**
 * The test client's cookies, kept as a browser keeps one site's (RFC 6265
 * 5.3, 5.4): a Set-Cookie stores or replaces its name at its path, an expiry
 * passed or `Max-Age=0` removes it, and a request gets those whose path
 * matches its own, longest path first. Domain and Secure are not checked:
 * every request goes to the one app, over loopback (a secure context, as
 * browsers treat localhost).
 */
export class CookieJar {
  #cookies: Kept[] = [];

  /** Keeps what `setCookies` (a response's Set-Cookie values) say, for the request to `target`. */
  store(setCookies: readonly string[], target: string): void {
    const now = Date.now();
    for (const header of setCookies) {
      const { name, value, path, maxAge, expires } = parseSetCookie(header, { decode: (raw) => raw });
      if (name === '' || value === undefined) continue;
      const at = path?.startsWith('/') ? path : defaultPath(pathOf(target));
      const until = maxAge !== undefined ? now + maxAge * 1000 : expires?.getTime() ?? Infinity;
      this.#cookies = this.#cookies.filter((kept) => kept.name !== name || kept.path !== at);
      if (until > now) this.#cookies.push({ name, value, path: at, expires: until });
    }
  }

  /** The Cookie header for a request to `target`; undefined when no cookie applies. */
  header(target: string): string | undefined {
    const now = Date.now();
    this.#cookies = this.#cookies.filter((kept) => kept.expires > now);
    const path = pathOf(target);
    const sent = this.#cookies.filter((kept) => pathMatches(path, kept.path)).sort((a, b) => b.path.length - a.path.length);
    return sent.length === 0 ? undefined : sent.map(({ name, value }) => `${name}=${value}`).join('; ');
  }
}

function pathOf(target: string): string {
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

/** RFC 6265 5.1.4: the request path up to its last slash, for a cookie that names no path. */
function defaultPath(path: string): string {
  const last = path.lastIndexOf('/');
  return last <= 0 ? '/' : path.slice(0, last);
}

/** RFC 6265 5.1.4: the cookie's path is the request's, or a prefix of it ending at a slash. */
function pathMatches(path: string, cookiePath: string): boolean {
  if (path === cookiePath) return true;
  return path.startsWith(cookiePath) && (cookiePath.endsWith('/') || path[cookiePath.length] === '/');
}
