import { currentRequest } from '../util/current-request.js';

/**
 * Throws when the code running now belongs to the request whose exchange is
 * sending, or has sent, the response with `headers` (an after() task, an
 * afterResponse hook, its own stream): its head went out, or is going out,
 * as it was, and `change` (what happens to a write now) would go unnoticed
 * otherwise, as Next.js refuses cookies in after(). A response another
 * request sends (a shared constant) is not this request's: still free to
 * change for it. One read of the request's context: no flag to keep.
 */
export function refuseOnSent(headers: object, where: string, change: string): void {
  if ((currentRequest() as { readonly response?: { readonly headers: object } } | undefined)?.response?.headers === headers) {
    throw new TypeError(`${where}: the response is being sent already and ${change}`);
  }
}
