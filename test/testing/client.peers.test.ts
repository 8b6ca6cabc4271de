// Checks ported from peers' own test-client suites: Django's tests/test_client/tests.py and
// tests/test_client_regress/tests.py, Starlette's tests/test_testclient.py, light-my-request's
// test/index.test.js. Each title names the peer test it ports; each runs on both transports, which
// must answer alike. Where Coda deliberately differs (no redirect following, no `query` or `cookies`
// options, a Content-Length that is not the body's refused), the title says so.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { createApp, get, HttpResponse, JsonResponse, NotFound, post, redirect, route, StreamingResponse, type HttpRequest } from 'coda-http';
import { createTestClient, type TestClient } from 'coda-http/testing';

type App = ReturnType<typeof createApp>;
type Transport = 'in-process' | 'socket';

/** Registers `check` once per transport (inside a describe() titled for the peer test), with a client of `makeApp()` closed after it. */
function bothTransports(makeApp: () => App, check: (client: TestClient, transport: Transport) => Promise<void>): void {
  for (const transport of ['in-process', 'socket'] as const) {
    test(transport, async () => {
      await using client = createTestClient(makeApp(), { transport });
      await check(client, transport);
    });
  }
}

/** What the view saw of its request: the headers named in `x-show` only (Host and Connection differ by transport). */
async function seen(request: HttpRequest): Promise<JsonResponse> {
  const shown = (request.headers.get('x-show') ?? '').split(',').filter(Boolean);
  return new JsonResponse({
    method: request.method,
    url: request.url,
    path: request.path,
    query: [...request.query],
    headers: Object.fromEntries(shown.map((name) => [name, request.headers.get(name)])),
    body: (await request.bytes()).toString('base64'),
    ip: request.ip,
    params: request.params,
  });
}

