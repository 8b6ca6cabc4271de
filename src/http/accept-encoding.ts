// Accept-Encoding (RFC 9110 12.5.3), read one way for compress() and for
// staticFiles()' pre-compressed files.

/** A content coding Coda applies or serves: Brotli or gzip. */
export type Encoding = 'br' | 'gzip';

const ACCEPT_TOKEN = /^\s*([^\s;,]+)\s*(?:;\s*q\s*=\s*([^\s;,]*))?/i;

/**
 * The encodings of `offered` that `accept` (an Accept-Encoding header) takes,
 * best first: by q-value, above 0 only, `*` standing for any not named; ties
 * in `offered`'s order. None when the header is absent (clients that take
 * compression say so) or takes none of them (`identity` only, `q=0`); a
 * broken q-value is ignored.
 */
export function acceptedEncodings(accept: string | null, offered: readonly Encoding[]): Encoding[] {
  if (accept === null || accept.trim() === '') return [];
  const weights = new Map<string, number>();
  for (const part of accept.split(',')) {
    const match = ACCEPT_TOKEN.exec(part);
    if (match === null) continue;
    const q = match[2] === undefined ? 1 : Number(match[2]);
    if (Number.isFinite(q)) weights.set(match[1]!.toLowerCase(), Math.min(Math.max(q, 0), 1));
  }
  const weight = (encoding: Encoding): number => weights.get(encoding) ?? weights.get('*') ?? 0;
  // A stable sort: equal weights keep the offered order.
  return offered.filter((encoding) => weight(encoding) > 0).sort((a, b) => weight(b) - weight(a));
}
