// Expect: 100-continue (RFC 9110 10.1.1), as Go's net/http answers it and
// as Fastify's and Django's users meet it behind curl (which sends the header
// for bodies over 1 KiB): the 100 goes out when the view reads the body; a
// request refused without reading it gets its final status without a 100,
// and its connection closes, since the client may still send the body.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, post, Unauthorized, type Server } from 'coda-http';
import { connect, startServer } from '../helpers.js';
import { pipelined, request, responses } from '../transport/wire.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

describe('Expect: 100-continue', { timeout: 10_000 }, () => {
  let server: Server;
  before(async () => {
    server = await startServer(createApp({
      bodyLimit: 100,
      routes: [
        post('/echo', async (request) => new HttpResponse(await request.text())),
        post('/private', () => { throw new Unauthorized('log in first'); }),
        get('/next', () => new HttpResponse('next one')),
      ],
    }));
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  /**
   * Sends a head with `Expect: 100-continue`, and its body only once a 100 has
   * come; resolves with what the server sent once its final response is whole,
   * and whether the server closed the connection after it.
   */
  async function expecting(path: string, body: string): Promise<{ text: string; closed: boolean }> {
    const socket = await connect(server);
    let text = '';
    const closed = once(socket, 'close').then(() => true);
    socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    const whole = new Promise<void>((resolve) => socket.on('data', (chunk: Buffer) => {
      const before = text;
      text += chunk.toString('latin1');
      if (!before.startsWith(CONTINUE) && text.startsWith(CONTINUE)) socket.write(body);
      const final = text.startsWith(CONTINUE) ? text.slice(CONTINUE.length) : text;
      const head = final.indexOf('\r\n\r\n');
      if (head !== -1 && final.length - head - 4 === Number(/content-length: (\d+)/i.exec(final)?.[1])) resolve();
    }));
    await whole;
    // A connection kept alive stays open: what decides is whether the server closes it now.
    const wasClosed = await Promise.race([closed, new Promise<false>((resolve) => setImmediate(() => resolve(false)))]);
    socket.destroy();
    return { text, closed: wasClosed || /connection: close/i.test(text) };
  }

  test("Go's expectsContinue with ContentLength 0: a request that announces no body (none, or a Content-Length of 0) gets no 100 and keeps its connection: the request pipelined behind it is answered (it was closed after the first)", async () => {
    for (const head of ['GET /next HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\r\n', 'POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n']) {
      const wire = await pipelined(server, [head, request('/next', { close: true })]);
      assert.doesNotMatch(wire.toString('latin1'), /100 Continue/, head);
      const { list } = responses(wire);
      assert.deepEqual(list.map((response) => [response.status, response.headers.connection]), [[200, 'keep-alive'], [200, 'close']], head);
      assert.equal(list[1]!.body.toString(), 'next one');
    }
  });

  test('a view that reads the body: 100 Continue, then the body is read and answered, on a connection kept alive', async () => {
    const { text, closed } = await expecting('/echo', 'hello');
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.ok(text.endsWith('\r\n\r\nhello'));
    assert.equal(closed, false);
  });

  test('a Content-Length past bodyLimit: 413 at once, no 100 Continue, the connection closed', async () => {
    const { text, closed } = await expecting('/echo', 'x'.repeat(500));
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.doesNotMatch(text, /100 Continue/);
    assert.equal(closed, true);
  });

  test('a request refused without reading its body (401): no 100 Continue, Connection: close', async () => {
    const { text, closed } = await expecting('/private', 'secret');
    assert.match(text, /^HTTP\/1\.1 401 /);
    assert.match(text, /connection: close/i);
    assert.doesNotMatch(text, /100 Continue/);
    assert.equal(closed, true);
  });

  test("Node's client: the body waits for the 100 and the answer is the view's", async () => {
    const request = http.request(server.url + '/echo', { method: 'POST', headers: { expect: '100-continue', 'content-type': 'text/plain', 'content-length': '4' } });
    request.on('continue', () => request.end('ping'));
    const [response] = await once(request, 'response') as [http.IncomingMessage];
    let text = '';
    for await (const chunk of response) text += String(chunk);
    assert.equal(response.statusCode, 200);
    assert.equal(text, 'ping');
  });
});