interface Seen {
  method: string;
  url: string;
  path: string;
  query: [string, string][];
  headers: Record<string, string | null>;
  body: string;
  ip: string;
  params: Record<string, string>;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

function echoApp(): App {
  return createApp({ routes: [route([...METHODS], '/echo', seen), get('/p/:name', seen), get('/*', seen)] });
}

async function echo(response: Promise<{ json(): Promise<unknown> }>): Promise<Seen> {
  return (await (await response).json()) as Seen;
}

const bytesOf = (seen: Seen): Buffer => Buffer.from(seen.body, 'base64');

describe("Django RequestMethodTests (test_get … test_patch, test_options), light-my-request 'chainable api: http methods should work correctly', 'HTTP method is case insensitive': each method reaches the view as itself", () => bothTransports(echoApp, async (client) => {
  assert.equal((await echo(client.get('/echo'))).method, 'GET');
  assert.equal((await echo(client.post('/echo'))).method, 'POST');
  assert.equal((await echo(client.put('/echo'))).method, 'PUT');
  assert.equal((await echo(client.patch('/echo'))).method, 'PATCH');
  assert.equal((await echo(client.delete('/echo'))).method, 'DELETE');
  assert.equal((await echo(client.request('options', '/echo'))).method, 'OPTIONS');
  // Django's test_trace: a method the app routes nowhere is its 405, naming those it takes.
  const trace = await client.request('TRACE', '/echo');
  assert.equal(trace.status, 405);
  assert.equal(trace.headers.get('allow'), 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
}));

describe("Django RequestMethodTests.test_head, RequestMethodStringDataTests.test_empty_string_data: a HEAD gets no body, and the head a GET gets", () => bothTransports(echoApp, async (client) => {
  const got = await client.get('/echo');
  const head = await client.head('/echo');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(await head.text(), '');
  assert.equal(head.headers.get('content-type'), got.headers.get('content-type'));
  assert.equal(head.headers.get('content-length'), String((await got.text()).replace('"GET"', '"HEAD"').length));
}));

describe("light-my-request 'should throw on unknown HTTP method': a method Node's server does not take is refused naming it (over a socket it was Node's 400, in-process the app's 405); one it takes goes to the app", () => bothTransports(echoApp, async (client) => {
  await assert.rejects(client.request('UNKNOWN_METHOD', '/echo'), { name: 'TypeError', message: /Node's HTTP server takes no method UNKNOWN_METHOD/ });
  assert.equal((await client.request('PROPFIND', '/echo')).status, 405);
}));

describe("Starlette test_query_params ('2020-07-14T00:00:00+00:00', 'España', 'voilà'), Django QueryStringTests.test_get_like_requests: a query string in the path reaches request.query, non-ASCII percent-encoded as UTF-8 (Coda has no `query` option: the path carries it)", () => bothTransports(echoApp, async (client) => {
  for (const value of ['2020-07-14T00:00:00+00:00', 'España', 'voilà']) {
    assert.deepEqual((await echo(client.get(`/echo?param=${encodeURIComponent(value)}`))).query, [['param', value]]);
  }
  const raw = await echo(client.get('/echo?param=España&x=voilà'));
  assert.equal(raw.url, '/echo?param=Espa%C3%B1a&x=voil%C3%A0');
  assert.deepEqual(raw.query, [['param', 'España'], ['x', 'voilà']]);
  const head = await client.head('/echo?foo=whiz');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
}));

describe("Django QueryStringTests.test_post_like_requests: a POST's query string and its form body stay apart", () => bothTransports(echoApp, async (client) => {
  const seenPost = await echo(client.post('/echo?foo=whiz', { form: { bar: 'bang' }, headers: { 'x-show': 'content-type' } }));
  assert.deepEqual(seenPost.query, [['foo', 'whiz']]);
  assert.equal(bytesOf(seenPost).toString(), 'bar=bang');
  assert.equal(seenPost.headers['content-type'], 'application/x-www-form-urlencoded');
}));

describe("Starlette test_raw_path_with_querystring, light-my-request 'value of request url when using inject should not differ': request.path leaves the query off, request.url keeps the target as sent ('//hello' included)", () => bothTransports(echoApp, async (client) => {
  const seenGet = await echo(client.get('/echo?foo=bar'));
  assert.equal(seenGet.path, '/echo');
  assert.equal(seenGet.url, '/echo?foo=bar');
  assert.equal((await echo(client.get('//hello'))).url, '//hello');
}));

describe("Django test_url_parameters, Starlette test_query_params: a path's ;-parameter is kept, and a non-ASCII path reaches the same route as its percent-encoding; a broken escape is the app's 400", () => bothTransports(echoApp, async (client) => {
  assert.deepEqual((await echo(client.get('/p/x;some-parameter'))).params, { name: 'x;some-parameter' });
  const encoded = await echo(client.get('/p/caf%C3%A9'));
  const raw = await echo(client.get('/p/café'));
  assert.deepEqual(encoded.params, { name: 'café' });
  assert.deepEqual(raw, encoded);
  const broken = await client.get('/p/100%');
  assert.equal(broken.status, 400);
  assert.match(await broken.text(), /percent-encoding/);
}));

describe("light-my-request 'echos object payload', 'echos object payload with non-english utf-8 string', 'adds a content-length header if none set when payload specified', 'retains content-type header': json goes as JSON, its Content-Length in bytes; a Content-Type the test gives, in any case, wins", () => bothTransports(echoApp, async (client) => {
  const show = { 'x-show': 'content-type,content-length' };
  const plain = await echo(client.post('/echo', { json: { a: '½½א' }, headers: show }));
  assert.equal(bytesOf(plain).toString(), '{"a":"½½א"}');
  assert.deepEqual(plain.headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength('{"a":"½½א"}')) });
  const typed = await echo(client.post('/echo', { json: { a: 1 }, headers: { ...show, 'Content-Type': 'something' } }));
  assert.deepEqual(typed.headers, { 'content-type': 'something', 'content-length': '7' });
}));

describe("light-my-request 'echos buffer payload', Django test_json_bytes, PayloadEncodingTests (test_utf8_payload, test_utf16_payload), ReadLimitedStreamTest.test_read_from_nonempty_request: a body of bytes goes byte for byte, a string as UTF-8, with no Content-Type the test did not give", () => bothTransports(echoApp, async (client) => {
  const show = { 'x-show': 'content-type,content-length' };
  const utf16 = Buffer.from('dog: собака', 'utf16le');
  const bytes = await echo(client.put('/echo', { body: new Uint8Array(utf16), headers: { ...show, 'content-type': 'text/plain; charset=utf-16' } }));
  assert.deepEqual(bytesOf(bytes), utf16);
  assert.deepEqual(bytes.headers, { 'content-type': 'text/plain; charset=utf-16', 'content-length': String(utf16.length) });
  const text = await echo(client.post('/echo', { body: 'dog: собака', headers: show }));
  assert.equal(bytesOf(text).toString(), 'dog: собака');
  assert.deepEqual(text.headers, { 'content-type': null, 'content-length': String(Buffer.byteLength('dog: собака')) });
}));

describe("light-my-request 'echos object payload without payload', Django ReadLimitedStreamTest.test_body_from_empty_request: a POST without a body has an empty one, framed as Node's client frames it (Content-Length: 0); a GET without one has none", () => bothTransports(echoApp, async (client) => {
  const show = { 'x-show': 'content-length,transfer-encoding' };
  for (const send of [client.post, client.put, client.patch]) {
    const empty = await echo(send.call(client, '/echo', { headers: show }));
    assert.equal(empty.body, '');
    assert.deepEqual(empty.headers, { 'content-length': '0', 'transfer-encoding': null });
  }
  for (const send of [client.get, client.delete]) {
    assert.deepEqual((await echo(send.call(client, '/echo', { headers: show }))).headers, { 'content-length': null, 'transfer-encoding': null });
  }
}));

describe("light-my-request '_read() plays payload': a GET's or a DELETE's body reaches the view (over a socket it was lost: Node's client sent it unframed)", () => bothTransports(echoApp, async (client) => {
  const body = 'something special just for you';
  for (const send of [client.get, client.delete]) {
    const seenBody = await echo(send.call(client, '/echo', { body, headers: { 'x-show': 'content-length' } }));
    assert.equal(bytesOf(seenBody).toString(), body);
    assert.deepEqual(seenBody.headers, { 'content-length': String(body.length) });
  }
}));

describe("light-my-request 'retains a content-length header when payload specified' (Coda differs: one that is not the body's would hang a socket's request, so it is refused naming both; one that is the body's is kept)", () => bothTransports(echoApp, async (client) => {
  await assert.rejects(client.post('/echo', { body: '', headers: { 'content-length': '10' } }), { name: 'TypeError', message: 'client POST /echo: header content-length is "10" but the body is 0 bytes; leave it out, the client sends the body\'s' });
  await assert.rejects(client.post('/echo', { body: 'abc', headers: { 'Content-Length': '2' } }), { name: 'TypeError', message: /content-length is "2" but the body is 3 bytes/ });
  await assert.rejects(client.get('/echo', { headers: { 'content-length': '5' } }), { name: 'TypeError', message: /content-length is "5" but the body is 0 bytes/ });
  // Node's server answers a request framed both ways with its 400; in-process the app got both.
  await assert.rejects(client.post('/echo', { body: 'abc', headers: { 'content-length': '3', 'transfer-encoding': 'chunked' } }), { name: 'TypeError', message: 'client POST /echo: headers content-length and transfer-encoding frame the body both; give one (or neither: the client sends the body\'s length)' });
  assert.equal(bytesOf(await echo(client.post('/echo', { body: 'abc', headers: { 'transfer-encoding': 'chunked' } }))).toString(), 'abc', 'a Transfer-Encoding alone frames it');
  assert.deepEqual((await echo(client.post('/echo', { body: 'abc', headers: { 'content-length': '3', 'x-show': 'content-length' } }))).headers, { 'content-length': '3' });
  // The app still answers after the refusals: no request went out half framed.
  assert.equal((await client.get('/echo')).status, 200);
}));

describe("light-my-request 'form-data should be handled correctly', Django UploadedFileEncodingTest (test_file_encoding, test_guesses_content_type_on_file_encoding), test_valid_form: a FormData goes multipart, its boundary in the Content-Type, a file with its filename and a type (application/octet-stream when it has none); a record or URLSearchParams urlencoded as UTF-8, repeated names kept", () => bothTransports(echoApp, async (client) => {
  const data = new FormData();
  data.append('my_field', 'my value');
  data.append('TEST_KEY', new File(['TEST_FILE_CONTENT'], 'test_name.bin'));
  data.append('text', new File(['hi'], 'file.txt', { type: 'text/plain' }));
  const multipart = await echo(client.post('/echo', { form: data, headers: { 'x-show': 'content-type' } }));
  const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(multipart.headers['content-type']!)?.[1];
  assert.ok(boundary, multipart.headers['content-type']!);
  const sent = bytesOf(multipart).toString();
  assert.ok(sent.includes(`--${boundary}\r\nContent-Disposition: form-data; name="my_field"\r\n\r\nmy value\r\n`), sent);
  assert.ok(sent.includes('Content-Disposition: form-data; name="TEST_KEY"; filename="test_name.bin"\r\nContent-Type: application/octet-stream\r\n\r\nTEST_FILE_CONTENT\r\n'), sent);
  assert.ok(sent.includes('filename="file.txt"\r\nContent-Type: text/plain\r\n\r\nhi\r\n'), sent);
  assert.ok(sent.endsWith(`--${boundary}--\r\n`), sent);
  const urlencoded = await echo(client.post('/echo', { form: new URLSearchParams([['text', 'Hello World'], ['multi', 'b'], ['multi', 'c'], ['var', '\u00f2']]) }));
  assert.equal(bytesOf(urlencoded).toString(), 'text=Hello+World&multi=b&multi=c&var=%C3%B2');
}));

describe("light-my-request 'passes headers', 'leaves user-agent unmodified', Django RequestHeadersTest.test_client_headers, Starlette test_testclient_headers_behavior: headers in any case reach the view, the client's own go with every request and a request's own wins; the client adds no User-Agent", () => bothTransports(() => echoApp(), async (client) => {
  const seenHeaders = await echo(client.get('/echo', { headers: { Super: 'duper', 'X-Arg-Check': 'Testing 123', 'x-show': 'super,x-arg-check,user-agent' } }));
  assert.deepEqual(seenHeaders.headers, { super: 'duper', 'x-arg-check': 'Testing 123', 'user-agent': null });
  assert.deepEqual((await echo(client.get('/echo', { headers: { 'User-Agent': 'duper', 'x-show': 'user-agent' } }))).headers, { 'user-agent': 'duper' });
}));

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: Starlette test_testclient_headers_behavior: createTestClient(app, { headers }) sends them with every request, in any case; a request's own of the same name wins`, async () => {
    await using client = createTestClient(echoApp(), { transport, headers: { Authentication: 'Bearer 123', 'X-Show': 'authentication' } });
    assert.deepEqual((await echo(client.get('/echo'))).headers, { authentication: 'Bearer 123' });
    assert.deepEqual((await echo(client.get('/echo', { headers: { authentication: 'Bearer 456' } }))).headers, { authentication: 'Bearer 456' });
  });
}

