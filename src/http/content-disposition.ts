/** What a quoted-string may hold as it is (RFC 9110 5.6.4): tab, space and visible ASCII; `"` and `\` are escaped. */
const QUOTABLE = /^[\t\x20-\x7e]*$/;
/** What RFC 8187's attr-char leaves unencoded beyond what encodeURIComponent does not: its `'()*` are encoded too. */
const NOT_ATTR_CHAR = /['()*]/g;
/** What an ASCII fallback cannot carry: anything but visible ASCII and space, `%` (some browsers decode it) and `"`/`\`, read apart by some. */
const NOT_FALLBACK = /[^\x20-\x7e]|[%"\\]/gu;

/**
 * A Content-Disposition value (RFC 6266): `attachment` or `inline`, with the
 * filename when there is one. A filename of tab, space and visible ASCII goes
 * as a quoted `filename="…"` (its `"` and `\` escaped); any other, as
 * RFC 8187's `filename*=UTF-8''…` (percent-encoded UTF-8) after an ASCII
 * `filename="…"` fallback for clients that read no `filename*` (each other
 * character an `_`). Undefined for an inline response without a filename:
 * no header is needed. A filename that is not well-formed Unicode is a TypeError.
 */
export function contentDisposition(where: string, asAttachment: boolean, filename: string | undefined): string | undefined {
  const disposition = asAttachment ? 'attachment' : 'inline';
  if (filename === undefined || filename === '') return asAttachment ? disposition : undefined;
  if (QUOTABLE.test(filename)) return `${disposition}; filename=${quoted(filename)}`;
  let encoded: string;
  try {
    encoded = encodeURIComponent(filename).replace(NOT_ATTR_CHAR, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    throw new TypeError(`${where}: the filename ${JSON.stringify(filename)} is not well-formed Unicode (a lone surrogate)`);
  }
  return `${disposition}; filename=${quoted(filename.replace(NOT_FALLBACK, '_'))}; filename*=UTF-8''${encoded}`;
}

function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, '\\$&')}"`;
}
