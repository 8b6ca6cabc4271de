import type { HttpResponse } from './response.js';

/**
 * The Content-Type of the 200 that a 304 stands for. The 304 leaves it off
 * (RFC 9110 15.4.5: a cache updates its stored 200 with the 304's headers),
 * yet what is decided by the type must be decided alike for both: compress()
 * gives the 304 of a text file the `Vary: Accept-Encoding` of its 200, and an
 * image's none. Kept beside the response, never sent.
 */
const types = new WeakMap<HttpResponse, string>();

/** Records the Content-Type the 200 for `response` (a 304) would have had. */
export function setRepresentationType(response: HttpResponse, type: string): HttpResponse {
  types.set(response, type);
  return response;
}

/** The Content-Type the response has, or for a 304 the one its 200 would have had, when known. */
export function representationType(response: HttpResponse): string | null {
  return response.headers.get('content-type') ?? types.get(response) ?? null;
}