describe("light-my-request 'passes host option as host header', 'passes localhost as default remote address', Starlette test_client: a Host the test gives reaches the view; the client's address is the loopback one", () => bothTransports(echoApp, async (client) => {
  const seenHost = await echo(client.get('/echo', { headers: { host: 'test.example.com', 'x-show': 'host' } }));
  assert.deepEqual(seenHost.headers, { host: 'test.example.com' });
  assert.equal(seenHost.ip, '127.0.0.1');
}));

function responsesApp(): App {
  return createApp({
    routes: [
      get('/header_view', () => new HttpResponse('example.com:8080|/hello', { headers: { 'X-DJANGO-TEST': 'Slartibartfast', 'Content-Type': 'text/plain' } })),
      get('/null', () => new HttpResponse(null)),
      get('/chunks', () => new StreamingResponse((async function* () {
        yield 'a';
        yield Buffer.from('b');
        yield new Uint8Array([99]);
      })())),
      get('/piped', () => new StreamingResponse(Readable.from(['h', 'i']), { headers: { 'content-type': 'text/plain' } })),
      get('/broken', () => new StreamingResponse((async function* () {
        yield 'a';
        throw new Error('kaboom');
      })())),
      get('/json', () => new JsonResponse({ a: 1, b: '2' })),
      get('/json-as-text', () => new HttpResponse(JSON.stringify({ a: 1, b: '2' }), { headers: { 'content-type': 'text/plain' } })),
      get('/not-json', () => new HttpResponse('notAJSON', { headers: { 'content-type': 'application/json' } })),
      get('/json_response_latin1', () => new HttpResponse(Buffer.from('{"a":"Å"}', 'latin1'), { headers: { 'content-type': 'application/json; charset=latin1' } })),
      get('/unknown-charset', () => new HttpResponse(Buffer.from('{"a":"é"}'), { headers: { 'content-type': 'application/json; charset=klingon' } })),
    ],
  });
}

