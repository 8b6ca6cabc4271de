// The two conditions RFC 9110 has compare entity-tags strongly, which
// @fastify/send compares weakly. Every ETag it makes is weak, so no
// entity-tag matches one: a weak tag is a cache's validator, not a promise
// that the bytes are the same (RFC 9110 8.8.1).

type Validators = Readonly<Record<string, string>>;

/** Strong comparison (RFC 9110 8.8.3.2): the same tag, and neither weak. */
function strongMatch(tag: string, etag: string | undefined): boolean {
  return etag !== undefined && !etag.startsWith('W/') && tag === etag;
}

/**
 * Whether a request's If-Match holds (RFC 9110 13.1.1) for a representation
 * whose validators are `headers` (as @fastify/send wrote them): `*`, or a
 * tag that matches the ETag strongly. Absent, it holds. @fastify/send let a
 * weak tag, or the weak ETag written without its `W/`, match.
 */
export function ifMatchHolds(ifMatch: string | null, headers: Validators): boolean {
  if (ifMatch === null || ifMatch.trim() === '*') return true;
  return ifMatch.split(',').some((member) => strongMatch(member.trim(), headers.ETag));
}

/**
 * Whether a request's If-Range holds (RFC 9110 13.1.5): an entity-tag that
 * matches the ETag strongly, or a date that is the Last-Modified exactly.
 * @fastify/send matched a weak tag, and any date no older than
 * Last-Modified, or any date at all when the route sends none: a range of a
 * representation the client cannot know it has.
 */
export function ifRangeHolds(ifRange: string, headers: Validators): boolean {
  const validator = ifRange.trim();
  if (validator.startsWith('"') || validator.startsWith('W/')) return strongMatch(validator, headers.ETag);
  const lastModified = headers['Last-Modified'];
  const date = Date.parse(validator);
  return lastModified !== undefined && !Number.isNaN(date) && date === Date.parse(lastModified);
}
