import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createApp, del, get, HttpResponse, include, JsonResponse, patch, post, put, route, type HttpRequest, type Server,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { assertAnswer, rawGet, rawRequest, started, startServer } from '../helpers.js';

const echo = (request: HttpRequest) => new JsonResponse({ method: request.method, params: request.params });

describe('matching', () => {
  const app = createApp({
    routes: [
      get('/users/:id', echo),
      get('/users/:user/notes/:note', echo),
      get('/files/*', echo),
      get('/static/:dir/*', echo),
      get('/archive/:name.:ext', echo),
      get('/range/:from-:to', echo),
      post('/notes', echo),
      put('/notes/:id', echo),
      patch('/notes/:id', echo),
      del('/notes/:id', echo),
      route(['GET', 'POST'], '/both', echo),
      get('/', () => new HttpResponse('home')),
    ],
  });
  const client = createTestClient(app);

  test(':param segments, decoded', async () => {
    assert.deepEqual(await (await client.get('/users/7')).json(), { method: 'GET', params: { id: '7' } });
    assert.deepEqual(await (await client.get('/users/ann%20lee/notes/n%2F1')).json(), { method: 'GET', params: { user: 'ann lee', note: 'n/1' } });
    assert.deepEqual(await (await client.get('/users/%C3%A9t%C3%A9')).json(), { method: 'GET', params: { id: '\u00e9t\u00e9' } });
  });

  test('a param of any length a request line can carry is matched (find-my-way\'s default sent one past 100 characters to a 404): a JWT, a 5,000-character slug', async (t) => {
    const server = await startServer(createApp({ routes: [get('/verify/:token', (request) => new HttpResponse(request.params.token)), get('/posts/:slug/edit', (request) => new HttpResponse(String(request.params.slug.length)))] }));
    t.after(() => server.close());
    const jwt = `eyJhbGciOiJIUzI1NiJ9.${'eyJzdWIiOiIxMjM0NTY3ODkwIn0'.repeat(8)}.${'a'.repeat(43)}`;
    const verified = await rawRequest(server, rawGet(`/verify/${jwt}`));
    assert.equal(verified.status, 200);
    assert.equal(verified.body.toString(), jwt);
    const slug = await rawRequest(server, rawGet(`/posts/${'x'.repeat(5_000)}/edit`));
    assert.equal(slug.status, 200);
    assert.equal(slug.body.toString(), '5000');
  });

  test('a * param is the rest of the path as the client wrote it, percent-decoded, dot segments kept, as Fastify and Express give it (over a real socket)', async (t) => {
    const server = await startServer(createApp({ routes: [get('/files/*', (request) => new HttpResponse(request.params['*']))] }));
    t.after(() => server.close());
    const cases: [target: string, star: string][] = [
      ['/files/../../etc/passwd', '../../etc/passwd'],
      ['/files/%2e%2e/%2E%2E/etc/passwd', '../../etc/passwd'],
      ['/files/..%2f..%2fetc/passwd', '../../etc/passwd'],
      ['/files/a/../../b', 'a/../../b'],
      ['/files/..%5c..%5cb', '..\\..\\b'],
      ['/files//etc/passwd', '/etc/passwd'],
    ];
    for (const [target, star] of cases) {
      const response = await rawRequest(server, rawGet(target));
      assert.equal(response.status, 200, target);
      assert.equal(response.body.toString(), star, target);
    }
  });

  test('request.route is the pattern that matched, undefined when none did', async () => {
    const seen: (string | undefined)[] = [];
    const routed = createApp({
      middleware: [{ processResponse(request, response) { seen.push(request.route); return response; } }],
      routes: [get('/users/:id/notes/:note', () => new HttpResponse('ok')), get('/files/*', () => new HttpResponse('ok'))],
    });
    const routedClient = createTestClient(routed);
    await routedClient.get('/users/7/notes/n1');
    await routedClient.get('/files/a/b.txt');
    await routedClient.get('/nowhere');
    assert.deepEqual(seen, ['/users/:id/notes/:note', '/files/*', undefined]);
  });

  test('a trailing * takes the rest of the path', async () => {
    assert.deepEqual(await (await client.get('/files/a/b/c.txt')).json(), { method: 'GET', params: { '*': 'a/b/c.txt' } });
    assert.deepEqual(await (await client.get('/files/')).json(), { method: 'GET', params: { '*': '' } });
    assert.deepEqual(await (await client.get('/static/css/site/main.css')).json(), { method: 'GET', params: { dir: 'css', '*': 'site/main.css' } });
  });

  test('several params in one segment, split at - and .', async () => {
    assert.deepEqual(await (await client.get('/archive/notes.tar.gz')).json(), { method: 'GET', params: { name: 'notes.tar', ext: 'gz' } });
    assert.deepEqual(await (await client.get('/range/1-9')).json(), { method: 'GET', params: { from: '1', to: '9' } });
  });

  test('the query string is not part of the match', async () => {
    assert.deepEqual(await (await client.get('/users/7?x=1')).json(), { method: 'GET', params: { id: '7' } });
  });

  test('every method builder routes its method', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await client.request(method, '/notes/3');
      assert.deepEqual(await res.json(), { method, params: { id: '3' } });
    }
    assert.equal((await client.post('/both')).status, 200);
    assert.equal((await client.get('/both')).status, 200);
    assert.equal(await (await client.get('/')).text(), 'home');
  });

  test('no route is a 404 naming the method and path', async () => {
    const res = await client.get('/nope/nothing');
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'no route for GET /nope/nothing');
    assert.equal((await client.get('/users')).status, 404);
    assert.equal((await client.get('/users/7/extra')).status, 404);
  });

  test('a 404 repeats at most 200 characters of the path, with an ellipsis', async () => {
    const path = `/nope/${'x'.repeat(8000)}`;
    const res = await client.get(path);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), `no route for GET ${path.slice(0, 200)}…`);
  });

  test('a miss\'s 404 or 405 is built without a stack (capturing one was most of a 404\'s cost), and Error.stackTraceLimit is left as it was', async () => {
    const errors: unknown[] = [];
    const paged = createApp({
      routes: [post('/notes', echo)],
      errorPages: { 404: (_request, error) => (errors.push(error), new HttpResponse('gone', { status: 404 })), 405: (_request, error) => (errors.push(error), new HttpResponse('no', { status: 405 })) },
    });
    const pagedClient = createTestClient(paged);
    const limit = Error.stackTraceLimit;
    assert.equal((await pagedClient.get('/nowhere')).status, 404);
    assert.equal((await pagedClient.get('/notes')).status, 405);
    assert.equal(Error.stackTraceLimit, limit);
    assert.equal(errors.length, 2);
    for (const error of errors) assert.doesNotMatch((error as Error).stack!, /\n\s+at /, (error as Error).message);
    assert.match(new Error('elsewhere').stack!, /\n\s+at /, 'other errors keep their stacks');
  });

  test('routes are case-sensitive', async () => {
    assert.equal((await client.get('/USERS/7')).status, 404);
  });

  test('a path that exists for other methods is a 405 with Allow', async () => {
    await assertAnswer(await client.get('/notes'), { status: 405, headers: { allow: 'POST, OPTIONS' }, text: 'method GET is not allowed for /notes; allowed: POST, OPTIONS' });
    await assertAnswer(await client.post('/notes/3'), { status: 405, headers: { allow: 'PUT, PATCH, DELETE, OPTIONS' } });
  });

  test('Allow lists HEAD for GET routes', async () => {
    const res = await client.delete('/users/7');
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS');
    const both = await client.put('/both');
    assert.equal(both.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
  });

  test('GET routes answer HEAD: the view runs, no body is sent', async () => {
    const res = await client.head('/users/7');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.body.length, 0);
  });

  test('OPTIONS on a path with routes is a 204 with Allow listing its methods, HEAD and OPTIONS included', async () => {
    const res = await client.request('OPTIONS', '/users/7');
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS');
    assert.equal(res.body.length, 0);
    const onId = await client.request('OPTIONS', '/notes/3');
    assert.equal(onId.headers.get('allow'), 'PUT, PATCH, DELETE, OPTIONS');
  });

  test('OPTIONS on a path without routes is a 404', async () => {
    const res = await client.request('OPTIONS', '/nowhere');
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'no route for OPTIONS /nowhere');
  });

  test('HEAD on a path without a GET route is a 405', async () => {
    const res = await client.head('/notes');
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST, OPTIONS');
  });
});