describe("light-my-request 'returns non-chunked payload', Django test_response_headers: the app's headers, whatever their case, its Content-Length and its body", () => bothTransports(responsesApp, async (client) => {
  const res = await client.get('/header_view');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('X-DJANGO-TEST'), 'Slartibartfast');
  assert.equal(res.headers.get('x-django-test'), 'Slartibartfast');
  assert.equal(res.headers.get('content-type'), 'text/plain');
  assert.equal(res.headers.get('content-length'), '23');
  assert.equal(await res.text(), 'example.com:8080|/hello');
}));

describe("light-my-request 'returns null payload': a response without a body is an empty one, Content-Length 0", () => bothTransports(responsesApp, async (client) => {
  const res = await client.get('/null');
  assert.equal(await res.text(), '');
  assert.equal(res.headers.get('content-length'), '0');
}));

describe("light-my-request 'returns chunked payload', 'returns multi buffer payload', 'pipes response': a streamed body, of strings, Buffers, bytes or a Readable, is read whole", () => bothTransports(responsesApp, async (client) => {
  assert.equal(await (await client.get('/chunks')).text(), 'abc');
  const piped = await client.get('/piped');
  assert.equal(await piped.text(), 'hi');
  assert.equal(piped.headers.get('content-length'), null, 'a stream of no declared length has none');
  const head = await client.head('/piped');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0, "a HEAD's stream is not sent");
}));

