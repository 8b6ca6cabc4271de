/**
 * Whether a request's If-Range holds (RFC 9110 13.1.5) for a representation
 * whose validators are `headers` (as @fastify/send wrote them): an
 * entity-tag must equal the ETag by strong comparison, so a weak one never
 * matches (and every ETag @fastify/send makes is weak); a date must be the
 * Last-Modified exactly. Absent, it holds. @fastify/send matched a weak tag,
 * and any date no older than Last-Modified, or any date at all when the
 * route sends none: a range of a representation the client cannot know it has.
 */
export function ifRangeHolds(ifRange: string | null, headers: Readonly<Record<string, string>>): boolean {
  if (ifRange === null) return true;
  const validator = ifRange.trim();
  if (validator.startsWith('"') || validator.startsWith('W/')) {
    const etag = headers.ETag;
    return etag !== undefined && !etag.startsWith('W/') && etag === validator;
  }
  const lastModified = headers['Last-Modified'];
  const date = Date.parse(validator);
  return lastModified !== undefined && !Number.isNaN(date) && date === Date.parse(lastModified);
}
