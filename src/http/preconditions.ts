// RFC 9110's conditional requests, shared by staticFiles() and
// conditionalGet(). If-Match and If-Range compare entity-tags strongly,
// If-None-Match weakly (RFC 9110 8.8.3.2). @fastify/send compared all of
// them weakly; every ETag it makes is weak, so no If-Match or If-Range tag
// matches one: a weak tag is a cache's validator, not a promise that the
// bytes are the same (RFC 9110 8.8.1).

import { echo } from '../util/echo.js';
import { PreconditionFailed } from './errors.js';

/** One list member: a quoted tag (which may hold a comma), else anything up to the next comma. */
const MEMBER = /\s*((?:W\/)?"[^"]*"|[^,]*)\s*(?:,|$)/y;
/** An entity-tag as RFC 9110 8.8.3 writes it: no blank, no `"` inside the quotes. */
const ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7E\x80-\xFF]*"$/;

/**
 * The entity-tags of an If-Match or If-None-Match value, in order. A member
 * that is none (unquoted, a blank inside the quotes) is left out: it names
 * no representation. Linear in the value's length, however long the list.
 */
export function entityTags(value: string): string[] {
  const tags: string[] = [];
  MEMBER.lastIndex = 0;
  // Each match takes at least one character (a comma ends the shortest), so this ends at the value's end.
  while (MEMBER.lastIndex < value.length) {
    const member = MEMBER.exec(value)![1]!.trim();
    if (ENTITY_TAG.test(member)) tags.push(member);
  }
  return tags;
}

/** Strong comparison (RFC 9110 8.8.3.2): the same tag, and neither weak. */
function strongMatch(tag: string, etag: string | undefined): boolean {
  return etag !== undefined && !etag.startsWith('W/') && tag === etag;
}

/** Weak comparison (RFC 9110 8.8.3.2): the same opaque tag, either or both weak. */
function weakMatch(tag: string, etag: string): boolean {
  return (tag.startsWith('W/') ? tag.slice(2) : tag) === (etag.startsWith('W/') ? etag.slice(2) : etag);
}

/**
 * Whether a request's If-Match holds (RFC 9110 13.1.1) for a current
 * representation whose ETag is `etag`: `*`, or a tag that matches it
 * strongly. Absent, it holds. @fastify/send let a weak tag, or the weak
 * ETag written without its `W/`, match.
 */
export function ifMatchHolds(ifMatch: string | null, etag: string | undefined): boolean {
  if (ifMatch === null || ifMatch.trim() === '*') return true;
  return entityTags(ifMatch).some((tag) => strongMatch(tag, etag));
}

/**
 * Whether a request's If-None-Match holds (RFC 9110 13.1.2) for a current
 * representation whose ETag is `etag`: false for `*`, or for a tag that
 * matches it weakly (the client has it: a 304 for GET and HEAD). Absent, it holds.
 */
export function ifNoneMatchHolds(ifNoneMatch: string | null, etag: string | undefined): boolean {
  if (ifNoneMatch === null) return true;
  if (ifNoneMatch.trim() === '*') return false;
  return etag === undefined || !entityTags(ifNoneMatch).some((tag) => weakMatch(tag, etag));
}

/**
 * Whether a request's If-Range holds (RFC 9110 13.1.5): an entity-tag that
 * matches `etag` strongly, or a date that is `lastModified` exactly.
 * @fastify/send matched a weak tag, and any date no older than
 * Last-Modified, or any date at all when the route sends none: a range of a
 * representation the client cannot know it has.
 */
export function ifRangeHolds(ifRange: string, etag: string | undefined, lastModified: string | undefined): boolean {
  const validator = ifRange.trim();
  if (validator.startsWith('"') || validator.startsWith('W/')) return strongMatch(validator, etag);
  const date = httpDate(validator);
  return lastModified !== undefined && date !== undefined && date === httpDate(lastModified);
}

