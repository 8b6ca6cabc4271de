import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, ResponseHeaders, type Server } from 'coda-http';
import { memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';

describe('ResponseHeaders', () => {
  test('names are case-insensitive for get, has, set and delete', () => {
    const headers = new ResponseHeaders();
    headers.set('Content-Type', 'text/html');
    assert.equal(headers.get('content-type'), 'text/html');
    assert.equal(headers.get('CONTENT-TYPE'), 'text/html');
    assert.ok(headers.has('cOnTeNt-TyPe'));
    headers.set('CONTENT-TYPE', 'text/plain');
    assert.equal(headers.get('Content-Type'), 'text/plain');
    assert.deepEqual([...headers], [['content-type', 'text/plain']]);
    headers.delete('Content-type');
    assert.equal(headers.has('content-type'), false);
    assert.equal(headers.get('content-type'), null);
  });

  test('append adds a value; get joins them, set replaces them', () => {
    const headers = new ResponseHeaders();
    headers.append('Vary', 'Accept');
    headers.append('vary', 'Accept-Encoding');
    assert.equal(headers.get('vary'), 'Accept, Accept-Encoding');
    assert.deepEqual([...headers], [['vary', 'Accept, Accept-Encoding']]);
    headers.set('vary', 'Origin');
    assert.equal(headers.get('vary'), 'Origin');
  });

  test('Set-Cookie values are kept apart', () => {
    const headers = new ResponseHeaders();
    headers.append('Set-Cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT');
    assert.deepEqual(headers.getSetCookie(), ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT']);
    assert.deepEqual([...headers], [
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT'],
    ]);
    assert.deepEqual(new ResponseHeaders().getSetCookie(), []);
  });

  test('can be built from a record, from pairs, or copied from other headers', () => {
    const fromRecord = new ResponseHeaders({ 'X-Count': 3, 'Set-Cookie': ['a=1', 'b=2'] });
    assert.equal(fromRecord.get('x-count'), '3');
    assert.deepEqual(fromRecord.getSetCookie(), ['a=1', 'b=2']);
    const fromPairs = new ResponseHeaders([['Set-Cookie', 'a=1'], ['set-cookie', 'b=2']]);
    assert.deepEqual(fromPairs.getSetCookie(), ['a=1', 'b=2']);
    const copy = new ResponseHeaders(fromRecord);
    copy.append('set-cookie', 'c=3');
    assert.deepEqual(copy.getSetCookie(), ['a=1', 'b=2', 'c=3']);
    assert.deepEqual(fromRecord.getSetCookie(), ['a=1', 'b=2'], 'the copy is independent');
  });

  for (const [what, bad] of [['CR', 'a\rb'], ['LF', 'a\nb'], ['CRLF', 'ok\r\nX-Injected: yes'], ['NUL', 'a\0b']] as const) {
    test(`a value with ${what} is rejected when set, with a TypeError naming the header`, () => {
      const headers = new ResponseHeaders();
      const expected = { name: 'TypeError', message: /header X-Custom .*CR, LF or NUL/ };
      assert.throws(() => headers.set('X-Custom', bad), expected);
      assert.throws(() => headers.append('X-Custom', bad), expected);
      assert.throws(() => new ResponseHeaders({ 'X-Custom': bad }), expected);
      assert.throws(() => new HttpResponse('x', { headers: [['X-Custom', bad]] }), expected);
      assert.equal(headers.has('x-custom'), false);
    });
  }

  test('other characters Node cannot send in a value are rejected when set too', () => {
    const headers = new ResponseHeaders();
    for (const bad of ['a\u0001b', 'a\u007fb', 'arrow \u2192', 'emoji \u{1f600}']) {
      assert.throws(() => headers.set('X-Custom', bad), { name: 'TypeError', message: /header X-Custom/ }, JSON.stringify(bad));
    }
    // Tabs, and Latin-1 bytes, are legal in a field value.
    headers.set('x-tab', 'a\tb');
    headers.set('x-latin1', 'caf\u00e9');
    assert.equal(headers.get('x-latin1'), 'caf\u00e9');
  });

  test('a character beyond Latin-1 (a download\'s non-ASCII name) is refused saying how to carry it: percent-encoded UTF-8, RFC 8187\'s filename*', () => {
    const headers = new ResponseHeaders();
    assert.throws(() => headers.set('Content-Disposition', 'attachment; filename="\u65e5\u672c.pdf"'), {
      name: 'TypeError',
      message: `header Content-Disposition has a character beyond Latin-1 in its value (U+65E5), which a header cannot carry: percent-encode such text as UTF-8 (U+65E5 is %E6%97%A5), as RFC 8187 has it, e.g. a download's name as Content-Disposition: attachment; filename*=UTF-8''…: "attachment; filename=\\"\u65e5\u672c.pdf\\""`,
    });
    assert.throws(() => headers.set('x-mood', 'emoji \u{1f600}'), { message: /\(U\+1F600\), .* \(U\+1F600 is %F0%9F%98%80\)/ });
    headers.set('Content-Disposition', `attachment; filename="nihon.pdf"; filename*=UTF-8''${encodeURIComponent('\u65e5\u672c.pdf')}`);
    assert.equal(headers.get('content-disposition'), 'attachment; filename="nihon.pdf"; filename*=UTF-8\'\'%E6%97%A5%E6%9C%AC.pdf');
  });

  test('a value that is not a string is rejected', () => {
    assert.throws(() => new ResponseHeaders().set('x-n', 5 as unknown as string), { name: 'TypeError', message: /header x-n must be a string/ });
  });

  test('invalid header names are rejected', () => {
    const headers = new ResponseHeaders();
    for (const bad of ['', 'has space', 'colon:', 'caf\u00e9', 'new\nline', '(paren)']) {
      assert.throws(() => headers.set(bad, 'v'), { name: 'TypeError', message: /invalid header name/ }, JSON.stringify(bad));
      assert.throws(() => headers.append(bad, 'v'), TypeError);
    }
  });
});

describe('headers on the wire', () => {
  const { logger, lines } = memoryLogger();
  let server: Server;
  before(async () => {
    const app = createApp({
      logger,
      routes: [
        get('/cookies', () => {
          const response = new HttpResponse('ok');
          response.headers.append('Set-Cookie', 'a=1; Path=/');
          response.headers.append('Set-Cookie', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT');
          return response;
        }),
        get('/inject', function injectHeader(request) {
          const response = new HttpResponse('ok');
          response.headers.set('X-Echo', request.query.get('v') ?? '');
          return response;
        }),
        get('/ok', () => new HttpResponse('ok')),
      ],
    });
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('several Set-Cookie headers arrive as separate header lines', async () => {
    const response = await rawRequest(server, rawGet('/cookies'));
    assert.equal(response.status, 200);
    const cookies = response.headerList.filter(([name]) => name === 'set-cookie').map(([, value]) => value);
    assert.deepEqual(cookies, ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT']);

    const fetched = await fetch(server.url + '/cookies');
    assert.deepEqual(fetched.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT']);
    await fetched.arrayBuffer();
  });

  test('a view that puts CRLF in a header gets a 500, never a split response', async () => {
    const value = encodeURIComponent('x\r\nX-Injected: yes\r\n\r\nHTTP/1.1 200 OK');
    const response = await rawRequest(server, rawGet(`/inject?v=${value}`));
    assert.equal(response.status, 500);
    assert.equal(response.body.toString(), 'Internal Server Error');
    assert.ok(!response.headerList.some(([name]) => name === 'x-injected' || name === 'x-echo'));
    assert.equal(response.raw.toString('latin1').split('HTTP/1.1').length, 2, 'exactly one response');
    const logged = lines.find((line) => line.level === 50 && /X-Echo/.test(JSON.stringify(line.err)));
    assert.ok(logged, 'the TypeError naming the header is logged');
  });

  test('a view that puts a character Node refuses in a header gets a 500, not a dropped connection', async () => {
    const response = await rawRequest(server, rawGet(`/inject?v=${encodeURIComponent('\u2192')}`));
    assert.equal(response.status, 500);
    assert.ok(!response.headerList.some(([name]) => name === 'x-echo'));
  });

  test('the server still answers afterwards', async () => {
    const response = await fetch(server.url + '/ok');
    assert.equal(await response.text(), 'ok');
  });
});
