import { ABSOLUTE_FORM, LAST_PORT } from './client-address.js';

// RFC 3986 3.2.2-3: an IP-literal in brackets (IPv6, a zone, IPvFuture), or a reg-name (an IPv4 address is one) of
// unreserved characters, escapes and sub-delims, maybe empty; then a port of digits, maybe empty. The port is captured.
const AUTHORITY = /^(?:\[[0-9A-Za-z\-._~!$&'()*+,;=:%]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::(\d*))?$/;
/** The last Host found valid: a server answers to few names, and the grammar's test is skipped for it. */
let lastValid: string | undefined;

/**
 * Why a request's Host line, or the authority of its absolute-form target,
 * names no host a server may take; undefined when both do (or the request
 * sent neither). RFC 9112 3.2 makes a Host with an invalid value a 400, as
 * Go's server answers it; Node takes any. Valid is RFC 3986's grammar with a
 * port up to 65535: `foo_bar.com` and an empty Host are valid, and read as
 * no `request.host` (its names are DNS names); `exa mple.com`, `a@b`,
 * `a.com/x`, `a.com:abc` and `a.com:99999` are not. In an absolute-form
 * target, user information and an empty host are refused too (RFC 9110
 * 4.2.1, 4.2.4).
 */
export function hostFieldProblem(host: string | undefined, target: string): string | undefined {
  // Origin form, the common case, costs one character's test.
  if (target.charCodeAt(0) !== 0x2f /* '/' */) {
    const authority = ABSOLUTE_FORM.exec(target)?.[1];
    if (authority !== undefined) {
      const shown = withoutPassword(authority);
      // The scheme holds no '@': the authority, when it has a password to hide, is first found after it.
      const name = `the host ${JSON.stringify(shown)} of the request target ${JSON.stringify(target.replace(authority, shown))}`;
      const problem = authorityProblem(authority, name);
      if (problem !== undefined) return problem;
      if (authority === '' || authority.startsWith(':')) return `the request target ${JSON.stringify(target)} names no host (RFC 9110 4.2.1)`;
    }
  }
  if (host === undefined || host === lastValid) return undefined;
  const problem = authorityProblem(host, `the Host ${JSON.stringify(withoutPassword(host))}`);
  if (problem === undefined) lastValid = host;
  return problem;
}

/**
 * `authority` with the password of its user information (`user:password@`)
 * replaced by `REDACTED`, as OpenTelemetry redacts `url.full`: the message
 * naming it is logged, and answered.
 */
function withoutPassword(authority: string): string {
  const at = authority.lastIndexOf('@');
  const colon = authority.indexOf(':');
  return colon < 0 || colon > at ? authority : `${authority.slice(0, colon + 1)}REDACTED${authority.slice(at)}`;
}

/** What is wrong with `authority` (a host and an optional port), named `name` in the message; undefined when nothing is. */
function authorityProblem(authority: string, name: string): string | undefined {
  const match = AUTHORITY.exec(authority);
  if (match === null) return `${name} is not a valid host name with an optional port${authority.includes('@') ? ': user information is refused (RFC 9110 4.2.4)' : ' (RFC 9112 3.2)'}`;
  const port = match[1];
  if (port !== undefined && port !== '' && Number(port) > LAST_PORT) return `${name} is not a valid host name with an optional port: ${port} is past the last port, ${LAST_PORT}`;
  return undefined;
}
