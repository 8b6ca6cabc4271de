import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { HttpResponse, JsonResponse, redirect, StreamingResponse } from 'coda-http';

const plain = { colors: false, breakLength: Infinity };

test('util.inspect (console.log) of a response shows its class, status, headers, body and the cookies it sets', () => {
  const response = new HttpResponse('created', { status: 201, headers: { 'x-trace': 'a1' } });
  response.headers.append('set-cookie', 'a=1');
  response.headers.append('set-cookie', 'b=2');
  response.setCookie('theme', 'dark').setCookie('theme', 'light', { path: '/admin' });
  assert.equal(inspect(response, plain),
    `HttpResponse { status: 201, headers: { 'x-trace': 'a1', 'content-type': 'text/plain; charset=utf-8' }, body: 'created', cookies: [ 'theme', 'a', 'b' ] }`);
  assert.equal(inspect(response.headers, plain), `ResponseHeaders { 'x-trace': 'a1', 'content-type': 'text/plain; charset=utf-8', 'set-cookie': [ 'a=1', 'b=2' ] }`);
  assert.equal(inspect(new JsonResponse({ id: 7 }), plain), `JsonResponse { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"id":7}' }`);
  assert.equal(inspect(redirect('/next'), plain), `HttpResponse { status: 302, headers: { location: '/next' }, body: null }`);
});

test('a summary never shows a large body whole: text cut to 200 characters with its length, bytes counted, a stream neither read nor opened', () => {
  const long = new HttpResponse('x'.repeat(199) + 'yz'.repeat(1000));
  assert.equal(long.toJSON().body, `${'x'.repeat(199)}y… (2199 characters)`);
  assert.equal(new HttpResponse('x'.repeat(200)).toJSON().body, 'x'.repeat(200));
  assert.equal(new HttpResponse(new Uint8Array(4096)).toJSON().body, '[4096 bytes]');
  let opened = false;
  const streamed = new StreamingResponse(() => { opened = true; return (async function* () {})(); });
  assert.match(inspect(streamed, plain), /^StreamingResponse \{ status: 200, .* body: '\[stream, not read\]' \}$/);
  assert.equal(opened, false, 'showing a stream does not open it');
});

test('JSON.stringify of a response (a log line\'s { response }) writes the summary, not {"headers":{}}', () => {
  const response = new HttpResponse('gone', { status: 410, headers: { 'cache-control': 'no-store' } });
  assert.deepEqual(JSON.parse(JSON.stringify({ response })), {
    response: { status: 410, headers: { 'cache-control': 'no-store', 'content-type': 'text/plain; charset=utf-8' }, body: 'gone' },
  });
  assert.equal(JSON.stringify(response.headers), '{"cache-control":"no-store","content-type":"text/plain; charset=utf-8"}');
});

test('nested past the inspect depth, a response is [HttpResponse], as any object there is shown by its name', () => {
  assert.equal(inspect({ a: { b: { c: new HttpResponse('deep') } } }, plain), '{ a: { b: { c: [HttpResponse] } } }');
  assert.equal(inspect({ a: { b: new HttpResponse('x') } }, plain), `{ a: { b: HttpResponse { status: 200, headers: [Object], body: 'x' } } }`);
});

test('a summary is for logs: Set-Cookie values (a session token) are left out, their cookies named; a body a middleware set to another value is shown as what it is; a header named __proto__ stays a key', () => {
  const response = new HttpResponse('ok');
  response.setCookie('session', 'TOKEN-123');
  response.headers.append('set-cookie', 'csrf=SECRET-456; Path=/');
  const logged = JSON.stringify({ response });
  assert.doesNotMatch(logged, /TOKEN-123|SECRET-456/);
  assert.deepEqual(response.toJSON().cookies, ['session', 'csrf']);
  // A middleware may set body to anything (refused when sent): showing it must not throw.
  for (const [body, shown] of [[undefined, '[not a body: undefined]'], [{ a: 1 }, '[not a body: a plain object]'], [42, '[not a body: number 42]']] as const) {
    const odd = new HttpResponse('x');
    (odd as { body: unknown }).body = body;
    assert.equal(odd.toJSON().body, shown);
    assert.doesNotThrow(() => inspect(odd));
  }
  const proto = new HttpResponse('x');
  proto.headers.append('__proto__', 'a');
  proto.headers.append('__proto__', 'b');
  assert.deepEqual(Object.keys(proto.headers.toJSON()), ['content-type', '__proto__']);
  assert.deepEqual(proto.headers.toJSON()['__proto__'], ['a', 'b']);
});
