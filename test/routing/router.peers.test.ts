// Routing cases from Fastify's own suite (test/404s.test.js, test/router-options.test.js),
// over a real socket. Each test names its source.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, include, JsonResponse, post, type HttpRequest } from 'coda-http';
import { memoryLogger, rawRequest, serveForSuite } from '../helpers.js';

describe("routing, as Fastify's suite tests it", () => {
  let views = 0;
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/hello/:id', (request) => {
        views++;
        return new JsonResponse({ id: request.params.id });
      }),
      get('/files/*', (request) => {
        views++;
        return new JsonResponse({ rest: request.params['*'] });
      }),
    ],
  });
  const suite = serveForSuite(app);

  test("404s.test.js '400 in case of bad url': a broken escape in a dynamic or a wildcard route's path is a 400 naming the path, the view never run; 'Bad URL with special characters should be properly JSON escaped': the path is shown as sent", async () => {
    const before = views;
    for (const path of ['/hello/%world', '/files/%world', '/hello/%world%22test']) {
      const response = await suite.raw(path);
      assert.equal(response.status, 400, path);
      assert.equal(response.body.toString(), `invalid percent-encoding in path ${JSON.stringify(path)}`);
    }
    assert.equal(views, before);
  });

  test("escapes that are no UTF-8, as a fuzzer sends them: an overlong '.' (%C0%AE, the old '..' bypass), a lone surrogate, a code point past U+10FFFF, a cut sequence, are a 400 naming the path, the view never run; a double-encoded '..' is decoded once, to the text %2e%2e", async () => {
    const before = views;
    for (const path of ['/hello/%C0%AE%C0%AE', '/files/%C0%AE%C0%AE/x', '/hello/%ED%A0%80', '/hello/%F4%90%80%80', '/files/%E2%82']) {
      const response = await suite.raw(path);
      assert.deepEqual([response.status, response.body.toString()], [400, `invalid percent-encoding in path ${JSON.stringify(path)}`], path);
    }
    assert.equal(views, before);
    const twice = await suite.raw('/hello/%252e%252e');
    assert.deepEqual([twice.status, JSON.parse(twice.body.toString())], [200, { id: '%2e%2e' }]);
  });

  test("404s.test.js 'default 404' › 'unsupported route': a 404 naming the method and path; 'unsupported method': a 405 with Allow (Fastify answers 404)", async () => {
    const missing = await suite.raw('/nowhere');
    assert.deepEqual([missing.status, missing.body.toString()], [404, 'no route for GET /nowhere']);
    const method = await suite.raw('/hello/world', {}, 'PUT');
    assert.deepEqual([method.status, method.headers.allow], [405, 'GET, HEAD, OPTIONS']);
  });

  test("router-options.test.js 'Should honor maxParamLength option': a param past find-my-way's 100 characters is matched (Fastify, with its limit set, answers 414), escapes decoded once: %2520 is %20, %2F a slash in the value", async () => {
    for (const [path, id] of [[`/hello/${'a'.repeat(101)}`, 'a'.repeat(101)], ['/hello/a%2520b', 'a%20b'], ['/hello/a%2Fb', 'a/b'], ['/hello/%C3%A9', 'é']]) {
      const response = await suite.raw(path!);
      assert.deepEqual([response.status, JSON.parse(response.body.toString())], [200, { id }], path);
    }
  });
});

const params = (request: HttpRequest) => new JsonResponse({ route: request.route, params: request.params });