describe('control characters in the path (over a real socket)', () => {
  const seen: Record<string, string>[] = [];
  const app = createApp({ routes: [get('/users/:id', (request) => (seen.push({ ...request.params }), new HttpResponse('ok'))), get('/files/*', () => new HttpResponse('ok'))] });
  let server: Server;
  started(async () => (server = await startServer(app, { host: '127.0.0.1' })), (server) => server.close());

  test('an encoded C0 control or DEL is a 400 naming it; the view never sees it decoded', async () => {
    for (const [target, code] of [['/users/a%00b', '%00'], ['/users/%0a', '%0A'], ['/users/x%0D%0Ay', '%0D'], ['/users/%1f', '%1F'], ['/users/%7F', '%7F'], ['/files/a/b%00.png', '%00'], ['/nowhere/%00', '%00']]) {
      const response = await rawRequest(server, rawGet(target!));
      assert.equal(response.status, 400, target);
      assert.equal(response.body.toString(), `the path ${JSON.stringify(target!.replace(/%../g, (c) => c.toUpperCase()))} holds a control character (${code}), which no path may`);
    }
    assert.deepEqual(seen, []);
  });

  test('other escapes still reach the view decoded', async () => {
    seen.length = 0;
    assert.equal((await rawRequest(server, rawGet('/users/a%20b%C3%A9%2F%25'))).status, 200);
    assert.deepEqual(seen, [{ id: 'a b\u00e9/%' }]);
  });
});

