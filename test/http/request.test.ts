import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { after as afterResponse, createApp, get, HttpResponse, JsonResponse, post, route, type Server } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { connect, deferred, LEVEL, memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Describes a form as JSON: fields as strings, files as { name, type, text }. */
async function describeForm(form: FormData): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [name, value] of form) {
    const described = typeof value === 'string' ? value : { name: value.name, type: value.type, text: await value.text() };
    (out[name] ??= []).push(described);
  }
  return out;
}

const { logger, lines } = memoryLogger();
const app = createApp({
  logger,
  bodyLimit: 64 * 1024,
  routes: [
    route(['GET', 'POST', 'DELETE'], '/users/:user/notes/:note', (request) => new JsonResponse({
      method: request.method,
      url: request.url,
      path: request.path,
      query: [...request.query],
      params: request.params,
    })),
    get('/headers', (request) => new JsonResponse({
      thing: request.headers.get('X-Thing'),
      has: request.headers.has('X-THING'),
      missing: request.headers.get('x-missing'),
    })),
    get('/id', (request) => {
      request.log.info('hello from the view');
      return new JsonResponse({ id: request.id, again: request.id });
    }),
    post('/text', async (request) => new JsonResponse({ text: await request.text() })),
    post('/json', async (request) => new JsonResponse({ json: await request.json() })),
    post('/bytes', async (request) => new JsonResponse({ bytes: [...await request.bytes()] })),
    post('/form', async (request) => new JsonResponse(await describeForm(await request.form()))),
    post('/form-sizes', async (request) => {
      const sizes: Record<string, number> = {};
      for (const [name, value] of await request.form()) sizes[name] = typeof value === 'string' ? value.length : value.size;
      return new JsonResponse(sizes);
    }, { bodyLimit: 4 * 1024 * 1024 }),
    post('/twice', async (request) => {
      const text = await request.text();
      const json = await request.json();
      const bytes = await request.bytes();
      const again = await request.text();
      return new JsonResponse({ text, json, length: bytes.length, again });
    }),
    post('/wiped', async (request) => {
      const first = await request.bytes();
      first.fill(0);
      const second = await request.bytes();
      const text = await request.text();
      const json = await request.json();
      second.fill(0);
      const third = await request.bytes();
      return new JsonResponse({ text, json, second: second.length, third: third.toString(), distinct: first !== second && second !== third });
    }),
    post('/parallel', async (request) => {
      const [a, b] = await Promise.all([request.text(), request.text()]);
      return new JsonResponse({ a, b });
    }),
  ],
});
const client = createTestClient(app);

describe('HttpRequest: method, URL, query, params', () => {
  test('method, url, path, query and decoded params', async () => {
    const res = await client.post('/users/ann%20lee/notes/42?sort=desc&tag=a&tag=b%20c');
    assert.deepEqual(await res.json(), {
      method: 'POST',
      url: '/users/ann%20lee/notes/42?sort=desc&tag=a&tag=b%20c',
      path: '/users/ann%20lee/notes/42',
      query: [['sort', 'desc'], ['tag', 'a'], ['tag', 'b c']],
      params: { user: 'ann lee', note: '42' },
    });
  });

  test('the path is normalised: encoded letters, digits and -._~ are decoded, other escapes upper-cased', async () => {
    const res = await client.get('/users/caf%c3%a9/notes/%2f%7e');
    const body = await res.json() as { path: string; params: Record<string, string> };
    assert.equal(body.path, '/users/caf%C3%A9/notes/%2F~');
    assert.deepEqual(body.params, { user: 'caf\u00e9', note: '/~' });
  });

  test('the path is normalised: everything but unreserved characters stays encoded', async () => {
    const res = await client.get('/users/%61nn%2D%7E/notes/%31%2F2%20%25?q=%61');
    const body = await res.json() as { url: string; path: string; params: Record<string, string>; query: unknown };
    assert.equal(body.url, '/users/%61nn%2D%7E/notes/%31%2F2%20%25?q=%61');
    assert.equal(body.path, '/users/ann-~/notes/1%2F2%20%25');
    assert.deepEqual(body.params, { user: 'ann-~', note: '1/2 %' });
    assert.deepEqual(body.query, [['q', 'a']]);
  });

  test('no query string gives an empty query', async () => {
    const res = await client.delete('/users/7/notes/1');
    const body = await res.json() as { method: string; path: string; query: unknown[] };
    assert.equal(body.method, 'DELETE');
    assert.equal(body.path, '/users/7/notes/1');
    assert.deepEqual(body.query, []);
  });

  test('headers are read case-insensitively', async () => {
    const res = await client.get('/headers', { headers: { 'x-thing': 'a' } });
    assert.deepEqual(await res.json(), { thing: 'a', has: true, missing: null });
  });
});

