// Request bodies' content types as Fastify tests its parsers (test/content-parser.test.js,
// test/content-type.test.js, test/custom-parser.1.test.js), over a real socket.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, JsonResponse, post } from 'coda-http';
import { memoryLogger, serveForSuite } from '../helpers.js';

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
