import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, post } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

function cookieApp() {
  return createApp({
    secret: 'a test secret that is long enough to sign with',
    routes: [
      post('/login', () => new HttpResponse('in').setCookie('session', 'ada', { signed: true }).setCookie('theme', 'dark mode')),
      post('/logout', () => new HttpResponse('out').deleteCookie('session')),
      post('/admin/enter', () => new HttpResponse('ok').setCookie('sudo', '1', { path: '/admin' })),
      post('/brief', () => new HttpResponse('ok').setCookie('flash', 'hi', { maxAge: 0 })),
      get('/me', (request) => new JsonResponse({ session: request.signedCookies.get('session') ?? null, cookie: request.headers.get('cookie') })),
      get('/admin/me', (request) => new JsonResponse({ cookie: request.headers.get('cookie') })),
    ],
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: the client keeps the cookies the app sets and sends them back, as a browser does: by path, until deleted or expired`, async () => {
    await using client = createTestClient(cookieApp(), { transport });
    assert.deepEqual(await (await client.get('/me')).json(), { session: null, cookie: null });
    await client.post('/login');
    const me = await (await client.get('/me')).json() as { session: string; cookie: string };
    assert.equal(me.session, 'ada', 'a signed cookie comes back as it was set');
    assert.match(me.cookie, /^session=[^;]+; theme=dark%20mode$/);

    await client.post('/admin/enter');
    assert.doesNotMatch((await (await client.get('/me')).json() as { cookie: string }).cookie, /sudo/, 'not sent outside its path');
    assert.match((await (await client.get('/admin/me')).json() as { cookie: string }).cookie, /^sudo=1; session=/, 'longest path first');

    await client.post('/brief');
    await client.post('/logout');
    assert.deepEqual(await (await client.get('/me')).json(), { session: null, cookie: 'theme=dark%20mode' });
    assert.deepEqual(await (await client.get('/me', { headers: { Cookie: 'theme=light' } })).json(), { session: null, cookie: 'theme=light' }, 'a cookie header the test gives is sent as it is');
  });
}

test('createTestClient(app, { cookies: false }) keeps none', async () => {
  await using client = createTestClient(cookieApp(), { cookies: false });
  await client.post('/login');
  assert.deepEqual(await (await client.get('/me')).json(), { session: null, cookie: null });
});
