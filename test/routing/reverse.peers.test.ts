// app.reverse() judged by checks ported from Django's tests/urlpatterns_reverse/tests.py
// (and tests/urlpatterns/tests.py): each title names the Django test it ports.
// Every link reverse() gives is sent over a real socket and must route back to
// the same route and params. Where Coda deliberately differs (two routes with one
// name, args lists, script prefixes, query/fragment), docs/web.md says why.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, include, JsonResponse, type HttpRequest } from 'coda-http';
import { serveForSuite } from '../helpers.js';

const echo = (request: HttpRequest) => new JsonResponse({ route: request.route, params: request.params });
/** The app's routes outside include(), by name. */
const named: [string, string][] = [
  ['places', '/places/:id(^\\d+$)/'],
  ['people', '/people/:name(^\\w+$)/'],
  ['people3', '/people/:state/:name/'],
  ['people6', '/people6/*'],
  ['headlines', '/headlines/:year.:month.:day/'],
  ['product', '/product/:product-:price/'],
  ['hardcoded2', '/hardcoded/doc.pdf'],
  ['special', '/special_chars/:chars/'],
  ['new-user', '/users/new'],
  ['user', '/users/:id'],
  ['proto', '/proto/:constructor/'],
  ['delta', '/hello/:Δ/'],
];
const inner = [get('/normal/:arg1/:arg2/', echo, { name: 'inc-normal-view' })];

