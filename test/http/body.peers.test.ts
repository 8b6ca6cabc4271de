// Request bodies' content types as Fastify tests its parsers (test/content-parser.test.js,
// test/content-type.test.js, test/custom-parser.1.test.js, and the body tests
// test/helper.js runs for each method, test/delete.test.js), over a real socket.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, JsonResponse, post, route, type View } from 'coda-http';
import { memoryLogger, rawRequest, serveForSuite } from '../helpers.js';

describe("json()'s Content-Type, as Fastify tests its parsers", () => {
  const app = createApp({ logger: memoryLogger().logger, routes: [post('/json', async (request) => new JsonResponse(await request.json()))] });

  const suite = serveForSuite(app);

  async function withType(type: string): Promise<number> {
    const response = await fetch(`${suite.server.url}/json`, { method: 'POST', headers: { 'content-type': type }, body: '{"hello":"world"}' });
    await response.text();
    return response.status;
  }

  test("'The charset should not interfere with the content type handling', and media types are case-insensitive", async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;Charset=UTF-8', 'application/vnd.api+json', 'application/merge-patch+json', 'application/a+b+json']) {
      assert.equal(await withType(type), 200, type);
    }
  });

  test("'Safeguard against malicious content-type' and 'content-type spoofing': an Object.prototype name, or JSON named in a parameter, is not JSON (415)", async () => {
    for (const type of ['constructor', '__proto__', 'constructor; charset=utf-8', 'text/plain; content-type="application/json"']) {
      assert.equal(await withType(type), 415, type);
    }
  });

  test("'indicates media type is not correct format': a subtype that is not one token is not JSON (415), a +json suffix with no name before it neither", async () => {
    for (const type of ['application/json/extra/slashes', 'application/json(garbage)', 'application/json whatever', 'application/json@evil', 'application/foo bar+json', 'application/x/y+json', 'application/<script>+json', 'application/+json']) {
      assert.equal(await withType(type), 415, type);
    }
  });
});

describe("json() on any method, and what is not JSON, as Fastify's parser tests have it", () => {
  /** The body read as JSON, or the error json() threw, with its status. */
  const readJson: View = async (request) => {
    try {
      return new JsonResponse({ body: await request.json() });
    } catch (error) {
      const { status, message } = error as { status: number; message: string };
      return new JsonResponse({ error: message }, { status });
    }
  };
  const app = createApp({ logger: memoryLogger().logger, routes: [route(['GET', 'POST', 'DELETE', 'OPTIONS'], '/json', readJson)] });
  const suite = serveForSuite(app);

  /** One request over a new connection: its status and body. */
  async function send(method: string, headers: string[], body = ''): Promise<[number, unknown]> {
    const head = [`${method} /json HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headers, `Content-Length: ${Buffer.byteLength(body)}`];
    const response = await rawRequest(suite.server, `${head.join('\r\n')}\r\n\r\n${body}`);
    return [response.status, JSON.parse(response.body.toString())];
  }

  test("delete.test.js 'shorthand - delete with body', and helper.js's '… - correctly replies' run for OPTIONS and DELETE: a JSON body on DELETE, OPTIONS, and GET too, is read", async () => {
    for (const method of ['GET', 'DELETE', 'OPTIONS']) {
      assert.deepEqual(await send(method, ['Content-Type: application/json'], '{"hello":"world"}'), [200, { body: { hello: 'world' } }], method);
    }
  });

  test("helper.js '… should fail with empty body and application/json content-type' (FST_ERR_CTP_EMPTY_JSON_BODY): an empty or blank JSON body is a 400 saying so, on POST and DELETE alike", async () => {
    for (const [method, body] of [['POST', ''], ['POST', ' \r\n '], ['DELETE', '']] as const) {
      assert.deepEqual(await send(method, ['Content-Type: application/json'], body), [400, { error: 'empty JSON body: the Content-Type is JSON but the body has nothing to parse' }], `${method} ${JSON.stringify(body)}`);
    }
  });

  test("helper.js '… returns 415 - incorrect media type if body is not json', content-parser.test.js 'Error thrown 415 from content type is null …': another type, none, or a name JSON only begins is a 415 naming it; a Content-Type with parameters but no media type is a 415 that shows what was sent (it said \"got none\")", async () => {
    const cases: [string[], string][] = [
      [['Content-Type: application/x-unknown'], 'got application/x-unknown'],
      [['Content-Type: application/jsonx'], 'got application/jsonx'],
      [['Content-Type: text/json'], 'got text/json'],
      [[], 'got none'],
      [['Content-Type: '], 'got none'],
      [['Content-Type: ; charset=utf-8'], 'got "; charset=utf-8", which names no media type'],
    ];
    for (const [headers, got] of cases) {
      assert.deepEqual(await send('POST', headers, '{"hello":"world"}'), [415, { error: `json() expects Content-Type application/json, ${got}` }], headers.join());
    }
  });
});
