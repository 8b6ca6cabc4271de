import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, JsonResponse, type MiddlewareHooks } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger } from '../helpers.js';

test('a runtime error in a view or a hook is logged naming the code it came from', async () => {
  const { logger, lines } = memoryLogger();
  const brokenHook: MiddlewareHooks = { name: 'tagger', processResponse() { throw new TypeError('tags broke'); } };
  const app = createApp({
    logger,
    middleware: [brokenHook],
    routes: [
      get('/note', function showNote() { return new JsonResponse(undefined as never); }),
      get('/async', async function listNotes() { await null; throw new RangeError('page out of range'); }),
    ],
  });
  const client = createTestClient(app);
  assert.equal((await client.get('/note')).status, 500);
  assert.equal((await client.get('/async')).status, 500);
  const messages = lines.filter((l) => l.level === 50).map((l) => l.msg);
  assert.deepEqual(messages, [
    'unhandled error in view showNote: JsonResponse cannot encode undefined as JSON',
    'unhandled error in middleware tagger processResponse: tags broke',
    'unhandled error in view listNotes: page out of range',
    'unhandled error in middleware tagger processResponse: tags broke',
  ]);
});