describe('an explicit OPTIONS route wins over the automatic answer', () => {
  const app = createApp({ routes: [get('/things', echo), route('OPTIONS', '/things', () => new HttpResponse('mine'))] });
  const client = createTestClient(app);

  test('the app\'s view answers', async () => {
    const res = await client.request('OPTIONS', '/things');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'mine');
  });

  test('over a real socket, a plain OPTIONS on another route still gets its Allow', async () => {
    const socketApp = createApp({ routes: [post('/items/:id', echo)] });
    await using socketClient = createTestClient(socketApp, { transport: 'socket' });
    const res = await socketClient.request('OPTIONS', '/items/4');
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('allow'), 'POST, OPTIONS');
  });
});

describe('an explicit HEAD route wins over the GET route', () => {
  const headView = () => new HttpResponse(null, { headers: { 'x-view': 'head' } });
  const getView = () => new HttpResponse('body', { headers: { 'x-view': 'get' } });
  for (const [order, routes] of [
    ['HEAD first', [route('HEAD', '/thing', headView), get('/thing', getView)]],
    ['GET first', [get('/thing', getView), route('HEAD', '/thing', headView)]],
  ] as const) {
    test(order, async () => {
      const client = createTestClient(createApp({ routes }));
      assert.equal((await client.head('/thing')).headers.get('x-view'), 'head');
      assert.equal((await client.get('/thing')).headers.get('x-view'), 'get');
    });
  }
});

