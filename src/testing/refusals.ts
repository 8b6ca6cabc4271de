import { maxHeaderSize } from 'node:http';
import { refusalOf, type Refusal } from '../observe/refusal.js';
import { closingHeaders } from '../server/client-error.js';
import { EXPECTATION_REASON, expectationAnswer } from '../server/expectation.js';
import { FIELDS_TOO_LARGE, URI_TOO_LONG } from '../server/head-overflow.js';
import { HEADERS_KEPT, TOO_MANY } from '../server/header-list.js';
import { malformed } from '../server/refuse-http1.js';
import { chunkedLast, INVALID_CODING, UNSUPPORTED_CODING, unsupportedCoding } from '../server/transfer-coding.js';
import { TestResponse } from './test-response.js';

/** A request serve() refuses before the app: its answer, and the refusal the app's access log and metrics record. */
export interface ServerRefusal {
  response: TestResponse;
  refusal: Refusal;
}

/** The in-process request's peer, as `inProcess` gives it. */
const LOOPBACK = { remoteAddress: '127.0.0.1' };
/** Node's `Expect` test (node:http's `continueExpression`): any other expectation is refused (listener.ts answers 417). */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
/** llhttp, strict as Node runs it, refuses a Transfer-Encoding with anything after `chunked` as it reads the field. */
const CHUNKED_NOT_LAST = /(?:^|,)[ \t]*chunked[ \t]*,/i;

/**
 * What `serve()`, with its defaults, answers to the request the socket
 * transport would send for `target` and `headers` (those given, Host
 * included) before its app sees it, in the server's order: Node's parser
 * (its head size and field count, its Transfer-Encoding grammar), Node's
 * Expect check, then Coda's own (header-list.ts, transfer-coding.ts); with
 * the server's own words. Undefined for a request the app gets. The limits
 * are the defaults: a server given other options is not known here.
 */
export function serverRefusal(target: string, headers: Record<string, string>): ServerRefusal | undefined {
  const sent = Object.entries(headers);
  // Node's client adds it (its agent keeps connections alive), and Node's parser counts it.
  if (headers['connection'] === undefined) sent.push(['connection', 'keep-alive']);
  const overflow = headOverflow(target, sent);
  if (overflow !== undefined) return parserRefusal(...overflow, 'HPE_HEADER_OVERFLOW');
  const coding = headers['transfer-encoding'];
  const malformedCoding = coding === undefined ? undefined : parsedCoding(coding);
  if (malformedCoding !== undefined) return parserRefusal(...malformed(malformedCoding), 'HPE_INVALID_TRANSFER_ENCODING');
  const expect = headers['expect'];
  if (expect !== undefined && !CONTINUE.test(expect)) return serverAnswer(417, expectationAnswer(expect), EXPECTATION_REASON);
  if (sent.length === HEADERS_KEPT) return serverAnswer(431, TOO_MANY, TOO_MANY);
  const unsupported = coding === undefined ? undefined : unsupportedCoding(coding);
  return unsupported === undefined ? undefined : serverAnswer(501, unsupported, UNSUPPORTED_CODING);
}

/**
 * head-overflow.ts's answer when Node's parser would stop the head: it
 * counts the URL and each field's name and value (no method, spaces, colons
 * or line ends), and refuses once that reaches `maxHeaderSize` (the URL alone:
 * 414); more fields than the server keeps are its 431 too (Node 24).
 */
function headOverflow(target: string, sent: [string, string][]): [number, string] | undefined {
  if (target.length >= maxHeaderSize) return URI_TOO_LONG;
  let counted = target.length;
  for (const [name, value] of sent) counted += name.length + value.length;
  return counted >= maxHeaderSize || sent.length > HEADERS_KEPT ? FIELDS_TOO_LARGE : undefined;
}

/** llhttp's words for a Transfer-Encoding it refuses, or undefined for one it reads as chunked. */
function parsedCoding(coding: string): string | undefined {
  if (coding === '') return 'Empty Transfer-Encoding';
  if (CHUNKED_NOT_LAST.test(coding)) return 'Invalid `Transfer-Encoding` header value';
  return chunkedLast(coding) ? undefined : INVALID_CODING;
}

/** client-error.ts's answer to a parser error: written raw, with no Date. */
function parserRefusal(status: number, text: string, code: string): ServerRefusal {
  const body = `${text}\n`;
  return { response: new TestResponse(status, new Headers(closingHeaders(body)), Buffer.from(body)), refusal: refusalOf(status, body, LOOPBACK, code) };
}

/** A refusal answered through node:http's response (refuse-http1.ts, expectation.ts): with the Date it adds. */
function serverAnswer(status: number, body: string, reason: string): ServerRefusal {
  const headers = new Headers(closingHeaders(body));
  headers.set('date', new Date().toUTCString());
  return { response: new TestResponse(status, headers, Buffer.from(body)), refusal: refusalOf(status, reason, LOOPBACK) };
}
