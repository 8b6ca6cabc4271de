import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  BadRequest, createApp, get, HttpError, MethodNotAllowed, NotFound, PayloadTooLarge, PermissionDenied,
  ServiceUnavailable, Unauthorized, UnsupportedMediaType, type Server,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { assertAnswer, LEVEL, memoryLogger, startServer } from '../helpers.js';

describe('HttpError and its subclasses', () => {
  const cases: [HttpError, number, string][] = [
    [new BadRequest(), 400, 'Bad Request'],
    [new Unauthorized(), 401, 'Unauthorized'],
    [new PermissionDenied(), 403, 'Forbidden'],
    [new NotFound(), 404, 'Not Found'],
    [new MethodNotAllowed(['GET', 'HEAD']), 405, 'Method Not Allowed'],
    [new PayloadTooLarge(), 413, 'Payload Too Large'],
    [new UnsupportedMediaType(), 415, 'Unsupported Media Type'],
    [new ServiceUnavailable(), 503, 'Service Unavailable'],
    [new HttpError(418), 418, "I'm a Teapot"],
    [new HttpError(599), 599, 'HTTP 599'],
  ];
  for (const [error, status, message] of cases) {
    test(`${error.name}: ${status}, "${message}" by default`, () => {
      assert.equal(error.status, status);
      assert.equal(error.message, message);
      assert.ok(error instanceof HttpError);
      assert.ok(error instanceof Error);
    });
  }

  test('the name is the class name; messages and headers are kept', () => {
    const error = new NotFound('no note 7');
    assert.equal(error.name, 'NotFound');
    assert.equal(error.message, 'no note 7');
    assert.deepEqual(new MethodNotAllowed(['GET', 'POST']).headers, { allow: 'GET, POST' });
    assert.deepEqual(new Unauthorized('log in', { 'www-authenticate': 'Bearer' }).headers, { 'www-authenticate': 'Bearer' });
    assert.deepEqual(new ServiceUnavailable('busy', 5).headers, { 'retry-after': '5' });
  });

  test('headers that could not be sent are refused where the error is made, naming the header', () => {
    assert.throws(() => new Unauthorized('log in', { 'www-authenticate': 'Bearer\r\nSet-Cookie: a=1' }), { name: 'TypeError', message: /header www-authenticate .*CR, LF or NUL/ });
    assert.throws(() => new HttpError(400, 'x', { 'bad name': 'v' }), { name: 'TypeError', message: /invalid header name "bad name"/ });
  });

  test('the headers are a copy: changing the object given later changes nothing', () => {
    const given: Record<string, string> = { 'www-authenticate': 'Bearer' };
    const error = new Unauthorized('log in', given);
    given['www-authenticate'] = 'Bearer\r\nX-Injected: 1';
    assert.deepEqual(error.headers, { 'www-authenticate': 'Bearer' });
  });

  test('MethodNotAllowed without its allowed methods (from plain JavaScript) is a TypeError saying what it takes', () => {
    for (const args of [[], ['not here']]) {
      assert.throws(() => new (MethodNotAllowed as new (...args: unknown[]) => MethodNotAllowed)(...args), {
        name: 'TypeError', message: /^MethodNotAllowed takes the methods allowed first \(a 405 must carry them in its Allow header\), as in new MethodNotAllowed\(\['GET', 'HEAD'\], message\), got /,
      });
    }
  });

  test('a status outside 400-599, or not a number, is a RangeError naming what it got', () => {
    for (const status of [200, 399, 600, 404.5]) {
      assert.throws(() => new HttpError(status), { name: 'RangeError', message: /HttpError status must be an integer from 400 to 599/ });
    }
    // A status from a string (a header, a query) is named as one: "got 404" alone would read as a bug in Coda.
    assert.throws(() => new HttpError('404' as unknown as number), { name: 'RangeError', message: /, got string "404"$/ });
  });
});