describe("light-my-request 'should handle response errors (promises)': a streamed body that fails after its first chunk rejects the request, not a truncated 200: in-process with the stream's error, over a socket with one naming the request and what came (it was Node's bare \"aborted\")", () => bothTransports(responsesApp, async (client, transport) => {
  await assert.rejects(client.get('/broken'), transport === 'in-process'
    ? { message: 'kaboom' }
    : { message: /^client GET \/broken: the response \(status 200\) was cut after 1 bytes of its body: the server closed the connection before its end/ });
  // The client goes on: the next request is answered.
  assert.equal(await (await client.get('/chunks')).text(), 'abc');
}));

describe("light-my-request 'Response.json() should parse the JSON payload', '… should not throw an error if content-type is not application/json', '… should throw an error if the payload is not of valid JSON format' (Django's test_json_wrong_header differs: Coda reads JSON whatever the type)", () => bothTransports(responsesApp, async (client) => {
  assert.deepEqual(await (await client.get('/json')).json(), { a: 1, b: '2' });
  assert.deepEqual(await (await client.get('/json-as-text')).json(), { a: 1, b: '2' });
  await assert.rejects((await client.get('/not-json')).json(), { name: 'SyntaxError', message: /status 200, content-type application\/json\): "notAJSON"/ });
}));

describe("Django RequestMethodStringDataTests.test_json_charset: text() and json() read the body in the charset its Content-Type names, as a browser does (they read it as UTF-8 whatever it said); UTF-8 for one no decoder knows", () => bothTransports(responsesApp, async (client) => {
  const latin1 = await client.get('/json_response_latin1');
  assert.equal(await latin1.text(), '{"a":"Å"}');
  assert.deepEqual(await latin1.json(), { a: 'Å' });
  assert.deepEqual(await (await client.get('/unknown-charset')).json(), { a: 'é' });
}));

function failingApp(): App {
  return createApp({
    middleware: [{
      processRequest(request) {
        if (request.path === '/middleware') throw new RangeError('middleware exception');
      },
    }],
    routes: [
      get('/broken_view', () => { throw new TypeError('no such key'); }),
      get('/middleware', () => new HttpResponse('never')),
      get('/fine', () => new HttpResponse('ok')),
    ],
  });
}

