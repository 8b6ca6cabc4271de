// RFC 9110 14.1.1's Range and 13.1.5's If-Range, one rule for staticFiles()
// and FileResponse: both answer a request's Range with rangeAnswer().

import { echo } from '../util/echo.js';
import { RangeNotSatisfiable } from './errors.js';
import { ifRangeHolds } from './preconditions.js';

const BYTES_UNIT = /^\s*bytes=/i;
/** An int-range (first and last positions captured, the last maybe empty) or a suffix-range (its length captured). */
const RANGE_SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/;

/**
 * A Range's range-specs, when the value is one in RFC 9110 14.1.1's syntax
 * (the unit in any case, blanks and empty members of the list as its list
 * rule allows, no last position before its first); undefined for anything
 * else, which is then ignored (the whole file, RFC 9110 14.2). @fastify/send
 * matches the unit in lower case only, and reads each position with
 * parseInt: `bytes=1e1-` was a 206 from byte 1, `bytes=-` a 416.
 */
function rangeSpecs(range: string): string[] | undefined {
  if (!BYTES_UNIT.test(range)) return undefined;
  const specs = range.slice(range.indexOf('=') + 1).split(',').map((spec) => spec.trim()).filter((spec) => spec !== '');
  return specs.length > 0 && specs.every(validSpec) ? specs : undefined;
}

/** A range-spec in RFC 9110 14.1.1's syntax, whose last position, when given, is not before its first (else it is invalid: `5-2`). */
function validSpec(spec: string): boolean {
  const match = RANGE_SPEC.exec(spec);
  // Compared as BigInts: a position may have more digits than a number holds exactly.
  return match !== null && (match[1] === undefined || match[2] === '' || BigInt(match[1]) <= BigInt(match[2]!));
}

/**
 * Whether the range-specs (by `rangeSpecs()`) ask for a suffix of a non-zero
 * length: the one range-spec an empty representation satisfies (RFC 9110
 * 14.1.1), with no byte to send in a 206, so its whole (empty) 200 answers it.
 */
function emptySatisfies(specs: readonly string[]): boolean {
  return specs.some((spec) => spec.startsWith('-') && /[1-9]/.test(spec));
}

/** The bytes from `start` to `end`, both included (as Content-Range writes them). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a Range asks of a representation of `size` bytes, as @fastify/send
 * (range-parser with `combine`) answers it: one range, when the satisfiable
 * ones overlap or touch into one; `'unsatisfiable'` when none is (RFC 9110
 * 14.1.1: a first position at or past the end, a suffix of 0); undefined for
 * a Range to ignore (not one by `rangeSpecs()`), for an empty representation
 * that `emptySatisfies()`, and for several ranges apart, which get the whole
 * representation, once: never more bytes than
 * the file's, however many ranges are asked. Linear in the Range's length,
 * but for the sort of its ranges.
 */
function byteRange(range: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const specs = rangeSpecs(range);
  if (specs === undefined) return undefined;
  if (size === 0) return emptySatisfies(specs) ? undefined : 'unsatisfiable';
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    const [, first, last, suffix] = RANGE_SPEC.exec(spec)!;
    if (suffix !== undefined) {
      // A suffix longer than the file is the whole file; a suffix of 0 asks for nothing.
      if (Number(suffix) > 0) ranges.push({ start: Math.max(0, size - Number(suffix)), end: size - 1 });
    } else if (Number(first) < size) {
      ranges.push({ start: Number(first), end: last === '' ? size - 1 : Math.min(Number(last), size - 1) });
    }
  }
  if (ranges.length === 0) return 'unsatisfiable';
  ranges.sort((a, b) => a.start - b.start);
  const joined = ranges[0]!;
  for (const next of ranges) {
    if (next.start > joined.end + 1) return undefined;
    joined.end = Math.max(joined.end, next.end);
  }
  return joined;
}

/**
 * The range a GET or HEAD's `Range` asks of a representation of `size` bytes
 * whose validators are `etag` and `lastModified`: undefined for the whole
 * (no Range, one to ignore, an If-Range that fails: RFC 9110 13.1.5), else
 * the one range to send in a 206. None satisfiable is the 416
 * (`RangeNotSatisfiable`, naming the range and the request's `path`), thrown.
 */
export function rangeAnswer(headers: { get(name: string): string | null }, path: string, size: number, etag: string | undefined, lastModified: string | undefined): ByteRange | undefined {
  const asked = headers.get('range');
  if (asked === null) return undefined;
  const ifRange = headers.get('if-range');
  if (ifRange !== null && !ifRangeHolds(ifRange, etag, lastModified)) return undefined;
  const range = byteRange(asked, size);
  if (range === 'unsatisfiable') throw new RangeNotSatisfiable(size, `range ${echo(asked)} is not satisfiable for ${echo(path)}: it has ${size} bytes`);
  return range;
}
