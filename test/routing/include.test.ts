import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, include, JsonResponse, NotFound, post, type HttpRequest, type Middleware, type MiddlewareHooks } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

const echo = (request: HttpRequest) => new JsonResponse({ route: request.route, params: request.params, trail: request.state.trail ?? [] });

/** A hooks middleware that appends its name to `request.state.trail` and to `log` at each hook. */
function tracer(name: string, log: string[]): MiddlewareHooks {
  return {
    name,
    processRequest(request) {
      ((request.state.trail ??= []) as string[]).push(name);
      log.push(`${name}.request`);
    },
    processView() {
      log.push(`${name}.view`);
    },
    processException() {
      log.push(`${name}.exception`);
    },
    processResponse(_request, response) {
      log.push(`${name}.response`);
      return response;
    },
  };
}

describe('include()', () => {
  test('prefixes paths, nested; "/" inside a group is the prefix itself; request.route is the whole pattern', async () => {
    const app = createApp({
      routes: [
        include('/api', [
          get('/', echo),
          get('/notes/:id', echo),
          include('/v2', [get('/users/:user/notes/:note', echo)]),
        ]),
        include('/shop/:shop', [get('/items/*', echo)]),
      ],
    });
    const client = createTestClient(app, { transport: 'socket' });
    try {
      assert.deepEqual(await (await client.get('/api')).json(), { route: '/api', params: {}, trail: [] });
      assert.deepEqual(await (await client.get('/api/notes/7')).json(), { route: '/api/notes/:id', params: { id: '7' }, trail: [] });
      assert.deepEqual(await (await client.get('/api/v2/users/u1/notes/n2')).json(), { route: '/api/v2/users/:user/notes/:note', params: { user: 'u1', note: 'n2' }, trail: [] });
      assert.deepEqual(await (await client.get('/shop/s1/items/a/b')).json(), { route: '/shop/:shop/items/*', params: { shop: 's1', '*': 'a/b' }, trail: [] });
      const miss = await client.get('/notes/7');
      assert.equal(miss.status, 404);
      assert.equal(await miss.text(), 'no route for GET /notes/7');
    } finally {
      await client.close();
    }
  });

  test("reverse() gives whole paths; names are unique across groups, or namespaced as 'ns:name'", () => {
    const app = createApp({
      routes: [
        get('/notes/:id', echo, { name: 'note' }),
        include('/api', [get('/notes/:id', echo, { name: 'note' }), include('/v2', [get('/notes/:id', echo, { name: 'note' })], { namespace: 'v2' })], { namespace: 'api' }),
        include('/admin', [get('/users/:id', echo, { name: 'admin-user' })]),
      ],
    });
    assert.equal(app.reverse('note', { id: 1 }), '/notes/1');
    assert.equal(app.reverse('api:note', { id: 2 }), '/api/notes/2');
    assert.equal(app.reverse('api:v2:note', { id: 3 }), '/api/v2/notes/3');
    assert.equal(app.reverse('admin-user', { id: 'a b' }), '/admin/users/a%20b');
    assert.throws(
      () => createApp({ routes: [get('/a', echo, { name: 'x' }), include('/g', [get('/b', echo, { name: 'x' })])] }),
      /two routes are named "x": \/a and \/g\/b/,
    );
  });

  test("the group's middleware wraps only its views, inside the app's middleware, each factory built once per group", async () => {
    const log: string[] = [];
    let built = 0;
    const counting: Middleware = (getResponse) => {
      built++;
      return (request) => {
        log.push('counting');
        return getResponse(request);
      };
    };
    const app = createApp({
      middleware: [tracer('app', log)],
      routes: [
        get('/open', echo),
        include('/api', [get('/a', echo), get('/b', echo), include('/inner', [get('/c', echo)], { middleware: [tracer('inner', log)] })], { middleware: [counting, tracer('group', log)] }),
      ],
    });
    assert.equal(built, 1);
    const client = createTestClient(app);
    assert.deepEqual((await (await client.get('/open')).json() as { trail: string[] }).trail, ['app']);
    assert.deepEqual(log, ['app.request', 'app.view', 'app.response']);
    log.length = 0;
    assert.deepEqual((await (await client.get('/api/b')).json() as { trail: string[] }).trail, ['app', 'group']);
    assert.deepEqual(log, ['app.request', 'app.view', 'counting', 'group.request', 'group.view', 'group.response', 'app.response']);
    log.length = 0;
    assert.deepEqual((await (await client.get('/api/inner/c')).json() as { trail: string[] }).trail, ['app', 'group', 'inner']);
    assert.deepEqual(log, ['app.request', 'app.view', 'counting', 'group.request', 'group.view', 'inner.request', 'inner.view', 'inner.response', 'group.response', 'app.response']);
  });

  test("a group's processView sees the route's own view; its processException sees the view's error, which becomes its response inside the group", async () => {
    const log: string[] = [];
    const seen: unknown[] = [];
    const failing = function failing(): never {
      throw new NotFound('no such note');
    };
    const app = createApp({
      middleware: [tracer('app', log)],
      routes: [include('/api', [get('/fail', failing)], { middleware: [{ ...tracer('group', log), processView(_request, view) { seen.push(view); } }] })],
    });
    const response = await createTestClient(app).get('/api/fail');
    assert.equal(response.status, 404);
    assert.equal(await response.text(), 'no such note');
    assert.deepEqual(seen, [failing]);
    assert.deepEqual(log, ['app.request', 'app.view', 'group.request', 'group.exception', 'group.response', 'app.response']);
  });

  test("a group's middleware may answer for its routes (an auth check) without touching other routes", async () => {
    const auth: MiddlewareHooks = {
      processRequest(request) {
        if (request.headers.get('authorization') !== 'Bearer ok') return new HttpResponse('denied', { status: 401 });
      },
    };
    const app = createApp({ routes: [get('/public', echo), include('/private', [post('/notes', echo)], { middleware: [auth] })] });
    const client = createTestClient(app, { transport: 'socket' });
    try {
      assert.equal((await client.get('/public')).status, 200);
      const denied = await client.post('/private/notes');
      assert.equal(denied.status, 401);
      assert.equal(await denied.text(), 'denied');
      assert.equal((await client.post('/private/notes', { headers: { authorization: 'Bearer ok' } })).status, 200);
    } finally {
      await client.close();
    }
  });

  test('bad groups are refused where they are made, naming the problem', () => {
    assert.throws(() => include('api', []), /include\(\) prefix must start with "\/", got string "api"/);
    assert.throws(() => include('/api/', []), /include\("\/api\/"\): the prefix must not end with "\/"/);
    assert.throws(() => include('/api/*', []), /the prefix cannot end with a wildcard/);
    assert.throws(() => include('/api', get('/a', echo) as never), /include\("\/api"\): routes must be an array, got a plain object/);
    assert.throws(() => include('/api', [], { middlewares: [] } as never), /unknown option "middlewares"; did you mean "middleware"\?/);
    assert.throws(() => include('/api', [], { namespace: 'a:b' }), /namespace must be letters, digits/);
    assert.throws(
      () => createApp({ routes: [include('/api', [get('/a', echo), { path: '/b' } as never])] }),
      /routes\[0\] \(include "\/api"\) routes\[1\] is not a route, got a plain object/,
    );
  });
});