describe('error responses', () => {
  const { logger, lines } = memoryLogger();
  const routes = [
    get('/forbidden', () => {
      throw new PermissionDenied('not your note');
    }),
    get('/unauthorized', () => {
      throw new Unauthorized('log in first', { 'www-authenticate': 'Bearer realm="notes"' });
    }),
    get('/busy', () => {
      throw new ServiceUnavailable('try later', 3);
    }),
    get('/teapot', async () => {
      throw new HttpError(418, 'I am a teapot');
    }),
    get('/crash', function crashingView() {
      throw new Error('secret connection string postgres://admin:hunter2@db');
    }),
    get('/crash-async', async () => {
      await null;
      throw new TypeError('async secret');
    }),
    get('/bad-error-header', (request) => {
      throw new Unauthorized('log in first', { 'www-authenticate': `Bearer realm="${request.query.get('realm')}"` });
    }),
    get('/throws-string', () => {
      throw 'a bare string';
    }),
  ];
  const app = createApp({ logger, routes });
  const client = createTestClient(app);

  test('an HttpError thrown by a view gives its status, message and headers, as text', async () => {
    await assertAnswer(await client.get('/forbidden'), { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' }, text: 'not your note' });
    await assertAnswer(await client.get('/unauthorized'), { status: 401, headers: { 'www-authenticate': 'Bearer realm="notes"' } });
    await assertAnswer(await client.get('/busy'), { status: 503, headers: { 'retry-after': '3' }, text: 'try later' });
    await assertAnswer(await client.get('/teapot'), { status: 418, text: 'I am a teapot' });
  });

  test('JSON when the Accept header asks for JSON', async () => {
    for (const accept of ['application/json', 'application/problem+json', 'text/html, application/json;q=0.9']) {
      const res = await client.get('/forbidden', { headers: { accept } });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(await res.json(), { error: { status: 403, message: 'not your note' } });
    }
    const res = await client.get('/crash', { headers: { accept: 'application/json' } });
    assert.deepEqual(await res.json(), { error: { status: 500, message: 'Internal Server Error' } });
  });

  test('text otherwise', async () => {
    for (const headers of [{}, { accept: 'text/html' }, { accept: '*/*' }] as Record<string, string>[]) {
      const res = await client.get('/forbidden', { headers });
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await res.text(), 'not your note');
    }
  });

  test('a 4xx is logged at debug level, not as an error', async () => {
    await client.get('/forbidden', { headers: { 'x-request-id': 'deny-1' } });
    const mine = lines.filter((l) => l.requestId === 'deny-1');
    assert.ok(mine.some((l) => l.level === LEVEL.debug && l.status === 403 && l.msg === 'not your note'));
    assert.ok(!mine.some((l) => l.level >= LEVEL.error));
  });

  for (const path of ['/crash', '/crash-async']) {
    test(`a 500 (${path}) shows no stack or message, and is logged with the request id and the error`, async () => {
      const id = `crash-${path.slice(1)}`;
      const res = await client.get(path, { headers: { 'x-request-id': id } });
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.equal(body, 'Internal Server Error');
      const line = lines.find((l) => l.requestId === id && l.level === LEVEL.error);
      assert.ok(line, 'the 500 is logged at error level with the request id');
      const err = line.err as { message: string; stack: string; type: string };
      assert.match(err.message, /secret/);
      assert.match(err.stack, /\n\s+at /);
      assert.equal(line.path, path);
      assert.equal(line.method, 'GET');
      assert.match(String(line.msg), /secret/);
    });
  }

  test('a thrown non-Error is a 500 too, and logged', async () => {
    const res = await client.get('/throws-string', { headers: { 'x-request-id': 'string-1' } });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error');
    const line = lines.find((l) => l.requestId === 'string-1' && l.level === LEVEL.error);
    assert.match(String(line?.msg), /a bare string/);
  });

  describe('with debug: true', () => {
    const debugApp = createApp({ logger, routes, debug: true });
    const debugClient = createTestClient(debugApp);

    test('a 500 shows the stack', async () => {
      const res = await debugClient.get('/crash');
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.match(body, /^Error: secret connection string/);
      assert.match(body, /\n\s+at crashingView /);
    });

    test('in JSON too', async () => {
      const res = await debugClient.get('/crash', { headers: { accept: 'application/json' } });
      const { error } = await res.json() as { error: { status: number; message: string } };
      assert.equal(error.status, 500);
      assert.match(error.message, /secret connection string[\s\S]*\n\s+at /);
    });

    test('an HttpError still shows only its message', async () => {
      const res = await debugClient.get('/forbidden');
      assert.equal(await res.text(), 'not your note');
    });
  });

  describe('over a real socket', () => {
    let server: Server;
    before(async () => {
      server = await startServer(app);
    });
    after(() => server.close({ timeoutMs: 1_000 }));

    test('a 500 has no stack on the wire and is logged with the request id', async () => {
      const res = await fetch(`${server.url}/crash`, { headers: { 'x-request-id': 'wire-crash-1' } });
      assert.equal(res.status, 500);
      assert.equal(await res.text(), 'Internal Server Error');
      const line = lines.find((l) => l.requestId === 'wire-crash-1' && l.level === LEVEL.error);
      assert.ok(line);
      assert.match(JSON.stringify(line.err), /hunter2/);
    });

    test('a view building an HttpError with a CRLF header gets a 500, and the server lives on', { timeout: 5_000 }, async () => {
      const res = await fetch(`${server.url}/bad-error-header?realm=${encodeURIComponent('x"\r\nSet-Cookie: admin=1')}`);
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('set-cookie'), null);
      assert.equal(await res.text(), 'Internal Server Error');
      const ok = await fetch(`${server.url}/forbidden`);
      assert.equal(ok.status, 403);
      await ok.arrayBuffer();
    });

    test('a 500 for a request without X-Request-Id is logged with the id it was given', async () => {
      const before = lines.length;
      const res = await fetch(`${server.url}/crash-async`);
      assert.equal(res.status, 500);
      await res.arrayBuffer();
      const line = lines.slice(before).find((l) => l.level === LEVEL.error);
      assert.match(String(line?.requestId), /^[0-9a-f-]{36}$/);
    });
  });
});