describe('HttpRequest: request id', () => {
  async function idFor(given?: string): Promise<string> {
    const res = await client.get('/id', given === undefined ? {} : { headers: { 'X-Request-Id': given } });
    const { id, again } = await res.json() as { id: string; again: string };
    assert.equal(id, again, 'the id is stable for the request');
    return id;
  }

  test('a sane X-Request-Id is used as it is', async () => {
    assert.equal(await idFor('req-123_abc.DEF:9'), 'req-123_abc.DEF:9');
    assert.equal(await idFor('0f8fad5b-d9cb-469f-a165-70867728950e'), '0f8fad5b-d9cb-469f-a165-70867728950e');
  });

  test('without X-Request-Id a UUID is made, a new one per request', async () => {
    const a = await idFor();
    const b = await idFor();
    assert.match(a, UUID);
    assert.match(b, UUID);
    assert.notEqual(a, b);
  });

  for (const [what, value] of [
    ['spaces', 'has some spaces'],
    ['500 characters', 'a'.repeat(500)],
    ['an empty value', ''],
    ['quotes and angle brackets', '"><script>'],
    ['a JSON-breaking value', '{"x":1}'],
  ] as const) {
    test(`an X-Request-Id with ${what} is replaced by a UUID`, async () => {
      assert.match(await idFor(value), UUID);
    });
  }

  test("the request's logger carries the request id", async () => {
    await idFor('trace-me-1');
    const line = lines.find((l) => l.msg === 'hello from the view' && l.requestId === 'trace-me-1');
    assert.ok(line, 'the view log line has requestId');
    assert.equal(line.level, LEVEL.info);
  });
});