describe("Django test_view_with_exception, Starlette test_exception_in_middleware: a view or middleware that throws is the 500 a client gets (Coda differs: the error is not re-raised into the test; in-process res.error is it)", () => bothTransports(failingApp, async (client, transport) => {
  for (const [path, type, message] of [['/broken_view', TypeError, 'no such key'], ['/middleware', RangeError, 'middleware exception']] as const) {
    const res = await client.get(path);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error');
    if (transport === 'in-process') {
      assert.ok(res.error instanceof type);
      assert.equal(res.error.message, message);
    } else {
      assert.equal(res.error, undefined, 'over a socket the client has only what was sent');
    }
  }
}));

describe("Django test_unknown_page, test_notfound_response: a path no route matches is the app's 404, its body naming the path; in-process res.error is the NotFound behind it", () => bothTransports(failingApp, async (client, transport) => {
  const res = await client.get('/unknown_view/');
  assert.equal(res.status, 404);
  assert.equal(await res.text(), 'no route for GET /unknown_view/');
  assert.equal(res.error instanceof NotFound, transport === 'in-process');
}));

describe("Django ExceptionTests.test_exception_cleared: after a request whose view threw, the next one is not taken for a failure", () => bothTransports(failingApp, async (client) => {
  assert.equal((await client.get('/broken_view')).status, 500);
  const fine = await client.get('/fine');
  assert.equal(fine.status, 200);
  assert.equal(fine.error, undefined);
}));

function redirectApp(): App {
  return createApp({
    routes: [
      get('/redirect_view', (request) => redirect(`/get_view${request.url.slice(request.path.length)}`)),
      get('/permanent_redirect_view', () => redirect('/get_view', 301)),
      get('/temporary_redirect_view', () => redirect('/get_view', 307)),
      post('/permanent_post', () => redirect('/get_view', 308)),
      get('/django_project_redirect', () => redirect('https://www.djangoproject.com/')),
      get('/get_view', () => new HttpResponse('This is a test')),
    ],
  });
}

describe("Django test_redirect, test_redirect_with_query, test_permanent_redirect, test_temporary_redirect, test_external_redirect, Starlette test_forward_nofollow_redirects: a redirect is returned as sent, its Location as given, never followed (Coda differs from Starlette's default and Django's follow=True: there is no following)", () => bothTransports(redirectApp, async (client) => {
  for (const [path, status, location] of [
    ['/redirect_view', 302, '/get_view'],
    ['/redirect_view?var=value', 302, '/get_view?var=value'],
    ['/permanent_redirect_view', 301, '/get_view'],
    ['/temporary_redirect_view', 307, '/get_view'],
    ['/django_project_redirect', 302, 'https://www.djangoproject.com/'],
  ] as const) {
    const res = await client.get(path);
    assert.equal(res.status, status, path);
    assert.equal(res.headers.get('location'), location, path);
  }
  const posted = await client.post('/permanent_post', { body: 'kept' });
  assert.equal(posted.status, 308);
  assert.equal(posted.headers.get('location'), '/get_view');
}));

function sessionApp(): App {
  return createApp({
    routes: [
      post('/login', () => new HttpResponse('in').setCookie('sessionid', 'tobacconist').setCookie('type', 'ninja', { maxAge: 1234 })),
      post('/logout', () => new HttpResponse('out').deleteCookie('sessionid')),
      post('/expired', () => new HttpResponse('old', { headers: { 'set-cookie': 'type=ninja; Expires=Fri, 17 Jan 2020 20:26:08 GMT; Path=/' } })),
      get('/whoami', (request) => new JsonResponse({ cookie: request.headers.get('cookie'), session: request.cookies.get('sessionid') ?? null })),
    ],
  });
}