test('every error class coda-http exports has a code of its own, the one the catalogue in docs/lifecycle.md lists', async () => {
  const coda: Record<string, unknown> = await import('coda-http');
  const errors = Object.entries(coda).filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error);
  assert.ok(errors.length >= 15, `found ${errors.length} error classes`);
  const catalogue = readFileSync(new URL('../../docs/lifecycle.md', import.meta.url), 'utf8');
  const listed = new Map([...catalogue.matchAll(/^\| `(\w+)` \| `(CODA_[A-Z_]+)` \|/gm)].map((row) => [row[1]!, row[2]!]));
  // The arguments of the classes that need some; a new one's test adds its own.
  const args: Record<string, unknown[]> = { HttpError: [418], RangeNotSatisfiable: [0], MethodNotAllowed: [['GET']], AfterQueueFull: [1], TaskTimeoutError: ['t', 1], StoreUnavailable: ['the store', new Error('locked')], ValidationError: ['body', []] };
  const codes = errors.map(([name, value]) => [name, (new (value as new (...a: unknown[]) => { code?: unknown })(...(args[name] ?? []))).code]);
  assert.deepEqual(new Map(codes as [string, unknown][]), listed);
  assert.equal(new Set(listed.values()).size, listed.size, 'no two errors share a code');
  assert.equal(new NotFound('no note 7').code, 'CODA_NOT_FOUND');
  assert.equal(new HttpError(418).code, 'CODA_HTTP_ERROR', 'an HttpError of a status without a class of its own');
});

test('an HttpError thrown by code importing its own copy of coda-http (a shared package, another version installed) is answered with its status, message and headers; it was a 500 (told by its class alone); instanceof HttpError holds across the copies', async () => {
  // The same source file loaded under another URL: a distinct module, its classes others, as a second install's would be.
  const copy = await import(`${new URL('../../src/http/errors.ts', import.meta.url).href}?copy`) as { HttpError: typeof HttpError; Unauthorized: typeof Unauthorized };
  assert.notEqual(copy.HttpError, HttpError);
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [get('/', () => { throw new copy.Unauthorized('sign in first', { 'www-authenticate': 'Bearer' }); })],
  });
  await using client = createTestClient(app);
  const res = await client.get('/');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  assert.match(await res.text(), /sign in first/);
  assert.equal(new copy.Unauthorized() instanceof HttpError, true);
  assert.equal(new Unauthorized() instanceof copy.HttpError, true);
  assert.equal(new Error('x') instanceof HttpError, false);
  assert.equal(new NotFound() instanceof Unauthorized, false, 'a subclass answers by its own prototype');
});
