// Which part of a head past maxHeaderSize Node's parser stopped in, from the
// read it stopped in (its error's rawPacket and bytesParsed, as Node 24 gives
// them; over a real socket each head arrives in one read: bad-input.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { overflowAnswer } from '../../src/server/head-overflow.js';

/** The error for a read of `text` on a connection that has read `bytesRead` bytes, the parser stopped at `marker` (or at the read's end). */
function answer(text: string, bytesRead: number, marker?: string): number {
  const rawPacket = Buffer.from(text, 'latin1');
  const bytesParsed = marker === undefined ? rawPacket.length : text.indexOf(marker);
  return overflowAnswer({ rawPacket, bytesParsed }, { bytesRead } as never)[0];
}

describe('overflowAnswer', () => {
  test('a URL that ends in a later read than it began: 414 (the parser stops at the space after it)', () => {
    assert.equal(answer(`${'a'.repeat(4000)} HTTP/1.1\r\n\r\n`, 20_018, ' HTTP'), 414);
  });

  test('a URL still arriving when the read ends: 414 if its line starts in the read, the connection\'s first or after a request before it', () => {
    assert.equal(answer(`GET /${'a'.repeat(17_000)}`, 17_005), 414);
    assert.equal(answer(`GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /${'a'.repeat(17_000)}`, 40_000), 414);
  });

  test('a URL still arriving when the read ends, its line begun mid-line after the body of the request before it: 414 (it was the 431 of the header fields)', () => {
    assert.equal(answer(`POST /ok HTTP/1.1\r\nContent-Length: 7\r\n\r\n{"a":1}GET /${'a'.repeat(17_000)}`, 17_050), 414);
  });

  test('a read of its own on a kept-alive connection, begun by a request line and ending inside its URL: 414 (it was the 431 of the header fields)', () => {
    assert.equal(answer(`GET /${'a'.repeat(17_000)}`, 40_000), 414);
    assert.equal(answer(`OPTIONS *${'a'.repeat(17_000)}`, 40_000), 414);
    assert.equal(answer(`GET http://localhost/${'a'.repeat(17_000)}`, 40_000), 414);
  });

  test('a field past the count: the parser stops on the space after its name\'s colon, a 431 (it was the 414 of the URL); a URL ending in a colon still ends at its space, a 414', () => {
    const text = `GET /ok HTTP/1.1\r\nHost: x\r\n${'a: 1\r\n'.repeat(999)}b: 1\r\n\r\n`;
    const bytesParsed = text.lastIndexOf('b:') + 2;
    assert.equal(overflowAnswer({ rawPacket: Buffer.from(text, 'latin1'), bytesParsed }, { bytesRead: text.length } as never)[0], 431);
    assert.equal(answer(`GET /${'a'.repeat(17_000)}: HTTP/1.1\r\n\r\n`, 17_100, ' HTTP'), 414);
  });

  test('a header value or name past the limit: 431, wherever the read ends', () => {
    assert.equal(answer(`X-A: ${'b'.repeat(9000)}\r\n\r\n`, 18_034, '\r\n\r\n'), 431);
    assert.equal(answer(`GET /ok HTTP/1.1\r\nX-A: ${'b'.repeat(17_000)}`, 17_022), 431);
    assert.equal(answer(`GET /ok HTTP/1.1\r\n${'X'.repeat(17_000)}:`, 17_035, ':'), 431);
    // A header name still arriving, its line begun in the read.
    assert.equal(answer(`GET /ok HTTP/1.1\r\n${'X'.repeat(17_000)}`, 17_017), 431);
    // Inside a value begun in an earlier read: a space is no URL's, unless it follows the read's first word as a method's.
    assert.equal(answer(`${'b'.repeat(300)} ${'b'.repeat(300)}`, 30_000), 431);
    assert.equal(answer(`GET /${'b'.repeat(300)} ${'b'.repeat(300)}`, 30_000), 431);
  });

  /** The answer to a read of `text` that ends inside a line begun in an earlier read is the 431 that names both. */
  function assertNamesBoth(text: string): void {
    const [status, words] = overflowAnswer({ rawPacket: Buffer.from(text), bytesParsed: text.length }, { bytesRead: 20_000 } as never);
    assert.equal(status, 431);
    assert.match(words, /request line and headers/);
  }

  test('a read entirely inside a line begun earlier, with no space, shows neither: the 431 that names both', () => {
    assertNamesBoth('a'.repeat(4000));
  });

  test('a read entirely inside a line begun earlier, ending in a request line after other bytes (a body\'s end, or a header value\'s), shows neither: the 431 that names both', () => {
    assertNamesBoth(`{"a":1}GET /${'a'.repeat(4000)}`);
  });
});