describe('named routes and app.reverse()', () => {
  const app = createApp({
    routes: [
      get('/users/:id', echo, { name: 'user' }),
      get('/users/:user/notes/:note', echo, { name: 'note' }),
      get('/files/*', echo, { name: 'file' }),
      get('/about', () => new HttpResponse('about'), { name: 'about' }),
    ],
  });
  const client = createTestClient(app);

  test('fills :params, numbers included', () => {
    assert.equal(app.reverse('user', { id: 7 }), '/users/7');
    assert.equal(app.reverse('note', { user: 'ann', note: '3' }), '/users/ann/notes/3');
    assert.equal(app.reverse('about'), '/about');
  });

  test('percent-encodes params', () => {
    assert.equal(app.reverse('user', { id: 'a/b c?d#e%f\u00e9' }), '/users/a%2Fb%20c%3Fd%23e%25f%C3%A9');
  });

  test('a * param keeps its slashes and encodes the rest of each segment', () => {
    assert.equal(app.reverse('file', { '*': 'docs/read me.txt' }), '/files/docs/read%20me.txt');
    assert.equal(app.reverse('file', { '*': 'a?b/c#d/100%' }), '/files/a%3Fb/c%23d/100%25');
  });

  test('what reverse() builds routes back to the same params', async () => {
    for (const id of ['plain', 'a b', 'a/b', 'q?x=1', 'hash#frag', '50%', '\u00e9\u2603', '+&=;', '...', '.x']) {
      const res = await client.get(app.reverse('user', { id }));
      assert.deepEqual(await res.json(), { method: 'GET', params: { id } }, `id ${JSON.stringify(id)}`);
    }
    for (const rest of ['a/b/c.txt', 'dir with space/file?.txt', 'x#y/z', '100%/x', 'a/.../b']) {
      const res = await client.get(app.reverse('file', { '*': rest }));
      assert.deepEqual(await res.json(), { method: 'GET', params: { '*': rest } }, `* ${JSON.stringify(rest)}`);
    }
  });

  test("a param with a segment '.' or '..' is a clear error: a browser would collapse it (encoded too) and the link lead elsewhere", () => {
    assert.equal(new URL('/users/%2E', 'http://host').pathname, '/users/');
    assert.equal(new URL('/users/%2E%2E', 'http://host').pathname, '/');
    assert.throws(() => app.reverse('user', { id: '..' }), { name: 'TypeError', message: `reverse('user'): the param "id" has a segment '.' or '..' (".."), which a browser would collapse into another path` });
    assert.throws(() => app.reverse('user', { id: '.' }), { name: 'TypeError', message: /the param "id" has a segment/ });
    for (const rest of ['a/../b', '..', './x', 'a/.']) assert.throws(() => app.reverse('file', { '*': rest }), { name: 'TypeError', message: /the param "\*" has a segment/ });
  });

  test("a param with a regex is filled without it, and a value the regex refuses is a clear error; '::' is a literal colon, as the router reads them", async () => {
    const app = createApp({ routes: [
      get('/orders/:id(^\\d+)', echo, { name: 'order' }),
      get('/days/:date(^\\d{4}-\\d{2}-\\d{2}$).:format', echo, { name: 'day' }),
      get('/clock/12::30/:zone', echo, { name: 'clock' }),
    ] });
    const client = createTestClient(app);
    // The regex was written into the link ('/orders/12(^\d+)', a 404), and '::' taken for a param of its own.
    assert.equal(app.reverse('order', { id: 12 }), '/orders/12');
    assert.equal(app.reverse('day', { date: '2024-05-01', format: 'json' }), '/days/2024-05-01.json');
    assert.equal(app.reverse('clock', { zone: 'utc' }), '/clock/12:30/utc');
    for (const [name, params] of [['order', { id: 12 }], ['day', { date: '2024-05-01', format: 'json' }], ['clock', { zone: 'utc' }]] as const) {
      assert.equal((await client.get(app.reverse(name, params))).status, 200, name);
    }
    assert.throws(() => app.reverse('order', { id: 'abc' }), {
      name: 'TypeError',
      message: String.raw`reverse('order'): the param "id" ("abc") does not match its regex (^\d+) in /orders/:id(^\d+): the link would lead to no route`,
    });
  });

  test('a missing param is a clear error', () => {
    assert.throws(() => app.reverse('note', { user: 'ann' }), {
      name: 'TypeError',
      message: `reverse('note') needs the param "note" for /users/:user/notes/:note`,
    });
    assert.throws(() => app.reverse('file'), { name: 'TypeError', message: /reverse\('file'\) needs the param "\*"/ });
  });

  test("an empty :param, or a value that is neither a string nor a number, is a clear error, not a link to another route or to '/users/[object Object]'", () => {
    // '/users/' is not /users/:id (it is the list, or a 404), as Django's reverse() finds no match for ''.
    assert.throws(() => app.reverse('user', { id: '' }), {
      name: 'TypeError',
      message: `reverse('user'): the param "id" is empty, and /users/:id matches no empty segment`,
    });
    for (const [id, described] of [[{}, 'a plain object'], [null, 'null'], [Number.NaN, 'number NaN'], [Infinity, 'number Infinity'], [['a'], 'an instance of Array']] as const) {
      assert.throws(() => app.reverse('user', { id } as never), { name: 'TypeError', message: `reverse('user'): the param "id" must be a string, a finite number or a bigint, got ${described}` });
    }
    assert.throws(() => app.reverse('file', { '*': true } as never), { name: 'TypeError', message: /the param "\*" must be a string, a finite number or a bigint, got boolean true/ });
    // A * param may be empty: '/files/' is that route.
    assert.equal(app.reverse('file', { '*': '' }), '/files/');
    assert.equal(app.reverse('user', { id: 0 }), '/users/0');
  });

  test('an unknown name is a clear error', () => {
    assert.throws(() => app.reverse('nobody', {}), { name: 'TypeError', message: 'reverse(): no route is named "nobody"' });
  });

  test('two routes with the same name are rejected at createApp', () => {
    assert.throws(
      () => createApp({ routes: [get('/a', echo, { name: 'dup' }), post('/b', echo, { name: 'dup' })] }),
      { name: 'TypeError', message: 'two routes are named "dup": /a and /b' },
    );
  });
});

