// What serve() refuses before the app, with its defaults, the in-process client refuses too, with the same answer:
// a test that passes in-process must not fail against the real server. Each case runs on both transports.
import assert from 'node:assert/strict';
import { maxHeaderSize } from 'node:http';
import { test } from 'node:test';
import { createApp, JsonResponse, route, type Logger } from 'coda-http';
import { createTestClient, type TestRequestOptions } from 'coda-http/testing';
import { memoryLogger } from '../helpers.js';

interface Answer {
  status: number;
  body: string;
  /** The answer's headers but Date (its value is the clock's; whether there is one is kept). */
  headers: Record<string, string>;
  /** The app's access-log lines for a request refused before it. */
  refusals: unknown[];
}

function appSeeing(logger?: Logger): ReturnType<typeof createApp> {
  return createApp({ logger, routes: [route(['GET', 'POST'], '/*', async (request) => new JsonResponse({ app: true, bytes: (await request.bytes()).length }))] });
}

/** The answer to the request on each transport, in-process first. */
async function onBoth(method: string, path: string, options: TestRequestOptions = {}): Promise<[Answer, Answer]> {
  const answers: Answer[] = [];
  for (const transport of ['in-process', 'socket'] as const) {
    const { logger, lines } = memoryLogger();
    await using client = createTestClient(appSeeing(logger), { transport });
    const response = await client.request(method, path, options);
    const refusals = lines.filter((line) => String(line.msg).startsWith('request refused before the app')).map(({ status, code, remoteAddress, msg }) => ({ status, code, remoteAddress, msg }));
    const headers = Object.fromEntries([...response.headers].map(([name, value]) => [name, name === 'date' ? '(a date)' : value]));
    // Over a socket a kept-alive answer says so; in-process has no connection to keep (the app's own answers, not refusals).
    if (headers['connection'] === 'keep-alive') delete headers['connection'];
    delete headers['keep-alive'];
    answers.push({ status: response.status, body: await response.text(), headers, refusals });
  }
  return answers as [Answer, Answer];
}

/** Sends the request on both transports, asserts they answer alike (and log alike), and returns the status. */
async function statusOnBoth(method: string, path: string, options?: TestRequestOptions): Promise<number> {
  const [inProcess, socket] = await onBoth(method, path, options);
  assert.deepEqual(inProcess, socket, `${method} ${path}: in-process and over a socket`);
  assert.equal(socket.refusals.length, socket.status === 200 ? 0 : 1, 'a refusal is in the access log');
  return socket.status;
}

// Node's parser counts the URL and each header's name and value (no method, spaces, colons or line ends), and
// refuses the head once that reaches http.maxHeaderSize; Node's client adds `Connection: keep-alive`.
const BESIDE_URL = 'host'.length + 'h'.length + 'connection'.length + 'keep-alive'.length;

test('a head past http.maxHeaderSize is the 431 on both transports, one byte under it reaches the app on both; the URL alone past it, the 414', async () => {
  const fits = 'a'.repeat(maxHeaderSize - 1 - '/'.length - BESIDE_URL - 'x-big'.length);
  assert.equal(await statusOnBoth('GET', '/', { headers: { host: 'h', 'x-big': fits } }), 200);
  assert.equal(await statusOnBoth('GET', '/', { headers: { host: 'h', 'x-big': `${fits}a` } }), 431);
  const path = `/${'a'.repeat(maxHeaderSize - 2 - BESIDE_URL)}`;
  assert.equal(await statusOnBoth('GET', path, { headers: { host: 'h' } }), 200);
  assert.equal(await statusOnBoth('GET', `${path}a`, { headers: { host: 'h' } }), 431);
  assert.equal(await statusOnBoth('GET', `/${'a'.repeat(maxHeaderSize - 1)}`), 414);
});

test('more than 1,000 header fields (those the test gives, Host, and the Connection Node\'s client adds) is the 431 on both transports', async () => {
  const fields = (count: number): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-h${i}`, 'v']));
  assert.equal(await statusOnBoth('GET', '/', { headers: fields(998) }), 200);
  // Coda's own 431 at one past the limit (header-list.ts).
  assert.equal(await statusOnBoth('GET', '/', { headers: fields(999) }), 431);
  // Past that, the 431 of Node's parser where it counts fields (Node 24 here), Coda's where it does not (older patch releases): in words of
  // their own, both naming the limit. In-process answers as the parser that counts.
  const [inProcess, socket] = await onBoth('GET', '/', { headers: fields(1_000) });
  assert.deepEqual([inProcess.status, socket.status], [431, 431]);
  for (const answer of [inProcess, socket]) assert.match(answer.body, /more than 1000 header fields/);
});

test('a Transfer-Encoding other than chunked alone is refused alike on both transports: Node\'s 400 for one not ending in chunked, Coda\'s 501 for codings before it', async () => {
  const statuses: Record<string, number> = {};
  for (const coding of ['gzip', 'identity', 'chunked;q=1', 'chunkedx', 'chunked, gzip', 'chunked, chunked', 'chunked ,chunked', '', 'gzip, chunked', 'x,chunked', 'chunked', 'Chunked']) {
    statuses[coding] = await statusOnBoth('POST', '/', { body: 'abc', headers: { 'transfer-encoding': coding } });
  }
  assert.deepEqual(statuses, {
    gzip: 400, identity: 400, 'chunked;q=1': 400, chunkedx: 400, 'chunked, gzip': 400, 'chunked, chunked': 400, 'chunked ,chunked': 400, '': 400,
    'gzip, chunked': 501, 'x,chunked': 501, chunked: 200, Chunked: 200,
  });
});

test('an Expect other than 100-continue is the 417 on both transports; 100-continue (in any case, among others) reaches the app', async () => {
  const statuses: Record<string, number> = {};
  for (const expect of ['foo', '', 'x100-continue', '100-continue', '100-CONTINUE, foo']) statuses[expect] = await statusOnBoth('POST', '/', { body: 'abc', headers: { expect } });
  assert.deepEqual(statuses, { foo: 417, '': 417, 'x100-continue': 417, '100-continue': 200, '100-CONTINUE, foo': 200 });
});

test('a CONNECT is refused by the client on both transports, naming why: Node\'s client never gets the server\'s answer to one as a response (it hung until its timeoutMs)', async () => {
  for (const transport of ['in-process', 'socket'] as const) {
    await using client = createTestClient(appSeeing(), { transport });
    await assert.rejects(client.request('connect', '/x', { timeoutMs: 2_000 }), { name: 'TypeError', message: /^client\.request\(\): CONNECT asks for a tunnel/ });
  }
});