/**
 * RFC 9110 13.2.2's evaluation of a GET or HEAD's conditions against the
 * representation's `etag` and `lastModified` (ms, from its Last-Modified):
 * If-Match (strong comparison, `*` holds), else a valid If-Unmodified-Since,
 * failing is a 412; If-None-Match (weak comparison, `*` matches) matching,
 * else (without If-None-Match) a valid If-Modified-Since no older than
 * Last-Modified, is a 304; undefined when the request goes on (its 200, or
 * the range it asks). A date that is no HTTP-date is ignored. With neither
 * validator there is nothing to compare: undefined.
 */
export function conditionsAnswer(headers: { get(name: string): string | null }, etag: string | undefined, lastModified: number | undefined): 304 | 412 | undefined {
  if (etag === undefined && lastModified === undefined) return undefined;
  const ifMatch = headers.get('if-match');
  if (!ifMatchHolds(ifMatch, etag)) return 412;
  if (ifMatch === null && lastModified !== undefined && !notModifiedSince(headers.get('if-unmodified-since'), lastModified, true)) return 412;
  const ifNoneMatch = headers.get('if-none-match');
  const fresh = ifNoneMatch === null
    ? lastModified !== undefined && notModifiedSince(headers.get('if-modified-since'), lastModified, false)
    : !ifNoneMatchHolds(ifNoneMatch, etag);
  return fresh ? 304 : undefined;
}

/**
 * Whether a date condition's value names a time no older than `modified`;
 * `absent` when the value is absent or no HTTP-date (RFC 9110 13.1.3, 13.1.4:
 * ignored, so an If-Unmodified-Since holds and an If-Modified-Since does not).
 */
function notModifiedSince(value: string | null, modified: number, absent: boolean): boolean {
  const since = value === null ? undefined : httpDate(value);
  return since === undefined ? absent : modified <= since;
}

/** The 412 for a request whose preconditions fail, naming its path (cut by echo() when long): the one message staticFiles(), FileResponse and conditionalGet() send. */
export function preconditionFailed(path: string): PreconditionFailed {
  return new PreconditionFailed(`${echo(path)} does not match the request's preconditions`);
}

const DAY = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(?<month>${MONTHS.join('|')})`;
const TIME = '(?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})';
/** RFC 9110 5.6.7's three formats, case-sensitive: IMF-fixdate, and the obsolete rfc850 (a two-digit year) and asctime (no zone: GMT). */
const HTTP_DATES = [
  new RegExp(`^(?:${DAY}), (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`),
  new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (?<day>\\d{2})-${MONTH}-(?<year>\\d{2}) ${TIME} GMT$`),
  new RegExp(`^(?:${DAY}) ${MONTH} (?<day>[ \\d]\\d) ${TIME} (?<year>\\d{4})$`),
];

/**
 * The time (ms since 1970) an HTTP-date names; undefined for anything else,
 * which RFC 9110 has a recipient ignore in a date condition. Date.parse took
 * '3100' or an ISO date for one, and read asctime in the server's time zone.
 */
export function httpDate(value: string): number | undefined {
  for (const format of HTTP_DATES) {
    const parts = format.exec(value)?.groups;
    if (parts === undefined) continue;
    let year = Number(parts.year);
    if (parts.year!.length === 2) {
      // rfc850: the most recent year with those two digits that is not more than 50 years ahead (RFC 9110 5.6.7).
      const now = new Date().getUTCFullYear();
      year += now - (now % 100);
      if (year > now + 50) year -= 100;
    }
    const [day, hour, minute, second] = [parts.day, parts.hour, parts.minute, parts.second].map(Number) as [number, number, number, number];
    const time = Date.UTC(year, MONTHS.indexOf(parts.month!), day, hour, minute, second);
    // Date.UTC rolls 31 Feb over into March: no date.
    return new Date(time).getUTCDate() === day && hour < 24 && minute < 60 && second < 61 ? time : undefined;
  }
  return undefined;
}