describe("app.reverse(), as Django's urlpatterns_reverse tests test reverse()", { timeout: 10_000 }, () => {
  const app = createApp({
    routes: [
      ...named.map(([name, path]) => get(path, echo, { name })),
      include('/ns-included1', [...inner, include('/ns-included4', [include('/ns-included2', inner, { namespace: 'inc-ns2' })], { namespace: 'inc-ns4' })], { namespace: 'inc-ns1' }),
      include('/inc:outer', [get('/', echo, { name: 'inner-nothing' }), get('/extra/:extra/', echo, { name: 'inner-extra' })], { namespace: 'inc-ns5' }),
    ],
  });
  const { raw } = serveForSuite(app);
  /** The route and params the app gives the link. */
  const resolve = async (path: string) => JSON.parse((await raw(path)).body.toString()) as { route: string; params: Record<string, string> };
  /** Reverses, checks the link, and that it routes back to `route` with the params as strings. */
  const roundTrip = async (name: string, params: Record<string, string | number | bigint>, expected: string, route: string) => {
    const path = app.reverse(name, params);
    assert.equal(path, expected);
    assert.deepEqual(await resolve(path), { route, params: Object.fromEntries(Object.entries(params).map(([key, value]) => [key, String(value)])) });
  };

  test("test_urlpattern_reverse ('places', 'places4', 'people', 'people3', 'hardcoded2'): params fill the pattern, a number as a string does, and the link routes back", async () => {
    await roundTrip('places', { id: 3 }, '/places/3/', '/places/:id(^\\d+$)/');
    await roundTrip('places', { id: '3' }, '/places/3/', '/places/:id(^\\d+$)/');
    await roundTrip('people', { name: 'adrian' }, '/people/adrian/', '/people/:name(^\\w+$)/');
    await roundTrip('people3', { state: 'il', name: 'adrian' }, '/people/il/adrian/', '/people/:state/:name/');
    await roundTrip('hardcoded2', {}, '/hardcoded/doc.pdf', '/hardcoded/doc.pdf');
    assert.equal(app.reverse('hardcoded2'), '/hardcoded/doc.pdf');
  });

  test("test_urlpattern_reverse ('places' ['a'], 'people' 'name with spaces'): a value its param's regex refuses is a TypeError naming the param and the regex", () => {
    assert.throws(() => app.reverse('places', { id: 'a' }), {
      name: 'TypeError',
      message: String.raw`reverse('places'): the param "id" ("a") does not match its regex (^\d+$) in /places/:id(^\d+$)/: the link would lead to no route`,
    });
    assert.throws(() => app.reverse('people', { name: 'name with spaces' }), { name: 'TypeError', message: /the param "name" \("name with spaces"\) does not match its regex/ });
  });

  test("test_no_args_message, test_patterns_reported ('people3' with one of its two params): a missing param is a TypeError naming the route, the param and the pattern", () => {
    assert.throws(() => app.reverse('places'), { name: 'TypeError', message: `reverse('places') needs the param "id" for /places/:id(^\\d+$)/` });
    assert.throws(() => app.reverse('people3', { state: 'il' }), { name: 'TypeError', message: `reverse('people3') needs the param "name" for /people/:state/:name/` });
    assert.throws(() => app.reverse('people3', { name: 'adrian', state: undefined } as never), { name: 'TypeError', message: `reverse('people3') needs the param "state" for /people/:state/:name/` });
  });

  test("test_no_args_message, with a param named as an Object.prototype member: `constructor` left out is missing, not the function every object inherits", async () => {
    // It was 'the param "constructor" must be a string or a finite number, got a function (Object)'.
    assert.throws(() => app.reverse('proto', {}), { name: 'TypeError', message: `reverse('proto') needs the param "constructor" for /proto/:constructor/` });
    await roundTrip('proto', { constructor: 'x' } as never, '/proto/x/', '/proto/:constructor/');
  });

  test("test_illegal_kwargs_message ('places' with {'arg1': 2}): a param the route does not take is a TypeError naming the route, the param and the ones it takes, not dropped", () => {
    // '/places/3/' came back for { id: 3, arg1: 2 }, the typo or the other route's param lost without a word.
    assert.throws(() => app.reverse('places', { id: 3, arg1: 2 }), {
      name: 'TypeError',
      message: `reverse('places'): /places/:id(^\\d+$)/ has no param "arg1"; it takes "id"`,
    });
    assert.throws(() => app.reverse('people3', { state: 'il', name: 'adrian', nmae: 'x' }), { name: 'TypeError', message: `reverse('people3'): /people/:state/:name/ has no param "nmae"; it takes "state", "name"` });
    assert.throws(() => app.reverse('hardcoded2', { page: 2 }), { name: 'TypeError', message: `reverse('hardcoded2'): /hardcoded/doc.pdf has no param "page"; it takes none` });
    // A key left undefined (an optional value spread in) is a param left out, as a missing one is.
    assert.equal(app.reverse('places', { id: 3, arg1: undefined } as never), '/places/3/');
  });

  test('test_view_not_found_message, test_reverse_none: an unknown name is a TypeError naming it and the closest name; a name that is not a string says so', () => {
    assert.throws(() => app.reverse('nonexistent-view'), { name: 'TypeError', message: 'reverse(): no route is named "nonexistent-view"' });
    assert.throws(() => app.reverse('place'), { name: 'TypeError', message: 'reverse(): no route is named "place"; did you mean "places"?' });
    assert.throws(() => app.reverse(null as never), { name: 'TypeError', message: 'reverse(): the route name must be a string, got null' });
    assert.throws(() => app.reverse(undefined as never), { name: 'TypeError', message: 'reverse(): the route name must be a string, got undefined' });
  });

  test("NamespaceTests.test_ambiguous_urlpattern, test_non_existent_namespace: a namespaced name is not found without its namespace, or under another, and the error names the ones meant", () => {
    assert.throws(() => app.reverse('inner-nothing', { outer: 42 }), { name: 'TypeError', message: 'reverse(): no route is named "inner-nothing"; did you mean "inc-ns5:inner-nothing"?' });
    assert.throws(() => app.reverse('blahblah:inner-nothing', { outer: 42 }), { name: 'TypeError', message: 'reverse(): no route is named "blahblah:inner-nothing"; did you mean "inc-ns5:inner-nothing"?' });
    assert.throws(() => app.reverse('inc-normal-view', { arg1: 1, arg2: 2 }), {
      name: 'TypeError',
      message: 'reverse(): no route is named "inc-normal-view"; did you mean "inc-ns1:inc-normal-view" or "inc-ns1:inc-ns4:inc-ns2:inc-normal-view"?',
    });
  });

  test('NamespaceTests.test_namespace_pattern, test_multiple_namespace_pattern, test_nested_namespace_pattern: namespaced and nested names give whole paths that route back', async () => {
    await roundTrip('inc-ns1:inc-normal-view', { arg1: 42, arg2: 37 }, '/ns-included1/normal/42/37/', '/ns-included1/normal/:arg1/:arg2/');
    await roundTrip('inc-ns1:inc-ns4:inc-ns2:inc-normal-view', { arg1: 37, arg2: 42 }, '/ns-included1/ns-included4/ns-included2/normal/37/42/', '/ns-included1/ns-included4/ns-included2/normal/:arg1/:arg2/');
    assert.throws(() => app.reverse('inc-ns1:inc-ns2:inc-normal-view', { arg1: 1, arg2: 2 }), { name: 'TypeError', message: 'reverse(): no route is named "inc-ns1:inc-ns2:inc-normal-view"; did you mean "inc-ns1:inc-normal-view"?' });
  });

  test('NamespaceTests.test_namespaces_with_variables: a param of the include() prefix is filled with the route\'s own', async () => {
    await roundTrip('inc-ns5:inner-nothing', { outer: '70' }, '/inc70', '/inc:outer');
    await roundTrip('inc-ns5:inner-extra', { outer: 78, extra: 'foobar' }, '/inc78/extra/foobar/', '/inc:outer/extra/:extra/');
    assert.throws(() => app.reverse('inc-ns5:inner-extra', { extra: 'foobar' }), { name: 'TypeError', message: `reverse('inc-ns5:inner-extra') needs the param "outer" for /inc:outer/extra/:extra/` });
  });

  test("test_urlpattern_reverse ('windows', 'special' incl. '10% complete'): '/', '?', '#', spaces, '%', '+' and non-ASCII are percent-encoded and route back as given", async () => {
    const cases: [string, string][] = [
      ['some resource', '/special_chars/some%20resource/'],
      ['10% complete', '/special_chars/10%25%20complete/'],
      ['a/b?c#d', '/special_chars/a%2Fb%3Fc%23d/'],
      ['æøå', '/special_chars/%C3%A6%C3%B8%C3%A5/'],
      ['C:\\Documents and Settings\\spam', '/special_chars/C%3A%5CDocuments%20and%20Settings%5Cspam/'],
      ['~@+\\$*|', '/special_chars/~%40%2B%5C%24*%7C/'],
      ['%2F', '/special_chars/%252F/'],
    ];
    for (const [chars, expected] of cases) await roundTrip('special', { chars }, expected, '/special_chars/:chars/');
  });

  test("test_urlpattern_reverse ('special' ['']): an empty param is a TypeError: the link would be another route's", () => {
    assert.throws(() => app.reverse('special', { chars: '' }), { name: 'TypeError', message: `reverse('special'): the param "chars" is empty, and /special_chars/:chars/ matches no empty segment` });
  });

  test("test_urlpattern_reverse ('people6' ['il/test'], 'security'): a * param keeps its slashes, and one starting with '/' never makes a protocol-relative link", async () => {
    await roundTrip('people6', { '*': 'il/test/adrian' }, '/people6/il/test/adrian', '/people6/*');
    await roundTrip('people6', { '*': 'a b/c?d' }, '/people6/a%20b/c%3Fd', '/people6/*');
  });

  test("ConversionExceptionTests.test_reverse_value_error_means_no_match: a value that is neither a string, a finite number nor a bigint (a boolean, a Symbol, a Date, NaN, Infinity), or params that are not an object, is a TypeError naming it, not a crash", () => {
    for (const [id, described] of [[{}, 'a plain object'], [null, 'null'], [Number.NaN, 'number NaN'], [-Infinity, 'number -Infinity'], [false, 'boolean false'], [Symbol('id'), 'Symbol(id)'], [new Date(0), 'an instance of Date']] as const) {
      assert.throws(() => app.reverse('user', { id } as never), { name: 'TypeError', message: `reverse('user'): the param "id" must be a string, a finite number or a bigint, got ${described}` });
    }
    // null crashed: "Cannot read properties of null (reading 'id')"; a string or an array was "needs the param".
    for (const [params, described] of [[null, 'null'], ['7', 'string "7"'], [[7], 'an instance of Array']] as const) {
      assert.throws(() => app.reverse('user', params as never), { name: 'TypeError', message: `reverse('user'): params must be an object of param values (e.g. { id: 7 }), got ${described}` });
    }
  });

  test("test_urlpattern_reverse ('places' with the int 3, here a bigint: Django's reverse() writes an int as str() does): a bigint id, as a database driver returns one, is its decimal digits, as a number is; -0 is '0', as String() writes it; a bigint in a link that routes elsewhere is named in the error, not JSON.stringify's own", async () => {
    await roundTrip('places', { id: 9007199254740993n }, '/places/9007199254740993/', '/places/:id(^\\d+$)/');
    await roundTrip('user', { id: -12n }, '/users/-12', '/users/:id');
    await roundTrip('user', { id: -0 }, '/users/0', '/users/:id');
    assert.throws(() => app.reverse('places', { id: -1n }), { name: 'TypeError', message: String.raw`reverse('places'): the param "id" (-1) does not match its regex (^\d+$) in /places/:id(^\d+$)/: the link would lead to no route` });
    assert.throws(() => app.reverse('headlines', { year: 2007n, month: 5, day: '21.x' }), { name: 'TypeError', message: /^reverse\('headlines'\): the link \/headlines\/2007\.5\.21\.x\/ would lead to its route with the params .*, not to \/headlines\/:year\.:month\.:day\/ with \{"year":"2007","month":5,"day":"21\.x"\}/ });
  });

  test('SimplifiedURLTests.test_allows_non_ascii_but_valid_identifiers (urlpatterns): a param named Δ', async () => {
    await roundTrip('delta', { Δ: 1 }, '/hello/1/', '/hello/:Δ/');
  });

  test("test_urlpattern_reverse ('headlines', 'product'): params side by side fill and route back; a value holding the text between them is a TypeError, not a link that routes back to other params", async () => {
    await roundTrip('headlines', { year: 2007, month: 5, day: 21 }, '/headlines/2007.5.21/', '/headlines/:year.:month.:day/');
    await roundTrip('product', { product: 'chocolate', price: '2.00' }, '/product/chocolate-2.00/', '/product/:product-:price/');
    // '/headlines/2007.5.21.x/' was given for the day '21.x', and routed to { year: '2007.5', month: '21', day: 'x' }.
    assert.throws(() => app.reverse('headlines', { year: 2007, month: 5, day: '21.x' }), {
      name: 'TypeError',
      message: `reverse('headlines'): the link /headlines/2007.5.21.x/ would lead to its route with the params {"year":"2007.5","month":"21","day":"x"}, not to /headlines/:year.:month.:day/ with {"year":2007,"month":5,"day":"21.x"}; a value holds the text that ends its param, or another route takes the link`,
    });
  });

  test("resolve_test_data, reversed: a link another route takes (the user 'new' at /users/new) is a TypeError naming that route, not a link to it", async () => {
    await roundTrip('user', { id: 'newer' }, '/users/newer', '/users/:id');
    assert.throws(() => app.reverse('user', { id: 'new' }), { name: 'TypeError', message: /^reverse\('user'\): the link \/users\/new would lead to view echo \(named "new-user"\) at \/users\/new, not to \/users\/:id with/ });
  });
});