describe('duplicate routes', () => {
  const showNote = (request: HttpRequest) => new HttpResponse(`note ${request.params.id}`);
  const editNote = (request: HttpRequest) => new HttpResponse(`edit ${request.params.id}`);

  test('the same method and path twice is a TypeError at createApp naming both routes, written with other param names too', () => {
    assert.throws(
      () => createApp({ routes: [get('/notes/:id', showNote, { name: 'note' }), route(['POST', 'GET'], '/notes/:note', editNote)] }),
      { name: 'TypeError', message: 'two routes answer GET /notes/:note: view showNote (named "note") at /notes/:id and view editNote at /notes/:note; remove one, or change its method or path' },
    );
  });

  test('a group whose route repeats one outside it (include()) names the whole path', () => {
    assert.throws(
      () => createApp({ routes: [get('/api/notes', showNote), include('/api', [get('/notes', editNote, { name: 'notes' })])] }),
      { name: 'TypeError', message: 'two routes answer GET /api/notes: view showNote at /api/notes and view editNote (named "notes") at /api/notes; remove one, or change its method or path' },
    );
  });

  test('a route in a namespaced group is named by its whole name (namespace:name)', () => {
    assert.throws(
      () => createApp({ routes: [include('/api', [get('/notes', showNote, { name: 'notes' })], { namespace: 'api' }), include('/api', [include('/notes', [get('/', editNote, { name: 'list' })], { namespace: 'v1' })], { namespace: 'old' })] }),
      { name: 'TypeError', message: 'two routes answer GET /api/notes: view showNote (named "api:notes") at /api/notes and view editNote (named "old:v1:list") at /api/notes; remove one, or change its method or path' },
    );
  });

  test('a param named twice in a whole path (an include() prefix and its route, or one pattern) is a TypeError at createApp, not a value silently lost', async () => {
    // '/users/:id/posts/:id' answered with params { id: <the post> }: the user's id was gone, and reverse() wrote one value in both.
    assert.throws(
      () => createApp({ routes: [include('/users/:id', [get('/posts/:id', showNote, { name: 'post' })])] }),
      { name: 'TypeError', message: 'view showNote (named "post") at /users/:id/posts/:id names the param :id twice, and request.params keeps one value of it; rename one (include() prefixes and their routes share the params)' },
    );
    assert.throws(() => createApp({ routes: [get('/a/:id/b/:id', showNote)] }), { name: 'TypeError', message: /^view showNote at \/a\/:id\/b\/:id names the param :id twice/ });
    // Names that only share a beginning are two params.
    const app = createApp({ routes: [include('/users/:id', [get('/posts/:idx', echo)])] });
    assert.deepEqual(((await (await createTestClient(app).get('/users/1/posts/2')).json()) as { params: unknown }).params, { id: '1', idx: '2' });
  });

  test("a param written as Django writes it (<int:id>, <slug>), in a route or an include() prefix, is a TypeError at createApp saying how to write it, not a route no request reaches", () => {
    // '/notes/<int:id>' was taken as the text '<int' and a param 'id>': GET /notes/7 was a 404 "no route", without a word.
    assert.throws(() => createApp({ routes: [get('/notes/<int:id>', showNote)] }), {
      name: 'TypeError', message: 'view showNote at /notes/<int:id> writes a param as Django does, <int:id>, which the router reads as plain text; write :id (with a regex: :id(^\\d+$))',
    });
    assert.throws(() => createApp({ routes: [include('/blog/<slug>', [get('/', showNote, { name: 'post' })])] }), {
      name: 'TypeError', message: /^view showNote \(named "post"\) at \/blog\/<slug> writes a param as Django does, <slug>, .*; write :slug /,
    });
    // Inside a param's regex, < and > are the regex's own.
    assert.doesNotThrow(() => createApp({ routes: [get('/tags/:tag(^<\\w+>$)', showNote)] }));
  });

  test("a '?', '#' or control character in a route's text, or an include() prefix's, is a TypeError at createApp: no request path holds one, so the route was one no request reaches", () => {
    // '/search?q' waited for a path no client can send: its '?' starts the query, a '#' the fragment, a %09 is a 400.
    assert.throws(() => createApp({ routes: [get('/search?q', showNote)] }), {
      name: 'TypeError', message: 'view showNote at /search?q has "?" in its text, which no request path holds (a request\'s "?" starts its query, "#" its fragment, and a control character is refused): no request could reach it',
    });
    assert.throws(() => createApp({ routes: [include('/docs#intro', [get('/', showNote)])] }), { name: 'TypeError', message: /at \/docs#intro has "#" in its text/ });
    assert.throws(() => createApp({ routes: [get('/a\tb', showNote)] }), { name: 'TypeError', message: /has "\\t" in its text/ });
    // An optional param's '?', and '?' or '#' inside a param's regex, are the router's own.
    assert.doesNotThrow(() => createApp({ routes: [get('/notes/:id?', showNote), get('/tags/:tag(^[#?]\\w+$)', showNote)] }));
  });

  test("a param name with a character the router does not end it at (:product+:price, :a~b) is a TypeError at createApp: it was one param named 'product+:price', not two", () => {
    assert.throws(() => createApp({ routes: [get('/product/:product+:price/', showNote)] }), {
      name: 'TypeError', message: 'view showNote at /product/:product+:price/ has a param named "product+:price": a param\'s name ends only at \'(\', \'-\', \'.\' or \'/\', so this is one param, not what it looks like; name params with letters, digits and _ (\':a-:b\' for two)',
    });
    assert.throws(() => createApp({ routes: [include('/q/:a~b', [get('/', showNote)])] }), { name: 'TypeError', message: /has a param named "a~b"/ });
    // Letters of any script, digits, _ and $ are a name; '-' and '.' end one.
    assert.doesNotThrow(() => createApp({ routes: [get('/x/:Δ_1$/:a-:b.:c', showNote)] }));
  });

  test('an optional last param (:id?) routes with and without it, and reverse() leaves it out with its slash when it has no value', async () => {
    const app = createApp({ routes: [get('/notes/:id?', (request) => new HttpResponse(JSON.stringify(request.params)), { name: 'notes' })] });
    assert.equal(app.reverse('notes', {}), '/notes');
    assert.equal(app.reverse('notes', { id: 7 }), '/notes/7');
    await using client = createTestClient(app);
    for (const path of [app.reverse('notes', {}), app.reverse('notes', { id: 'a b' })]) {
      const res = await client.get(path);
      assert.equal(res.status, 200, path);
    }
    assert.equal(await (await client.get(app.reverse('notes', { id: 'a b' }))).text(), '{"id":"a b"}');
  });

  test("a method listed twice in one route's methods is refused where the route is made, not taken for two routes", () => {
    assert.throws(() => route(['GET', 'POST', 'GET'], '/notes', showNote), { name: 'TypeError', message: 'route /notes: the method GET is listed twice in ["GET","POST","GET"]' });
  });

  test('the same path for other methods is no duplicate', async () => {
    const client = createTestClient(createApp({ routes: [get('/notes/:id', showNote), post('/notes/:id', editNote)] }));
    assert.equal(await (await client.get('/notes/1')).text(), 'note 1');
    assert.equal(await (await client.post('/notes/1')).text(), 'edit 1');
  });
});

describe('route builders refuse bad input', () => {
  test('an unknown method', () => {
    assert.throws(() => route('FETCH' as 'GET', '/x', echo), { name: 'TypeError', message: /route \/x: unknown method "FETCH"/ });
  });
  test('no method, or methods that are not a list: an empty list made a route that answered nothing (a 404), null a bare TypeError', () => {
    assert.throws(() => route([], '/x', echo), { name: 'TypeError', message: "route /x: the list of methods is empty; give at least one, e.g. ['GET']" });
    assert.throws(() => route(null as never, '/x', echo), { name: 'TypeError', message: 'route /x: methods must be a method or a list of them, got null' });
    assert.throws(() => route(new Set(['GET']) as never, '/x', echo), { name: 'TypeError', message: /route \/x: methods must be a method or a list of them, got an instance of Set/ });
  });
  test('a path without a leading slash', () => {
    assert.throws(() => get('x', echo), { name: 'TypeError', message: 'route path must start with "/", got "x"' });
  });
  test('a view that is not a function', () => {
    assert.throws(() => get('/x', 'view' as never), { name: 'TypeError', message: /route \/x: the view must be a function, got string/ });
  });
  test('a bodyLimit that is not a whole number of bytes', () => {
    for (const bodyLimit of [-1, 1.5, Number.NaN, Infinity]) {
      assert.throws(() => post('/x', echo, { bodyLimit }), { name: 'RangeError', message: /route \/x: bodyLimit must be a whole number of bytes/ });
    }
  });
});

describe('per-route bodyLimit', () => {
  const size = async (request: HttpRequest) => new HttpResponse(String((await request.bytes()).length));
  const app = createApp({
    bodyLimit: 100,
    routes: [post('/small', size, { bodyLimit: 10 }), post('/large', size, { bodyLimit: 1_000 }), post('/default', size)],
  });
  const client = createTestClient(app);

  test('a route may lower the limit', async () => {
    assert.equal(await (await client.post('/small', { body: 'x'.repeat(10) })).text(), '10');
    const res = await client.post('/small', { body: 'x'.repeat(11) });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /the limit is 10 bytes/);
  });

  test('a route may raise the limit', async () => {
    assert.equal(await (await client.post('/large', { body: 'x'.repeat(500) })).text(), '500');
    assert.equal((await client.post('/large', { body: 'x'.repeat(1_001) })).status, 413);
  });

  test('other routes keep the app limit', async () => {
    assert.equal(await (await client.post('/default', { body: 'x'.repeat(100) })).text(), '100');
    const res = await client.post('/default', { body: 'x'.repeat(101) });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /the limit is 100 bytes/);
  });

  test("a body a middleware reads before routing (a webhook's signature check) is still under the route's limit: the app's let 11 bytes through to /small and refused 500 to /large", async () => {
    const early = createApp({
      bodyLimit: 100,
      middleware: [{ name: 'readsFirst', async processRequest(request) { await request.bytes(); } }],
      routes: [post('/small', size, { bodyLimit: 10 }), post('/large', size, { bodyLimit: 1_000 }), post('/default', size)],
    });
    const earlyClient = createTestClient(early);
    const small = await earlyClient.post('/small', { body: 'x'.repeat(11) });
    assert.equal(small.status, 413);
    assert.match(await small.text(), /the limit is 10 bytes/);
    assert.equal(await (await earlyClient.post('/large', { body: 'x'.repeat(500) })).text(), '500');
    assert.equal((await earlyClient.post('/default', { body: 'x'.repeat(101) })).status, 413);
    // No route: the app's limit, and then the 404.
    assert.equal((await earlyClient.post('/nowhere', { body: 'x'.repeat(50) })).status, 404);
  });
});

