// 64 connections at once each uploading a body just under bodyLimit (0.9x),
// read by json(), bytes() or text() and held by its view until all are, then
// 64 at 1.1x, against a real server in a child process (its memory measured
// there): every body under the limit is answered, the memory held while all
// are read stays within three times connections x body (twice, measured: no
// copy per chunk or per reader multiplying it), and once answered no request
// is reachable, though the client keeps its connections alive (their idle
// timers held them, bodies and all); every body over the limit is refused
// with 413 before it is sent whole (what the server reads and throws away
// after its answer depends on the kernel's buffers, not a count to assert),
// and the server answers a GET meanwhile.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { connect, parseResponse, spawnFixture, type Fixture } from '../helpers.js';

const LIMIT = 1024 * 1024;
const CONNECTIONS = 64;
const UNDER = Math.floor(0.9 * LIMIT);
const OVER = Math.ceil(1.1 * LIMIT);
const CHUNK = 64 * 1024;

/** A JSON body of `size` bytes: `{"data":"aaa…"}`. */
function jsonBody(size: number): Buffer {
  return Buffer.from(`{"data":"${'a'.repeat(size - 11)}"}`);
}

const KINDS = [
  { path: '/json', type: 'application/json', body: jsonBody(UNDER), length: UNDER - 11 },
  { path: '/bytes', type: 'application/octet-stream', body: Buffer.alloc(UNDER, 7), length: UNDER },
  { path: '/text', type: 'text/plain', body: Buffer.alloc(UNDER, 'b'), length: UNDER },
] as const;

/** Writes `size` bytes of body on `socket` (as chunks of chunked coding if `chunked`), as it takes them, unless it closes. */
async function sendBody(socket: Socket, size: number, chunked: boolean): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 1);
  for (let sent = 0; sent < size && !socket.destroyed; sent += CHUNK) {
    const data = chunk.subarray(0, Math.min(CHUNK, size - sent));
    const taken = socket.write(chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]) : data);
    if (!taken) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done).off('close', done);
          resolve();
        };
        socket.on('drain', done).on('close', done);
      });
    }
  }
}

/**
 * A POST of OVER bytes to /bytes over a raw socket: with Content-Length, no
 * body byte is sent until the server answers; chunked, just past the limit
 * is. The rest is sent only then (a server that waited for the whole body
 * would never answer), and the connection read to its close. Its status.
 */
async function oversized(port: number, chunked: boolean): Promise<number> {
  const socket = await connect({ port });
  const chunks: Buffer[] = [];
  socket.on('error', () => {}); // a reset once the 413 is sent counts as the close
  const answered = new Promise((resolve) => { socket.once('data', resolve); socket.once('close', resolve); });
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${OVER}`;
  socket.write(`POST /bytes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n${framing}\r\n\r\n`);
  const before = chunked ? LIMIT + CHUNK : 0;
  await sendBody(socket, before, chunked);
  await answered;
  await sendBody(socket, OVER - before, chunked);
  if (!socket.destroyed) socket.end(chunked ? '0\r\n\r\n' : '');
  await closed;
  return parseResponse(Buffer.concat(chunks)).status;
}

/** GET `path` of the fixture's served app (its text) or its control one (its JSON). */
async function ask<T>(fixture: { url: string; control: string }, which: 'url' | 'control', path: string): Promise<T> {
  const response = await fetch(fixture[which] + path);
  return (which === 'url' ? response.text() : response.json()) as Promise<T>;
}

/**
 * The fixture saw `requests` requests and holds none of them, but for one:
 * Node's Date header cache arms a timer of under a second in the async
 * context of the request that filled it, which holds that request until then.
 */
function assertUnreachable(counted: { requests: number; reachable: number }, requests: number, when: string): void {
  assert.equal(counted.requests, requests);
  assert.ok(counted.reachable <= 1, `${counted.reachable} of ${requests} requests still reachable ${when}`);
}

test(`${CONNECTIONS} uploads of 0.9x bodyLimit read by json(), bytes() and text(): all answered, the memory held bounded, none reachable once answered on kept-alive connections; at 1.1x each refused with 413 before it is sent whole; a GET served meanwhile`, { timeout: 60_000 }, async () => {
  const fixture: Fixture = spawnFixture(new URL('./fixtures/big-bodies.ts', import.meta.url), [String(LIMIT)]);
  try {
    const urls = (await fixture.line((line) => line.event === 'ready')) as { url: string; control: string };
    type Memory = { heapUsed: number; arrayBuffers: number; rss: number };
    const before = await ask<Memory>(urls, 'control', '/memory');

    const uploads = Array.from({ length: CONNECTIONS }, async (_, i) => {
      const kind = KINDS[i % KINDS.length]!;
      const response = await fetch(urls.url + kind.path, { method: 'POST', headers: { 'content-type': kind.type }, body: kind.body });
      return [response.status, await response.text(), String(kind.length)];
    });
    const held = await ask<Memory>(urls, 'control', `/held/${CONNECTIONS}`);
    assert.equal(await ask<string>(urls, 'url', '/ok'), 'ok', 'a GET is served while every body is held');
    const grown = held.heapUsed + held.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    // Twice the bodies (measured), at most three times: each is kept as read (text(), json() and after-response tasks read it again), and what its reader made of it (bytes() a copy the view may change).
    assert.ok(grown < 3 * CONNECTIONS * UNDER, `${Math.round(grown / 2 ** 20)} MB held for ${CONNECTIONS} bodies of ${UNDER} bytes`);
    await (await fetch(`${urls.control}/release`)).text();
    for (const [status, text, length] of await Promise.all(uploads)) assert.deepEqual([status, text], [200, length]);

    // Their connections kept alive and idle, each held its last request, body and all, until it closed.
    assertUnreachable(await ask(urls, 'control', '/reachable/0'), CONNECTIONS, 'once answered');
    const port = Number(new URL(urls.url).port);
    const refused = Array.from({ length: CONNECTIONS }, (_, i) => oversized(port, i % 2 === 1));
    assert.equal(await ask<string>(urls, 'url', '/ok'), 'ok', 'a GET is served among the refusals');
    assert.deepEqual(await Promise.all(refused), Array(CONNECTIONS).fill(413), 'each refused before its body was sent whole');
    assertUnreachable(await ask(urls, 'control', `/reachable/${CONNECTIONS}`), 2 * CONNECTIONS, 'once refused');
  } finally {
    fixture.child.kill();
    await fixture.exited;
  }
});
