import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { copyResponse } from '../../src/http/response-copy.js';
import { representationType, setRepresentationType } from '../../src/http/representation-type.js';

test('a copy has the status, headers, cookies and tasks of the response, with its own headers and the body given', async () => {
  const ran: string[] = [];
  const shared = new HttpResponse('original', { status: 201, headers: { 'x-a': '1', 'set-cookie': ['s=1', 't=2'] } })
    .setCookie('c', 'v')
    .after(() => void ran.push('built with'));
  const app = createApp({
    routes: [get('/', () => {
      const copy = copyResponse(shared, 'copied');
      copy.headers.set('x-b', '2');
      return copy;
    })],
  });
  await using client = createTestClient(app);
  const response = await client.get('/');
  assert.equal(response.status, 201);
  assert.equal(await response.text(), 'copied');
  assert.equal(response.headers.get('x-a'), '1');
  assert.equal(response.headers.get('x-b'), '2');
  assert.deepEqual(response.headers.getSetCookie(), ['s=1', 't=2', 'c=v; Path=/; HttpOnly; SameSite=Lax']);
  await app.settle();
  assert.deepEqual(ran, ['built with']);
  assert.equal(shared.body, 'original');
  assert.equal(shared.headers.get('x-b'), null, 'the response\'s own headers are left as they were');
});

test('a cookie set on a copy is the copy\'s alone: the response copied keeps the cookies it had', async () => {
  const shared = new HttpResponse('shared').setCookie('theme', 'dark');
  let user: string | null = 'alice';
  const app = createApp({
    routes: [get('/', () => {
      const copy = copyResponse(shared, 'copied');
      // A session middleware outside would do this for the one request it knows.
      if (user !== null) copy.setCookie('session', user);
      return copy;
    })],
  });
  await using client = createTestClient(app);
  assert.deepEqual((await client.get('/')).headers.getSetCookie(), ['theme=dark; Path=/; HttpOnly; SameSite=Lax', 'session=alice; Path=/; HttpOnly; SameSite=Lax']);
  user = null;
  assert.deepEqual((await client.get('/')).headers.getSetCookie(), ['theme=dark; Path=/; HttpOnly; SameSite=Lax']);
});

test('a copy adds no Content-Type the response lacks, and keeps the type a 304 stands for', () => {
  const bare = new HttpResponse('text');
  bare.headers.delete('content-type');
  assert.equal(copyResponse(bare, Buffer.from('bytes')).headers.get('content-type'), null);
  const notModified = setRepresentationType(new HttpResponse(null, { status: 304 }), 'image/png');
  assert.equal(representationType(copyResponse(notModified, null)), 'image/png');
});
