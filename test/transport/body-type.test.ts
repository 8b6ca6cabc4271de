// A fixed response's body is a string, a Uint8Array or null. Anything else is
// refused where it is made (a TypeError) and, since `response.body` can be
// changed later (by a middleware), where it is sent: a 500 and a log line
// naming the problem, never an empty reply or a hang.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, StreamingResponse, type Server } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';
import { pipelined } from './wire.js';

function bodyApp(logger: ReturnType<typeof memoryLogger>['logger']) {
  return createApp({
    logger,
    middleware: [{
      processResponse(request, response) {
        if (request.path === '/changed') response.body = { a: 1 } as never;
        return response;
      },
    }],
    routes: [
      get('/object', function objectBody() {
        return new HttpResponse({ a: 1 } as never);
      }),
      get('/changed', () => new HttpResponse('fine until a middleware changed it').after(({ outcome }) => { seen.push(outcome.status); })),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });
}
const seen: number[] = [];

test('HttpResponse refuses a body that is not a string, a Uint8Array or null, naming it and suggesting JsonResponse', () => {
  assert.throws(() => new HttpResponse({ a: 1 } as never), {
    name: 'TypeError',
    message: /^HttpResponse: a response body must be a string, a Uint8Array or null, got a plain object.*JsonResponse/,
  });
  for (const bad of [42, true, [1], new ArrayBuffer(2)]) assert.throws(() => new HttpResponse(bad as never), { name: 'TypeError' });
  // What is allowed.
  for (const good of ['', new Uint8Array(1), Buffer.from('x'), null, undefined]) new HttpResponse(good as never);
});

describe('a body of the wrong type, over a socket', () => {
  const { logger, lines } = memoryLogger();
  const app = bodyApp(logger);
  let server: Server;
  before(async () => {
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('made by the view: 500, and the log names the problem', async () => {
    const response = await rawRequest(server, rawGet('/object'));
    assert.equal(response.status, 500);
    const line = lines.find((l) => l.level === LEVEL.error && l.path === '/object');
    assert.ok(line);
    assert.match(String(line.msg), /a response body must be a string, a Uint8Array or null, got a plain object/);
  });

  test('set later by a middleware: send() refuses it with a 500 and a log line; the response\'s tasks run with it', async () => {
    seen.length = 0;
    const response = await rawRequest(server, rawGet('/changed'));
    assert.equal(response.status, 500);
    assert.ok(response.body.length > 0, 'an error body, not an empty reply');
    const line = lines.find((l) => l.level === LEVEL.error && l.path === '/changed');
    assert.ok(line);
    assert.match(String(line.msg), /cannot send the response: a response body must be a string, a Uint8Array or null, got a plain object/);
    await app.settle();
    assert.deepEqual(seen, [500]);
    const ok = await rawRequest(server, rawGet('/ok'));
    assert.equal(ok.body.toString(), 'ok');
  });
});

test('in-process: a body set to something else answers 500 too', async () => {
  const { logger, lines } = memoryLogger();
  const app = bodyApp(logger);
  const client = createTestClient(app);
  seen.length = 0;
  const response = await client.get('/changed');
  assert.equal(response.status, 500);
  await client.settle();
  assert.deepEqual(seen, [500]);
  assert.ok(lines.some((l) => l.level === LEVEL.error && /cannot send the response/.test(String(l.msg))));
  await client.close();
});

describe('a stream source that cannot be sent', () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [
      get('/opener-throws', () => new StreamingResponse(() => {
        throw new Error('no feed today');
      })),
      get('/opener-returns-text', () => new StreamingResponse(() => 'text' as never)),
      get('/yields-object', () => new StreamingResponse((async function* () {
        yield 'fine, ';
        yield { not: 'bytes' } as never;
      })())),
    ],
  });
  let server: Server;
  before(async () => {
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('a function source that throws, or returns no stream: 500, and the log names the problem', async () => {
    for (const [path, message] of [
      ['/opener-throws', /no feed today/],
      ['/opener-returns-text', /the function given to StreamingResponse returned string "text", expected an async iterable or a Readable/],
    ] as const) {
      const response = await rawRequest(server, rawGet(path));
      assert.equal(response.status, 500);
      const line = lines.find((l) => l.level === LEVEL.error && l.path === path);
      assert.ok(line, `no error logged for ${path}`);
      assert.match(String(line.msg), message);
    }
    const inProcess = createTestClient(app);
    assert.equal((await inProcess.get('/opener-returns-text')).status, 500);
    await inProcess.close();
  });

  test('a chunk that is neither a string nor bytes: the connection is cut, and the log names it', async () => {
    const raw = await pipelined(server, [rawGet('/yields-object')]);
    assert.ok(!raw.toString('latin1').endsWith('0\r\n\r\n'), 'the response must not look complete');
    const line = lines.find((l) => l.level === LEVEL.error && l.path === '/yields-object');
    assert.ok(line);
    assert.match(String(line.msg), /streaming response failed mid-way/);
    assert.match(JSON.stringify(line.err), /must yield strings or Uint8Arrays, got a plain object/);
  });
});
