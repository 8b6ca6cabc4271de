import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, JsonResponse, post, type Outcome } from 'coda-http';
import { createTestClient, type TestRequestOptions } from 'coda-http/testing';
import { deferred } from '../helpers.js';

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: form sends a urlencoded form (a record or URLSearchParams) or a multipart one (FormData, files included)`, async () => {
    const app = createApp({
      routes: [post('/form', async (request) => {
        const form = await request.form();
        const file = form.get('avatar');
        return new JsonResponse({
          type: request.headers.get('content-type')!.split(';')[0],
          name: form.get('name'),
          tags: form.getAll('tag'),
          file: file instanceof File ? [file.name, await file.text()] : null,
        });
      })],
    });
    await using client = createTestClient(app, { transport });
    const record = await client.post('/form', { form: { name: 'ada' } });
    assert.deepEqual(await record.json(), { type: 'application/x-www-form-urlencoded', name: 'ada', tags: [], file: null });
    const params = await client.post('/form', { form: new URLSearchParams([['name', 'ada'], ['tag', 'a'], ['tag', 'b']]) });
    assert.deepEqual(await params.json(), { type: 'application/x-www-form-urlencoded', name: 'ada', tags: ['a', 'b'], file: null });
    const data = new FormData();
    data.append('name', 'ada');
    data.append('avatar', new File(['png bytes'], 'me.png', { type: 'image/png' }));
    const multipart = await client.post('/form', { form: data });
    assert.deepEqual(await multipart.json(), { type: 'multipart/form-data', name: 'ada', tags: [], file: ['me.png', 'png bytes'] });
  });
}

test('request options are checked: a misspelt one is named with the right one, and two bodies are refused', async () => {
  await using client = createTestClient(createApp({ routes: [post('/', () => new HttpResponse('ok'))] }));
  // As plain JavaScript would pass them: TypeScript refuses both at compile time.
  await assert.rejects(client.post('/', { hedaers: { authorization: 'Bearer t' } } as TestRequestOptions), {
    name: 'TypeError', message: 'client POST /: unknown option "hedaers"; did you mean "headers"?',
  });
  await assert.rejects(client.post('/', { body: 'raw', json: { a: 1 } }), {
    name: 'TypeError', message: 'client POST /: give one body (body, json or form), got body and json',
  });
});

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: the path is sent as given, dot segments included, with what a client must escape escaped; a path without its leading slash is refused`, async () => {
    const app = createApp({ routes: [get('/*', (request) => new JsonResponse({ url: request.url }))] });
    await using client = createTestClient(app, { transport });
    assert.deepEqual(await (await client.get('/notes/../x y/é?q=é&r=1')).json(), { url: '/notes/../x%20y/%C3%A9?q=%C3%A9&r=1' });
    assert.deepEqual(await (await client.get('/a%2Fb?x=%20')).json(), { url: '/a%2Fb?x=%20' }, 'escapes given are kept');
    for (const path of ['notes', 'http://example.com/notes', '']) {
      await assert.rejects(client.get(path), { name: 'TypeError', message: `client GET ${path}: the path must start with "/" (the client sends to its app only), got ${JSON.stringify(path)}` });
    }
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a path's fragment is not sent, as no client sends one: the view sees the path and query only, and the cookies are those of that path`, async () => {
    const app = createApp({
      routes: [
        get('/in', () => new HttpResponse('ok').setCookie('at', 'notes', { path: '/notes' })),
        get('/*', (request) => new JsonResponse({ url: request.url, query: [...request.query], cookie: request.headers.get('cookie') })),
      ],
    });
    await using client = createTestClient(app, { transport });
    await client.get('/in#top');
    assert.deepEqual(await (await client.get('/notes?q=1#section-2')).json(), { url: '/notes?q=1', query: [['q', '1']], cookie: 'at=notes' });
    assert.deepEqual(await (await client.get('/notes#a?b=c')).json(), { url: '/notes', query: [], cookie: 'at=notes' }, 'a ? after the # is the fragment\'s');
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: client.request() takes a method in any case, as Node's client does, and refuses one that is not a token`, async () => {
    const app = createApp({ routes: [get('/', (request) => new JsonResponse({ method: request.method }))] });
    await using client = createTestClient(app, { transport });
    assert.deepEqual(await (await client.request('get', '/')).json(), { method: 'GET' });
    await assert.rejects(client.request('G ET', '/'), { name: 'TypeError', message: 'client.request(): the method must be an HTTP token (GET, POST, PROPFIND...), got "G ET"' });
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a request header no client could send (a name that is not a token, a CR or LF in a value, a value not a string) is refused naming it; one beyond Latin-1 goes as UTF-8 bytes, one with spaces around it without them`, async () => {
    const app = createApp({ routes: [get('/', (request) => new JsonResponse({ a: request.headers.get('x-a') }))] });
    await using client = createTestClient(app, { transport });
    await assert.rejects(client.get('/', { headers: { 'x-a': 'one\r\nx-forged: yes' } }), { name: 'TypeError', message: 'client GET /: header x-a has a character no request may carry (CR, LF, NUL or another control): "one\\r\\nx-forged: yes"' });
    await assert.rejects(client.get('/', { headers: { 'x a': '1' } }), { name: 'TypeError', message: 'client GET /: header name "x a" is not a token' });
    await assert.rejects(client.get('/', { headers: { 'x-a': 1 as unknown as string } }), { name: 'TypeError', message: 'client GET /: header x-a must be a string, got number 1' });
    assert.deepEqual(await (await client.get('/', { headers: { 'x-a': 'café' } })).json(), { a: 'café' });
    // As a server parses a field: the spaces and tabs around its value are not part of it (in-process kept them).
    assert.deepEqual(await (await client.get('/', { headers: { 'x-a': ' \t one  two \t ' } })).json(), { a: 'one  two' });
    assert.deepEqual(await (await client.get('/', { headers: { 'x-a': '' } })).json(), { a: '' });
    // Beyond Latin-1, the UTF-8 bytes a browser sends, read as a server reads a header's bytes.
    assert.deepEqual(await (await client.get('/', { headers: { 'x-a': '日本' } })).json(), { a: Buffer.from('日本').toString('latin1') });
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a request not answered within its timeoutMs (default 10 s) is rejected naming it, not left hanging`, async () => {
    const never = new Promise<never>(() => {});
    const app = createApp({ routes: [get('/stuck', () => never), get('/quick', () => new HttpResponse('ok'))] });
    const client = createTestClient(app, { transport });
    await assert.rejects(client.get('/stuck', { timeoutMs: 50 }), {
      name: 'Error', message: 'client GET /stuck: no complete response after 50 ms (a view that does not answer, or a body that does not end); give the request a longer timeoutMs if it needs one',
    });
    assert.equal((await client.get('/quick', { timeoutMs: 5_000 })).status, 200);
    await assert.rejects(client.get('/quick', { timeoutMs: -1 }), { name: 'RangeError', message: /^client GET \/quick timeoutMs must be a positive number of milliseconds/ });
    // The stuck view is still in flight: close() does not wait for it past its own deadline.
    await client.close();
  });
}

for (const transport of ['in-process', 'socket'] as const) {
  test(`${transport}: a request whose timeoutMs ran out before its view answered ends as one whose client left first: aborted, its head not sent`, async () => {
    const gate = deferred();
    const outcome = deferred<Outcome>();
    const app = createApp({
      routes: [get('/late', async (request) => {
        after(({ outcome: seen }) => outcome.resolve(seen));
        const { signal } = request;
        await gate.promise;
        // Over a socket, the server learns of the client's leaving from its connection: answered only once it has.
        if (transport === 'socket' && !signal.aborted) await once(signal, 'abort');
        return new HttpResponse('late');
      })],
    });
    await using client = createTestClient(app, { transport });
    await assert.rejects(client.get('/late', { timeoutMs: 50 }), /no complete response after 50 ms/);
    gate.resolve();
    const { headersSent, aborted, completed } = await outcome.promise;
    assert.deepEqual({ headersSent, aborted, completed }, { headersSent: false, aborted: true, completed: false });
    await client.settle({ timeoutMs: 5_000 });
  });
}