describe('HttpRequest: body readers', () => {
  test('text() decodes UTF-8 by default', async () => {
    const res = await client.post('/text', { body: 'caf\u00e9 \u2603', headers: { 'content-type': 'text/plain' } });
    assert.deepEqual(await res.json(), { text: 'caf\u00e9 \u2603' });
  });

  test('text() decodes the charset the Content-Type names', async () => {
    const res = await client.post('/text', { body: Buffer.from('caf\u00e9', 'latin1'), headers: { 'content-type': 'text/plain; charset=ISO-8859-1' } });
    assert.deepEqual(await res.json(), { text: 'caf\u00e9' });
  });

  test('text() with a charset nobody knows is a 415 naming it', async () => {
    const res = await client.post('/text', { body: 'x', headers: { 'content-type': 'text/plain; charset=klingon' } });
    assert.equal(res.status, 415);
    assert.match(await res.text(), /unsupported charset "klingon"/);
  });

  test('json() parses application/json and +json types', async () => {
    let res = await client.post('/json', { json: { a: [1, 2], b: null } });
    assert.deepEqual(await res.json(), { json: { a: [1, 2], b: null } });
    res = await client.post('/json', { body: '"x"', headers: { 'content-type': 'application/vnd.api+json; charset=utf-8' } });
    assert.deepEqual(await res.json(), { json: 'x' });
  });

  test('the 415 repeats a long Content-Type cut to 200 characters, with or without a media type (it sent back a 10 KB media type whole)', async () => {
    const long = 'x'.repeat(10_000);
    const cases: [string, string][] = [
      [`application/${long}`, `${`application/${long}`.slice(0, 200)}…`],
      [`; charset=${long}`, `"${`; charset=${long}`.slice(0, 200)}…", which names no media type`],
    ];
    for (const [type, got] of cases) {
      const res = await client.post('/json', { body: '{}', headers: { 'content-type': type } });
      assert.equal(res.status, 415);
      assert.equal(await res.text(), `json() expects Content-Type application/json, got ${got}`);
    }
  });

  test('json() on a non-JSON type is a 415, on malformed JSON a 400', async () => {
    let res = await client.post('/json', { body: '{}', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 415);
    assert.equal(await res.text(), 'json() expects Content-Type application/json, got text/plain');
    res = await client.post('/json', { body: '{}' });
    assert.equal(res.status, 415);
    assert.match(await res.text(), /got none/);
    res = await client.post('/json', { body: '{"a":', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^malformed JSON body: /);
    for (const body of ['', ' \r\n']) {
      res = await client.post('/json', { body, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 400);
      assert.equal(await res.text(), 'empty JSON body: the Content-Type is JSON but the body has nothing to parse');
    }
  });

  test('bytes() gives the body as it came, binary included', async () => {
    const body = new Uint8Array([0, 1, 2, 255, 254, 13, 10]);
    const res = await client.post('/bytes', { body });
    assert.deepEqual(await res.json(), { bytes: [...body] });
    const empty = await client.post('/bytes');
    assert.deepEqual(await empty.json(), { bytes: [] });
  });

  test('form() reads urlencoded bodies, repeated names included', async () => {
    const res = await client.post('/form', {
      body: 'name=Ann+Lee&tag=a&tag=b%26c&empty=',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.deepEqual(await res.json(), { name: ['Ann Lee'], tag: ['a', 'b&c'], empty: [''] });
  });

  test('form() on another type is a 415', async () => {
    const res = await client.post('/form', { json: { a: 1 } });
    assert.equal(res.status, 415);
    assert.match(await res.text(), /form\(\) expects Content-Type application\/x-www-form-urlencoded or multipart\/form-data, got application\/json/);
  });

  test('the body can be read more than once, by any reader', async () => {
    const res = await client.post('/twice', { json: { n: 1 } });
    assert.deepEqual(await res.json(), { text: '{"n":1}', json: { n: 1 }, length: 7, again: '{"n":1}' });
  });

  test('a reader that writes into the bytes bytes() gave changes nothing another reader gets', async () => {
    const res = await client.post('/wiped', { json: { secret: 's3' } });
    assert.deepEqual(await res.json(), { text: '{"secret":"s3"}', json: { secret: 's3' }, second: 15, third: '{"secret":"s3"}', distinct: true });
  });

  test('two readers at once get the same body', async () => {
    const res = await client.post('/parallel', { body: 'both', headers: { 'content-type': 'text/plain' } });
    assert.deepEqual(await res.json(), { a: 'both', b: 'both' });
  });
});

describe('HttpRequest: bodies over a real socket', () => {
  let server: Server;
  before(async () => {
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('form() reads multipart/form-data with fields and a file', async () => {
    const form = new FormData();
    form.append('title', 'Notes \u2603');
    form.append('tag', 'a');
    form.append('tag', 'b');
    form.append('upload', new File(['line 1\nline 2\n'], 'notes.txt', { type: 'text/plain' }));
    form.append('blob', new Blob([new Uint8Array([1, 2, 3])], { type: 'application/octet-stream' }), 'raw.bin');
    const res = await fetch(`${server.url}/form`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      title: ['Notes \u2603'],
      tag: ['a', 'b'],
      upload: [{ name: 'notes.txt', type: 'text/plain', text: 'line 1\nline 2\n' }],
      blob: [{ name: 'raw.bin', type: 'application/octet-stream', text: '\u0001\u0002\u0003' }],
    });
  });

  test('multipart fields are read whole up to the body limit, not cut at a parser default', async () => {
    const form = new FormData();
    form.append('text', 'x'.repeat(1_500_000));
    form.append('file', new File(['y'.repeat(1_500_000)], 'y.txt'));
    const res = await fetch(`${server.url}/form-sizes`, { method: 'POST', body: form });
    assert.deepEqual(await res.json(), { text: 1_500_000, file: 1_500_000 });
  });

  test('a multipart body built by hand is read too', async () => {
    const boundary = 'XyZ123';
    const body = [
      `--${boundary}`, 'Content-Disposition: form-data; name="field"', '', 'value',
      `--${boundary}`, 'Content-Disposition: form-data; name="file"; filename="a.csv"', 'Content-Type: text/csv', '', 'a,b\n1,2',
      `--${boundary}--`, '',
    ].join('\r\n');
    const res = await fetch(`${server.url}/form`, {
      method: 'POST',
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    assert.deepEqual(await res.json(), { field: ['value'], file: [{ name: 'a.csv', type: 'text/csv', text: 'a,b\n1,2' }] });
  });

  test('a truncated multipart body is a 400', async () => {
    const res = await fetch(`${server.url}/form`, {
      method: 'POST',
      body: '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nval',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^malformed multipart body: /);
  });

  test('a multipart Content-Type without a boundary is a 400', async () => {
    const res = await fetch(`${server.url}/form`, { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data' } });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^malformed multipart body: /);
  });

  test('an absolute-form request target: url as sent, path without scheme and host', async () => {
    const response = await rawRequest(server, rawGet('http://example.com:8080/users/7/notes/1?x=1'));
    assert.deepEqual(JSON.parse(response.body.toString()), {
      method: 'GET',
      url: 'http://example.com:8080/users/7/notes/1?x=1',
      path: '/users/7/notes/1',
      query: [['x', '1']],
      params: { user: '7', note: '1' },
    });
  });

  test('a fragment in the request target is not part of the path or the query', async () => {
    const response = await rawRequest(server, rawGet('/users/7/notes/1?x=1#frag?y=2'));
    const body = JSON.parse(response.body.toString()) as { path: string; query: unknown };
    assert.equal(body.path, '/users/7/notes/1');
    assert.deepEqual(body.query, [['x', '1']]);
    // A fragment before any '?': what follows it is neither path nor query.
    const early = JSON.parse((await rawRequest(server, rawGet('/users/7/notes/1#frag?y=2'))).body.toString()) as { path: string; query: unknown };
    assert.equal(early.path, '/users/7/notes/1');
    assert.deepEqual(early.query, []);
  });

  test('a chunked body (no Content-Length) is read whole', async () => {
    const parts = ['{"chunks":', '[1,2,', '3]}'];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const res = await fetch(`${server.url}/json`, {
      method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/json' },
    } as RequestInit);
    assert.deepEqual(await res.json(), { json: { chunks: [1, 2, 3] } });
  });
});

test('request.signal aborts when the client leaves before its response is complete (an AbortError), is aborted already when read later, and never aborts once the response is complete', async () => {
  const viewStarted = deferred();
  const lateStarted = deferred();
  const reason = deferred<unknown>();
  const readLate = deferred<boolean>();
  let completed: AbortSignal | undefined;
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/slow', async (request) => {
        const { signal } = request;
        viewStarted.resolve();
        await once(signal, 'abort');
        reason.resolve(signal.reason);
        return new HttpResponse('too late');
      }),
      get('/late', async (request) => {
        afterResponse(({ request: left }) => readLate.resolve(left.signal.aborted));
        const closed = once(request.raw!.socket, 'close');
        lateStarted.resolve();
        await closed;
        return new HttpResponse('too late');
      }),
      get('/quick', (request) => {
        completed = request.signal;
        return new HttpResponse('ok');
      }),
    ],
  });
  const server = await startServer(app);
  try {
    const socket = await connect(server);
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await viewStarted.promise;
    socket.destroy();
    const gone = await reason.promise;
    assert.ok(gone instanceof DOMException);
    assert.equal(gone.name, 'AbortError');
    assert.equal(gone.message, 'the client closed the connection before its response was complete');

    const late = await connect(server);
    late.write('GET /late HTTP/1.1\r\nHost: x\r\n\r\n');
    await lateStarted.promise;
    late.destroy();
    assert.equal(await readLate.promise, true, 'read after the client left: aborted already');

    assert.equal((await fetch(`${server.url}/quick`)).status, 200);
    await app.settle();
    assert.equal(completed?.aborted, false);
    // The connection closing right after a complete response is not a client that left.
    assert.equal((await rawRequest(server, 'GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 200);
    await app.settle();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(completed?.aborted, false, 'after Connection: close');
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
});