describe("Django SessionTests (test_session, test_logout), light-my-request 'read cookie': a cookie the app sets is sent back on the next request; a deletion or an expiry in the past clears it", () => bothTransports(sessionApp, async (client) => {
  assert.deepEqual(await (await client.get('/whoami')).json(), { cookie: null, session: null });
  const login = await client.post('/login');
  assert.deepEqual(login.headers.getSetCookie().map((header) => header.split(';')[0]), ['sessionid=tobacconist', 'type=ninja'], 'each Set-Cookie kept apart');
  assert.deepEqual(await (await client.get('/whoami')).json(), { cookie: 'sessionid=tobacconist; type=ninja', session: 'tobacconist' });
  await client.post('/logout');
  assert.deepEqual(await (await client.get('/whoami')).json(), { cookie: 'type=ninja', session: null });
  await client.post('/expired');
  assert.deepEqual(await (await client.get('/whoami')).json(), { cookie: null, session: null });
}));

describe("light-my-request 'send cookie with header already set' (Coda has no `cookies` option: a request's own Cookie header is sent, in place of the kept ones)", () => bothTransports(sessionApp, async (client) => {
  await client.post('/login');
  assert.deepEqual(await (await client.get('/whoami', { headers: { Cookie: 'custom=one' } })).json(), { cookie: 'custom=one', session: null });
  assert.deepEqual(await (await client.get('/whoami')).json(), { cookie: 'sessionid=tobacconist; type=ninja', session: 'tobacconist' }, 'the kept ones are still kept');
}));

const mockService = (): App => createApp({ routes: [get('/', () => new JsonResponse({ mock: 'example' }))] });

describe("Starlette test_use_testclient_in_endpoint: a test client used inside a view answers it, and the outer request's own tasks still run", () => bothTransports(() => createApp({
  routes: [
    get('/', async () => {
      await using inner = createTestClient(mockService());
      const answer = await (await inner.get('/')).json<{ mock: string }>();
      return new JsonResponse(answer).after(() => {}, { name: 'outer task' });
    }),
  ],
}), async (client) => {
  assert.deepEqual(await (await client.get('/')).json(), { mock: 'example' });
  await client.settle();
  assert.deepEqual(client.tasks.map(({ name, state }) => [name, state]), [['outer task', 'completed']]);
}));

describe("Django test_exception_following_nested_client_request: a nested client's request does not clobber the outer request's error", () => bothTransports(() => createApp({
  routes: [
    get('/nesting_exception_view', async () => {
      await using inner = createTestClient(mockService());
      await inner.get('/');
      throw new Error('exception message');
    }),
  ],
}), async (client, transport) => {
  const res = await client.get('/nesting_exception_view');
  assert.equal(res.status, 500);
  if (transport === 'in-process') assert.equal((res.error as Error | undefined)?.message, 'exception message');
}));

describe("light-my-request 'errors for missing url', 'errors for invalid input options', 'errors for invalid undefined header value': what no request can be made of is refused naming the request and the option, before anything is sent", () => bothTransports(echoApp, async (client) => {
  const refused = (message: RegExp) => ({ name: 'TypeError', message });
  await assert.rejects(client.get(undefined as unknown as string), refused(/^client GET undefined: the path must be a string, got undefined$/));
  await assert.rejects(client.get('/echo', { headers: { 'header-key': undefined as unknown as string } }), refused(/header header-key must be a string, got undefined/));
  await assert.rejects(client.get('/echo', { headers: new Headers({ 'x-a': '1' }) as unknown as Record<string, string> }), refused(/^client GET \/echo: headers must be a plain object of strings \(Object.fromEntries\(\) makes one of a Headers or pairs\), got an instance of Headers$/));
  await assert.rejects(client.post('/echo', { body: { a: 1 } as unknown as string }), refused(/^client POST \/echo: body must be a string or a Uint8Array \(json sends a value as JSON\), got a plain object$/));
  await assert.rejects(client.post('/echo', { body: [104, 105] as unknown as string }), refused(/body must be a string or a Uint8Array .*, got an instance of Array$/));
  await assert.rejects(client.post('/echo', { json: () => 1 }), refused(/^client POST \/echo: json must be a value JSON can encode, got a function \(json\)$/));
  await assert.rejects(client.post('/echo', { json: 1n }), refused(/^client POST \/echo: json cannot be encoded as JSON: Do not know how to serialize a BigInt$/));
  await assert.rejects(client.post('/echo', { form: { a: 1 } as unknown as Record<string, string> }), refused(/^client POST \/echo: form field a must be a string, got number 1$/));
}));