// Cases from find-my-way's own suite (test/*.test.js), Fastify's route and
// 404 tests and Django's tests/urlpatterns/tests.py, over a real socket: the
// request target is sent as raw bytes, as a client writes it.
describe("routing, as find-my-way's, Fastify's and Django's suites test it", () => {
  const app = createApp({
    logger: memoryLogger().logger,
    appendSlash: true,
    routes: [
      get('/hello/:id', params),
      get('/files/*', params),
      get('/static', params),
      get('/caf\u00e9', params),
      get('/a+b', params),
      get('/Upper', params),
      get('/range/:from-:to', params),
      get('/time/:h(^\\d{2})h:m(^\\d{2})m', params),
      get('/custom/name::verb', params),
      get('/articles/:year(^\\d+$)', params),
      get('/x/:a/:b', params),
      post('/form/', params),
      get('/slash/', params),
      include('/api', [get('/', params), get('/items/', params), get('/items/:id', params)]),
      include('/v1/:ver', [get('/hello', params)]),
      get('/', params),
    ],
  });
  const suite = serveForSuite(app);
  const { raw } = suite;
  /** The status and, for a 200, the route and params the view saw. */
  const routed = async (target: string, method = 'GET') => {
    const response = await raw(target, {}, method);
    return response.status === 200 ? { status: 200, ...JSON.parse(response.body.toString()) } : { status: response.status, location: response.headers.location };
  };

  test("find-my-way issue-206 'Special chars on path parameter', 'double encoding', url-sanitizer 'sanitizeUrlPath decodes a literal percent encoded as %25 exactly once': %2F in a param is a slash in its value, never a separator; %25 is a percent sign, decoded once", async () => {
    assert.deepEqual(await routed('/hello/a%2Fb'), { status: 200, route: '/hello/:id', params: { id: 'a/b' } });
    assert.deepEqual(await routed('/x/%2F/b'), { status: 200, route: '/x/:a/:b', params: { a: '/', b: 'b' } });
    assert.deepEqual(await routed('/hello/%25'), { status: 200, route: '/hello/:id', params: { id: '%' } });
    assert.deepEqual(await routed('/hello/a%252Fb'), { status: 200, route: '/hello/:id', params: { id: 'a%2Fb' } });
    // An encoded slash in a static route's place is no separator either: no route.
    assert.equal((await routed('/api%2Fitems/')).status, 404);
  });

  test("find-my-way issue-206 'Decode the URL before the routing', issue-234 'Decode url components': percent-encoded unicode reaches a static route and a param, in either case of hex digit; raw non-ASCII bytes are Node's 400", async () => {
    for (const target of ['/caf%C3%A9', '/caf%c3%a9']) assert.deepEqual(await routed(target), { status: 200, route: '/caf\u00e9', params: {} }, target);
    assert.deepEqual(await routed('/hello/%E2%9C%93%20ok'), { status: 200, route: '/hello/:id', params: { id: '\u2713 ok' } });
    const bytes = await rawRequest(suite.server, Buffer.concat([Buffer.from('GET /caf'), Buffer.from('\u00e9', 'utf8'), Buffer.from(' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')]));
    assert.equal(bytes.status, 400);
  });

  test("find-my-way issue-234 'Match static url without encoding option', url-sanitizer 'sanitizeUrlPath should decode non-reserved characters but keep reserved encoded when not in params': an encoded unreserved character is that character (%61 is a, %32 is 2, a regex param sees the digit), an encoded reserved one (%2B, %3A) reaches a param decoded but is no static route's literal; '+' is a plus in a path, not a space", async () => {
    assert.deepEqual(await routed('/st%61tic'), { status: 200, route: '/static', params: {} });
    assert.deepEqual(await routed('/articles/20%32%36'), { status: 200, route: '/articles/:year(^\\d+$)', params: { year: '2026' } });
    assert.deepEqual(await routed('/a+b'), { status: 200, route: '/a+b', params: {} });
    assert.deepEqual(await routed('/hello/a+b'), { status: 200, route: '/hello/:id', params: { id: 'a+b' } });
    assert.deepEqual(await routed('/hello/a%20b'), { status: 200, route: '/hello/:id', params: { id: 'a b' } });
    assert.deepEqual(await routed('/hello/a%2Bb%3Ac'), { status: 200, route: '/hello/:id', params: { id: 'a+b:c' } });
    for (const target of ['/a%2Bb', '/custom/name%3Averb']) assert.equal((await routed(target)).status, 404, target);
  });

  test("find-my-way case-insensitive.test.js (caseSensitive: true, its default): a static segment's case matters, a param's value keeps the case sent", async () => {
    assert.equal((await routed('/Upper')).status, 200);
    for (const target of ['/upper', '/UPPER']) assert.equal((await routed(target)).status, 404, target);
    assert.deepEqual(await routed('/hello/MiXeD'), { status: 200, route: '/hello/:id', params: { id: 'MiXeD' } });
  });

  test("find-my-way issue-17 'Multi parametric route / 1', 'Parametric route with regexp and fixed suffix', issue-175 'double colon is replaced with single colon': ':from-:to' splits at the last '-', regexes gate each param, '::' is a literal colon", async () => {
    assert.deepEqual(await routed('/range/1-2'), { status: 200, route: '/range/:from-:to', params: { from: '1', to: '2' } });
    assert.deepEqual(await routed('/range/a-b-c'), { status: 200, route: '/range/:from-:to', params: { from: 'a-b', to: 'c' } });
    assert.deepEqual(await routed('/time/12h30m'), { status: 200, route: '/time/:h(^\\d{2})h:m(^\\d{2})m', params: { h: '12', m: '30' } });
    assert.equal((await routed('/time/1h30m')).status, 404);
    assert.deepEqual(await routed('/custom/name:verb'), { status: 200, route: '/custom/name::verb', params: {} });
    assert.equal((await routed('/custom/name::verb')).status, 404);
  });

  test("Django test_path_lookup_with_typed_parameters, test_re_path: a regex param takes what matches it, anything else is a 404 (not the view with a bad value)", async () => {
    assert.deepEqual(await routed('/articles/2003'), { status: 200, route: '/articles/:year(^\\d+$)', params: { year: '2003' } });
    for (const target of ['/articles/20o3', '/articles/2003x']) assert.equal((await routed(target)).status, 404, target);
  });

  test("Django test_path_trailing_newlines: a newline after a path, encoded, matches nothing: a 400 naming the control character", async () => {
    const response = await raw('/articles/2003%0A');
    assert.deepEqual([response.status, response.body.toString()], [400, 'the path "/articles/2003%0A" holds a control character (%0A), which no path may']);
  });

  test("find-my-way querystring.test.js 'should sanitize the url - query', 'should sanitize the url - hash': the query string and a fragment sent raw are not part of the match, on a static and a param route", async () => {
    for (const target of ['/static?x=1', '/static?', '/static#frag', '/static?a=/b#c']) assert.deepEqual(await routed(target), { status: 200, route: '/static', params: {} }, target);
    for (const target of ['/hello/7?x=1&y=2', '/hello/7#frag', '/hello/7?x=%2F']) assert.deepEqual(await routed(target), { status: 200, route: '/hello/:id', params: { id: '7' } }, target);
  });

  test("find-my-way issue-20 'Should get an empty parameter' (not ported: a :param matched an empty segment, where Django's and Express's never do): '/hello/', '/x//b' and '/range/-2' are no route, so appendSlash does not send '/hello' to '/hello/'; a * param may still be empty", async () => {
    for (const target of ['/hello/', '/x//b', '/x/a/', '/range/-2', '/range/1-', '/hello', '/hello/?x=1']) assert.deepEqual(await routed(target), { status: 404, location: undefined }, target);
    assert.equal((await raw('/hello/', {}, 'OPTIONS')).status, 404);
    assert.deepEqual(await routed('/files/'), { status: 200, route: '/files/*', params: { '*': '' } });
  });

  test("find-my-way issue-20 'Should be 404', ignoreDuplicateSlashes (off, its default): '//' is not collapsed, so a double slash does not reach the single-slash route", async () => {
    for (const target of ['//static', '/hello//7', '//hello/7']) assert.equal((await routed(target)).status, 404, target);
    // A '*' param keeps what follows it as sent.
    assert.deepEqual(await routed('/files//a'), { status: 200, route: '/files/*', params: { '*': '/a' } });
  });

  test("dot segments (find-my-way resolves none, and Node hands the target over as sent): '/./' and '/../' are not resolved, so they reach no route they would name once resolved; a whole segment '.' or '..' in a param's place is its value, sent raw or encoded (%2E%2E, .%2E), as find-my-way, Express and Django's str converter ([^/]+) give it", async () => {
    for (const target of ['/./static', '/hello/../static', '/static/.']) assert.equal((await routed(target)).status, 404, target);
    for (const target of ['/hello/..', '/hello/%2E%2E', '/hello/.%2e']) assert.deepEqual(await routed(target), { status: 200, route: '/hello/:id', params: { id: '..' } }, target);
    for (const target of ['/hello/.', '/hello/%2E']) assert.deepEqual(await routed(target), { status: 200, route: '/hello/:id', params: { id: '.' } }, target);
  });

  test("find-my-way max-param-length.test.js, regex-max-param-length.test.js (maxParamLength set to 16 KiB): a 16,000-character param is matched, by a regex param too; a target past 16 KiB is a 414 before routing", async () => {
    const long = 'a'.repeat(16_000);
    assert.deepEqual(await routed(`/hello/${long}`), { status: 200, route: '/hello/:id', params: { id: long } });
    const digits = '7'.repeat(16_000);
    assert.deepEqual(await routed(`/articles/${digits}`), { status: 200, route: '/articles/:year(^\\d+$)', params: { year: digits } });
    assert.equal((await raw(`/hello/${'a'.repeat(16 * 1024 + 1)}`)).status, 414);
  });

  test("Fastify route.5.test.js 'Creates a HEAD route for each GET one (default)': HEAD on a GET route runs it and sends its headers, Content-Length included, with no body", async () => {
    const [got, head] = [await raw('/hello/7'), await raw('/hello/7', {}, 'HEAD')];
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const without = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'date'));
    assert.deepEqual(without(head.headers), without(got.headers));
    assert.equal(head.headers['content-length'], String(got.body.length));
  });

  test("find-my-way methods.test.js (Fastify answers 404 where Coda answers 405): a path routed for other methods is a 405 whose Allow lists each of them, HEAD and OPTIONS included; OPTIONS answers 204 with that Allow; OPTIONS * lists every method some route answers", async () => {
    const put = await raw('/static', {}, 'PUT');
    assert.deepEqual([put.status, put.headers.allow, put.body.toString()], [405, 'GET, HEAD, OPTIONS', 'method PUT is not allowed for /static; allowed: GET, HEAD, OPTIONS']);
    const get = await raw('/form/', {}, 'GET');
    assert.deepEqual([get.status, get.headers.allow], [405, 'POST, OPTIONS']);
    const options = await raw('/hello/7', {}, 'OPTIONS');
    assert.deepEqual([options.status, options.headers.allow, options.body.length], [204, 'GET, HEAD, OPTIONS', 0]);
    const star = await raw('*', {}, 'OPTIONS');
    assert.deepEqual([star.status, star.headers.allow], [204, 'GET, HEAD, POST, OPTIONS']);
    const starGet = await raw('*');
    assert.deepEqual([starGet.status, starGet.body.toString()], [400, 'the request target * (the server as a whole) is for OPTIONS only, not GET']);
  });

  test("find-my-way full-url.test.js 'full-url', 'an HTTP server routes an absolute-form target with an empty path to root': an absolute-form target (GET http://host/path) routes by its path, the query kept out; the bare authority is '/'", async () => {
    assert.deepEqual(await routed('http://localhost/hello/7?x=1'), { status: 200, route: '/hello/:id', params: { id: '7' } });
    assert.deepEqual(await routed('HTTP://LOCALHOST/static'), { status: 200, route: '/static', params: {} });
    assert.deepEqual(await routed('http://localhost'), { status: 200, route: '/', params: {} });
  });

  test("Fastify route-prefix.test.js 'Prefix should support /', 'Prefix should support parameters as well', Django test_path_lookup_with_inclusion: include()'s '/' is the prefix itself, a prefix may hold a param; a route's trailing slash is kept, and appendSlash redirects to it", async () => {
    assert.deepEqual(await routed('/api'), { status: 200, route: '/api', params: {} });
    assert.equal((await routed('/api/')).status, 404);
    assert.deepEqual(await routed('/api/items/'), { status: 200, route: '/api/items/', params: {} });
    assert.deepEqual(await routed('/api/items/3'), { status: 200, route: '/api/items/:id', params: { id: '3' } });
    assert.deepEqual(await routed('/api/items?page=2'), { status: 301, location: '/api/items/?page=2' });
    assert.equal((await routed('/api/items/3/')).status, 404);
    assert.deepEqual(await routed('/v1/beta/hello'), { status: 200, route: '/v1/:ver/hello', params: { ver: 'beta' } });
  });

  test("Django CommonMiddlewareTest 'test_append_slash_no_redirect_on_POST_in_DEBUG': a POST is never redirected with a 301 a client replays as GET: a 308, which keeps the method and the body; a path routed for other methods is their 405, not a redirect", async () => {
    assert.deepEqual(await routed('/form', 'POST'), { status: 308, location: '/form/' });
    assert.deepEqual(await routed('/form?x=1', 'PUT'), { status: 308, location: '/form/?x=1' });
    assert.deepEqual(await routed('/slash?x=1', 'HEAD'), { status: 301, location: '/slash/?x=1' });
    assert.equal((await routed('/static', 'POST')).status, 405);
  });
});

