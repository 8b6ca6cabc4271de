// processException when the hook itself goes wrong (middleware.md R5, R6,
// "Differences from Django": an error thrown by processException is converted
// like any other), each with a hook answering at once and through a promise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, PermissionDenied, type MiddlewareHooks } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger } from '../helpers.js';

const modes = {
  'at once': <T>(value: () => T): T => value(),
  'through a promise': async <T>(value: () => T): Promise<T> => {
    await null;
    return value();
  },
};

/** [outer, failing]: the outer middleware records its processException and processResponse calls. */
function setup(failing: MiddlewareHooks) {
  const events: string[] = [];
  const outer: MiddlewareHooks = {
    name: 'outer',
    processException: () => void events.push('outer.processException'),
    processResponse: (_request, response) => (events.push(`outer.processResponse ${response.status}`), response),
  };
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    middleware: [outer, failing],
    routes: [get('/', function saveNote() {
      throw new RangeError('disk full');
    })],
  });
  return { client: createTestClient(app), events, errors: () => lines.filter((l) => l.level >= LEVEL.error).map((l) => l.msg) };
}

for (const [mode, wrap] of Object.entries(modes)) {
  test(`a processException that throws (${mode}): the outer processException hooks are not called, and its error's response goes out through every processResponse`, async () => {
    const events: string[] = [];
    const { client, events: outerEvents } = setup({
      name: 'handler',
      processException: () => wrap(() => {
        events.push('handler.processException');
        throw new PermissionDenied('handler refused');
      }),
      processResponse: (_request, response) => (events.push(`handler.processResponse ${response.status}`), response),
    });
    const res = await client.get('/');
    assert.equal(res.status, 403);
    assert.equal(await res.text(), 'handler refused');
    assert.deepEqual(events, ['handler.processException', 'handler.processResponse 403']);
    assert.deepEqual(outerEvents, ['outer.processResponse 403']);
  });

  test(`a processException returning something that is not a response (${mode}): a 500 naming the hook and the view error it was handling; the outer hooks are not called`, async () => {
    const { client, events, errors } = setup({ name: 'handler', processException: () => wrap(() => true as never) });
    const res = await client.get('/');
    assert.equal(res.status, 500);
    assert.deepEqual(events, ['outer.processResponse 500']);
    assert.deepEqual(errors(), ['middleware handler processException returned boolean true, expected a response, handling the error of view saveNote (disk full)']);
  });
}

test('a processException answering with a Web Response: it is used, goes out through the outer processResponse, and nothing is logged', async () => {
  const { client, events, errors } = setup({ processException: () => new Response('handled', { status: 409 }) });
  const res = await client.get('/');
  assert.equal(res.status, 409);
  assert.equal(await res.text(), 'handled');
  assert.deepEqual(events, ['outer.processResponse 409']);
  assert.deepEqual(errors(), []);
});