describe('typed params', () => {
  test('params are typed from the path (checked by npm run typecheck)', () => {
    // Never called: this function exists for the type checker.
    function typeChecks(): void {
      get('/users/:id/notes/:note', (request) => {
        const id: string = request.params.id;
        const note: string = request.params.note;
        // @ts-expect-error: no :nope in the path
        void request.params.nope;
        return new HttpResponse(id + note);
      });
      get('/files/*', (request) => {
        const rest: string = request.params['*'];
        // @ts-expect-error: a * path has no :id
        void request.params.id;
        return new HttpResponse(rest);
      });
      get('/plain', (request) => {
        // @ts-expect-error: a path without params has none
        void request.params.id;
        return new HttpResponse('');
      });
      get('/archive/:name.:ext', (request) => {
        const both: string = request.params.name + request.params.ext;
        // @ts-expect-error: the name ends at the dot
        void request.params['name.:ext'];
        return new HttpResponse(both);
      });
      get('/static/:dir/*', (request) => new HttpResponse(request.params.dir + request.params['*']));
      get('/range/:from-:to/:page', (request) => new HttpResponse(request.params.from + request.params.to + request.params.page));
      route(['GET', 'POST'], '/a/:x', (request) => new HttpResponse(request.params.x));
      // A view typed for every string key still fits any path.
      const loose = (request: HttpRequest) => new HttpResponse(request.params.anything ?? '');
      get('/users/:id', loose);
    }
    assert.equal(typeof typeChecks, 'function');
  });
});
