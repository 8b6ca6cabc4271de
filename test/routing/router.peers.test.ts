// Routing cases from Fastify's own suite (test/404s.test.js, test/router-options.test.js),
// over a real socket. Each test names its source.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, JsonResponse } from 'coda-http';
import { memoryLogger, serveForSuite } from '../helpers.js';

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
