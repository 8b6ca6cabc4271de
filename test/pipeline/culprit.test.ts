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

test('an error in processView or processException is logged naming the hook, and the view error it was handling', async () => {
  const { logger, lines } = memoryLogger();
  const guard: MiddlewareHooks = {
    name: 'guard',
    processView(request) {
      if (request.path === '/guarded') throw new TypeError('guard broke');
      return request.path === '/guarded-async' ? Promise.reject(new TypeError('guard broke later')) : undefined;
    },
  };
  const handler: MiddlewareHooks = {
    name: 'handler',
    processException(request, error) {
      if (request.path === '/rethrown') throw error;
      throw new TypeError('handler broke');
    },
  };
  const app = createApp({
    logger,
    middleware: [guard, handler],
    routes: [
      get('/guarded', () => new JsonResponse({})),
      get('/guarded-async', () => new JsonResponse({})),
      get('/failing', function saveNote() { throw new RangeError('disk full'); }),
      get('/rethrown', function saveNote() { throw new RangeError('disk full'); }),
    ],
  });
  const client = createTestClient(app);
  for (const path of ['/guarded', '/guarded-async', '/failing', '/rethrown']) assert.equal((await client.get(path)).status, 500);
  assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => l.msg), [
    'unhandled error in middleware guard processView: guard broke',
    'unhandled error in middleware guard processView: guard broke later',
    'unhandled error in middleware handler processException, handling the error of view saveNote (disk full): handler broke',
    'unhandled error in view saveNote: disk full',
  ]);
});

test('a view that throws a value String() throws on (an object without a prototype, a toString that throws) is logged naming the view and the value, and answered 500, its stack-less text in debug mode: the log blamed the view stage with a TypeError of Coda\'s own', async () => {
  const bare = (): object => Object.assign(Object.create(null) as object, { code: 42 });
  const routes = [
    get('/bare', function lookUp() { throw bare(); }),
    get('/unprintable', function render() { throw { toString(): string { throw new Error('no text'); } }; }),
    get('/handled', function charge() { throw bare(); }),
  ];
  const handler: MiddlewareHooks = { name: 'handler', processException(request, error) { if (request.path === '/handled') throw error; } };
  for (const debug of [false, true]) {
    const { logger, lines } = memoryLogger();
    const client = createTestClient(createApp({ logger, debug, middleware: [handler], routes }));
    const bodies: string[] = [];
    for (const path of ['/bare', '/unprintable', '/handled']) {
      const response = await client.get(path);
      assert.equal(response.status, 500, path);
      bodies.push(await response.text());
    }
    assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => l.msg), [
      'unhandled error in view lookUp: [Object: null prototype] { code: 42 }',
      'unhandled error in view render: { toString: [Function: toString] }',
      'unhandled error in view charge: [Object: null prototype] { code: 42 }',
    ], `debug ${debug}`);
    assert.deepEqual(bodies, debug
      ? ['[Object: null prototype] { code: 42 }', '{ toString: [Function: toString] }', '[Object: null prototype] { code: 42 }']
      : ['Internal Server Error', 'Internal Server Error', 'Internal Server Error']);
  }
});

test("a 500 whose error's message says its cause's already says it once in its line's err, its cause's stack kept; the error keeps its cause (pino's err serializer appended the cause's message: 'db failed: connect ECONNREFUSED …: connect ECONNREFUSED …')", async () => {
  const { logger, lines } = memoryLogger();
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const thrown = new Error(`db failed: ${refused.message}`, { cause: refused });
  let caught: unknown;
  const app = createApp({
    logger,
    middleware: [{ name: 'catcher', processException(_request, error) { caught = error; return undefined; } }],
    routes: [get('/db', function loadRows() { throw thrown; })],
  });
  assert.equal((await createTestClient(app).get('/db')).status, 500);
  const line = lines.find((l) => l.level === 50)!;
  const err = line['err'] as { type: string; message: string; stack: string };
  assert.equal(line.msg, 'unhandled error in view loadRows: db failed: connect ECONNREFUSED 127.0.0.1:5432');
  assert.deepEqual([err.type, err.message], ['Error', 'db failed: connect ECONNREFUSED 127.0.0.1:5432']);
  assert.match(err.stack, /\ncaused by: Error: connect ECONNREFUSED 127\.0\.0\.1:5432\n/);
  assert.equal(caught, thrown);
  assert.equal(thrown.cause, refused);
});
