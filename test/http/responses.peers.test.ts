// Responses as Starlette (tests/test_responses.py) and Django
// (tests/httpwrappers, JsonResponseTests) test theirs, over a real socket:
// the behaviours Coda's contract shares, each test naming the one it ports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, redirect, route } from 'coda-http';
import { memoryLogger, serveForSuite } from '../helpers.js';

describe('responses, as Starlette and Django test theirs', () => {
  const seenPaths: string[] = [];
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/empty', () => new HttpResponse()),
      get('/hi', () => new HttpResponse('hi')),
      route('GET', '/no-content', () => new HttpResponse(null, { status: 204 })),
      get('/redirect', () => redirect('/I ♥ Coda/')),
      get('/I ♥ Coda/', (request) => (seenPaths.push(decodeURIComponent(request.path)), new HttpResponse('hello, world'))),
      get('/charset', () => new HttpResponse('ok', { headers: { 'content-type': 'text/plain; charset=utf-8' } })),
      get('/null', () => new JsonResponse(null)),
      get('/list', () => new JsonResponse(['foo', 'bar'])),
      get('/non-ascii', () => new JsonResponse({ key: 'łóżko' })),
    ],
  });
  const { raw } = serveForSuite(app);

  test("Starlette 'test_empty_response': no body is Content-Length 0, and no Content-Type", async () => {
    const response = await raw('/empty');
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], '0');
    assert.equal(response.headers['content-type'], undefined);
    assert.equal(response.body.length, 0);
  });

  test("Starlette 'test_non_empty_response' and 'test_head_method': the body's length; HEAD the same length, no body", async () => {
    assert.equal((await raw('/hi')).headers['content-length'], '2');
    const head = await raw('/hi', {}, 'HEAD');
    assert.equal(head.headers['content-length'], '2');
    assert.equal(head.body.length, 0);
  });

  test("Starlette 'test_empty_204_response': a 204 has no Content-Length", async () => {
    const response = await raw('/no-content');
    assert.equal(response.status, 204);
    assert.equal(response.headers['content-length'], undefined);
  });

  test("Starlette 'test_redirect_response_content_length_header' and 'test_quoting_redirect_response': Content-Length 0, a location quoted as a URI, which leads to the view", async () => {
    const response = await raw('/redirect');
    assert.equal(response.status, 302);
    assert.equal(response.headers['content-length'], '0');
    assert.equal(response.headers['location'], '/I%20%E2%99%A5%20Coda/');
    const followed = await raw(response.headers['location']!);
    assert.equal(followed.body.toString(), 'hello, world');
    assert.deepEqual(seenPaths, ['/I ♥ Coda/']);
  });

  test("Starlette 'test_response_do_not_add_redundant_charset': a charset given is not repeated", async () => {
    assert.equal((await raw('/charset')).headers['content-type'], 'text/plain; charset=utf-8');
  });

  test("Starlette 'test_json_none_response' and Django 'test_json_response_list': null and a list are JSON too (no safe=False: Coda's JSON is any value)", async () => {
    const none = await raw('/null');
    assert.equal(none.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(none.body.toString(), 'null');
    assert.deepEqual(JSON.parse((await raw('/list')).body.toString()), ['foo', 'bar']);
  });

  test("Django 'test_json_response_non_ascii': the value reads back, its text sent as UTF-8", async () => {
    const response = await raw('/non-ascii');
    assert.deepEqual(JSON.parse(response.body.toString('utf8')), { key: 'łóżko' });
    assert.equal(response.headers['content-length'], String(Buffer.byteLength('{"key":"łóżko"}')));
  });
});
