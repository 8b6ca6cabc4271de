// An app answers its own errors in Coda's shape by throwing an HttpError: a
// status Coda has no class for (409, 422, 429), from a view or a middleware,
// renders as Coda's own errors do, over a real socket: `{ "error": { status,
// message } }` to a client that takes JSON, the message as text otherwise,
// with the status and any headers given.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createApp, get, HttpError, JsonResponse, type Middleware } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

/** An app's own error class: a 409 naming what it conflicts with. */
class Conflict extends HttpError {
  constructor(message: string) {
    super(409, message);
  }
}

/** A rate limit, refusing a request that carries `x-over-limit` before any view, as an app's middleware does. */
const rateLimit: Middleware = {
  processRequest(request) {
    if (request.headers.get('x-over-limit') !== null) throw new HttpError(429, 'too many requests: 100 a minute', { 'retry-after': '30' });
    return undefined;
  },
};

const app = createApp({
  middleware: [rateLimit],
  routes: [
    get('/orders/:id', (request) => {
      if (request.params.id === 'taken') throw new Conflict('order taken is paid already');
      if (request.params.id === 'bad') throw new HttpError(422, 'the order has no lines');
      if (request.params.id === 'busy') throw new HttpError(429);
      return new JsonResponse({ id: request.params.id });
    }),
  ],
});

describe('an HttpError of a status Coda has no class for renders in Coda\'s own shape', () => {
  const client = createTestClient(app, { transport: 'socket' });
  after(() => client.close());
  const JSON_ACCEPT = { accept: 'application/json' };

  test('409 from a subclass thrown in a view: its status and message, as JSON to a client that takes it, as text otherwise', async () => {
    const json = await client.get('/orders/taken', { headers: JSON_ACCEPT });
    assert.equal(json.status, 409);
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await json.json(), { error: { status: 409, message: 'order taken is paid already' } });
    const text = await client.get('/orders/taken');
    assert.equal(text.status, 409);
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await text.text(), 'order taken is paid already');
  });

  test('422 from new HttpError() in a view', async () => {
    const answer = await client.get('/orders/bad', { headers: JSON_ACCEPT });
    assert.equal(answer.status, 422);
    assert.deepEqual(await answer.json(), { error: { status: 422, message: 'the order has no lines' } });
  });

  test('without a message, the status\'s reason phrase is the message (it was "HTTP 429")', async () => {
    const answer = await client.get('/orders/busy', { headers: JSON_ACCEPT });
    assert.equal(answer.status, 429);
    assert.deepEqual(await answer.json(), { error: { status: 429, message: 'Too Many Requests' } });
  });

  test('429 from a middleware, with the Retry-After it was given', async () => {
    const answer = await client.get('/orders/1', { headers: { ...JSON_ACCEPT, 'x-over-limit': '1' } });
    assert.equal(answer.status, 429);
    assert.equal(answer.headers.get('retry-after'), '30');
    assert.deepEqual(await answer.json(), { error: { status: 429, message: 'too many requests: 100 a minute' } });
    const through = await client.get('/orders/1', { headers: JSON_ACCEPT });
    assert.deepEqual([through.status, await through.json()], [200, { id: '1' }]);
  });
});