// find-my-way backtracks past a node that does not match to the next it
// ranks (a param's other routes, then the wildcard), and Django tries its
// patterns in order: a path a :param refuses for being empty still reaches
// the route that takes it.
describe('an empty segment a :param refuses reaches the route that takes it', () => {
  const app = createApp({
    logger: memoryLogger().logger,
    appendSlash: true,
    routes: [
      get('/users/:id', params),
      get('/users/*', params),
      get('/a/:x/b', params),
      get('/a/*', params),
      get('/range/:from-:to', params),
      get('/range/*', params),
      // Added before the route find-my-way ranks first for '/v/x/', to show that its rank decides.
      get('/v/*', params),
      get('/v/:a/:b', params),
      get('/v/:a/*', params),
    ],
  });
  const suite = serveForSuite(app);
  const routed = async (target: string, method = 'GET') => {
    const response = await suite.raw(target, {}, method);
    return response.status === 200 ? { status: 200, ...JSON.parse(response.body.toString()) } : { status: response.status, allow: response.headers.allow, location: response.headers.location };
  };

  test("find-my-way's backtracking ('/users/' to '/users/*', '/a//b' to '/a/*', '/range/-2' to '/range/*'), in find-my-way's order; 405 Allow, automatic OPTIONS and appendSlash count the route that takes the path", async () => {
    assert.deepEqual(await routed('/users/'), { status: 200, route: '/users/*', params: { '*': '' } });
    assert.deepEqual(await routed('/users/7'), { status: 200, route: '/users/:id', params: { id: '7' } });
    assert.deepEqual(await routed('/a//b'), { status: 200, route: '/a/*', params: { '*': '/b' } });
    assert.deepEqual(await routed('/a/x/b'), { status: 200, route: '/a/:x/b', params: { x: 'x' } });
    assert.deepEqual(await routed('/range/-2'), { status: 200, route: '/range/*', params: { '*': '-2' } });
    assert.deepEqual(await routed('/v/x/'), { status: 200, route: '/v/:a/*', params: { a: 'x', '*': '' } });
    assert.deepEqual(await routed('/users/', 'PUT'), { status: 405, allow: 'GET, HEAD, OPTIONS', location: undefined });
    assert.deepEqual(await routed('/users/', 'OPTIONS'), { status: 204, allow: 'GET, HEAD, OPTIONS', location: undefined });
    assert.deepEqual(await routed('/users?x=1'), { status: 301, allow: undefined, location: '/users/?x=1' });
  });
});
