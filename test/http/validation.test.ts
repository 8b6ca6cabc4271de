import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as v from 'valibot';
import { z } from 'zod';
import { createApp, get, HttpResponse, JsonResponse, post, ValidationError, type MiddlewareHooks, type StandardSchemaV1 } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

interface User {
  name: string;
  admin: boolean;
}

// What an app writes once: every view then reads request.state.account typed.
// (Merging is project-wide: the demo's middleware sets `user`, so this test uses another name.)
declare module 'coda-http' {
  interface RequestState {
    account: User;
  }
}

const Note = z.object({ text: z.string().min(1), tags: z.array(z.string()).max(3).default([]) });
const NoteV = v.object({ text: v.pipe(v.string(), v.minLength(1)), priority: v.optional(v.number(), 0) });

const app = createApp({
  routes: [
    post('/zod', async (request) => {
      const note = await request.json(Note);
      const text: string = note.text; // typed: no cast
      return new JsonResponse({ text, tags: note.tags });
    }),
    post('/valibot', async (request) => {
      const note = await request.json(NoteV);
      const priority: number = note.priority;
      return new JsonResponse({ text: note.text, priority });
    }),
    get('/search', async (request) => {
      const { page, tag } = await request.parseQuery(z.object({ page: z.coerce.number().int().min(1), tag: z.array(z.string()).optional() }));
      return new JsonResponse({ page, tag: tag ?? null });
    }),
    get('/users/:id', async (request) => {
      const { id } = await request.parseParams(v.object({ id: v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number)) }));
      return new JsonResponse({ id });
    }),
    post('/upload', async (request) => {
      const { tag, avatar } = await request.form(z.object({ tag: z.array(z.string()), avatar: z.instanceof(File) }));
      return new JsonResponse({ tag, avatar: { name: avatar.name, type: avatar.type, text: await avatar.text() } });
    }),
    post('/form', async (request) => {
      const form = await request.form(z.object({ name: z.string().min(2), colour: z.enum(['red', 'blue']) }));
      return new JsonResponse(form);
    }),
  ],
});

describe('request.json(schema)', () => {
  const client = createTestClient(app);

  test('zod: the output, defaults applied', async () => {
    const res = await client.post('/zod', { json: { text: 'hi' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { text: 'hi', tags: [] });
  });

  test('valibot: the output, defaults applied', async () => {
    assert.deepEqual(await (await client.post('/valibot', { json: { text: 'hi' } })).json(), { text: 'hi', priority: 0 });
  });

  test('zod: a 400 listing every issue with its path and message (JSON)', async () => {
    const res = await client.post('/zod', { json: { text: '', tags: ['a', 7] }, headers: { accept: 'application/json' } });
    assert.equal(res.status, 400);
    const body = await res.json<{ error: { status: number; message: string; issues: { path: (string | number)[]; message: string }[] } }>();
    assert.equal(body.error.status, 400);
    assert.deepEqual(body.error.issues.map((issue) => issue.path), [['text'], ['tags', 1]]);
    assert.ok(body.error.issues.every((issue) => typeof issue.message === 'string' && issue.message.length > 0));
    assert.match(body.error.message, /^invalid request body: text: .+; tags\.1: .+$/);
  });

  test('valibot: a 400 listing the issues, as text when the client does not ask for JSON', async () => {
    const res = await client.post('/valibot', { json: { priority: 'high' } });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^invalid request body: text: Invalid key: Expected "text" but received undefined; priority: Invalid type: Expected number but received "high"$/);
  });

  test('a body that is not an object is a 400 with an issue at the root', async () => {
    const res = await client.post('/zod', { json: [1, 2], headers: { accept: 'application/json' } });
    assert.equal(res.status, 400);
    const { error } = await res.json<{ error: { issues: { path: unknown[] }[] } }>();
    assert.deepEqual(error.issues[0]!.path, []);
  });

  test('malformed JSON is still the 400 it was, before any schema runs', async () => {
    const res = await client.post('/zod', { body: '{"text":', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.doesNotMatch(await res.text(), /^invalid request body/);
  });

  test('something that is not a Standard Schema is a 500 that says what a schema is (debug)', async () => {
    const debugApp = createApp({ debug: true, routes: [post('/', async (request) => new JsonResponse((await request.json({ parse() {} } as unknown as StandardSchemaV1)) as {}))] });
    await using debugClient = createTestClient(debugApp);
    const res = await debugClient.post('/', { json: {} });
    assert.equal(res.status, 500);
    assert.match(await res.text(), /TypeError: request body: the schema must be a Standard Schema \(zod, valibot, arktype, \.\.\.: an object with a '~standard' property\), got a plain object/);
  });

  test('an async schema (a refinement that awaits) is awaited', async () => {
    const Unique = z.object({ name: z.string() }).refine(async (value) => value.name !== 'taken', { message: 'name is taken', path: ['name'] });
    const asyncApp = createApp({ routes: [post('/', async (request) => new JsonResponse(await request.json(Unique)))] });
    await using asyncClient = createTestClient(asyncApp);
    assert.equal((await asyncClient.post('/', { json: { name: 'free' } })).status, 200);
    const res = await asyncClient.post('/', { json: { name: 'taken' } });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), 'invalid request body: name: name is taken');
  });
});

describe('query, params and form', () => {
  const client = createTestClient(app, { transport: 'socket' });
  after(() => client.close());

  test('parseQuery: coerced, a repeated parameter is an array', async () => {
    assert.deepEqual(await (await client.get('/search?page=2&tag=a&tag=b')).json(), { page: 2, tag: ['a', 'b'] });
  });

  test('parseQuery: a 400 naming the query string and the parameter', async () => {
    const res = await client.get('/search?page=0');
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^invalid query string: page: /);
  });

  test('parseQuery: __proto__ in the query is a plain key, not a prototype', async () => {
    const res = await client.get('/search?page=1&__proto__=x&__proto__=y');
    assert.deepEqual(await res.json(), { page: 1, tag: null });
  });

  test('parseParams: transformed output; a 400 naming the parameter', async () => {
    assert.deepEqual(await (await client.get('/users/42')).json(), { id: 42 });
    const res = await client.get('/users/abc');
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^invalid path parameters: id: /);
  });

  test('form(schema): fields as an object; a 400 listing the issues', async () => {
    const ok = await client.post('/form', { body: 'name=Ann&colour=red', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual(await ok.json(), { name: 'Ann', colour: 'red' });
    const bad = await client.post('/form', { body: 'name=A&colour=green', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' } });
    assert.equal(bad.status, 400);
    const { error } = await bad.json<{ error: { issues: { path: string[] }[] } }>();
    assert.deepEqual(error.issues.map((issue) => issue.path), [['name'], ['colour']]);
  });
});

describe('form(schema), multipart over a socket', () => {
  const client = createTestClient(app, { transport: 'socket' });
  after(() => client.close());

  test('a field given twice is an array, a file a File; given once, the array schema refuses the string', async () => {
    const form = new FormData();
    form.append('tag', 'a');
    form.append('tag', 'b');
    form.append('avatar', new File(['hello'], 'me.txt', { type: 'text/plain' }));
    assert.deepEqual(await (await client.post('/upload', { form })).json(), { tag: ['a', 'b'], avatar: { name: 'me.txt', type: 'text/plain', text: 'hello' } });
    const once = new FormData();
    once.append('tag', 'a');
    once.append('avatar', 'not a file');
    const res = await client.post('/upload', { form: once, headers: { accept: 'application/json' } });
    assert.equal(res.status, 400);
    const { error } = await res.json<{ error: { issues: { path: string[] }[] } }>();
    assert.deepEqual(error.issues.map((issue) => issue.path), [['tag'], ['avatar']]);
  });
});

describe('ValidationError', () => {
  test('a body failing everywhere (1 MB, 500,000 issues) is a 400 listing the first 100 and counting the rest: it was a 67 MB JSON answer, 28 MB as text', async () => {
    const body = `[${Array(500_000).fill('0').join(',')}]`;
    const big = createApp({ routes: [post('/', async (request) => new JsonResponse(await request.json(z.array(z.string()))))] });
    for (const accept of ['application/json', 'text/plain']) {
      const res = await big.fetch(new Request('http://localhost/', { method: 'POST', headers: { 'content-type': 'application/json', accept }, body }));
      assert.equal(res.status, 400);
      const text = await res.text();
      assert.ok(text.length < 20_000, `${accept}: ${text.length} bytes`);
      assert.match(text, /^(?:\{"error":\{"status":400,"message":")?invalid request body: 0: [^;]+(?:; \d+: [^;]+){99}; and 499,900 more issues/, accept);
      if (accept === 'application/json') {
        const { error } = JSON.parse(text) as { error: { issues: { path: number[] }[] } };
        assert.deepEqual(error.issues.map((issue) => issue.path[0]), Array.from({ length: 100 }, (_, i) => i));
      }
    }
  });

  test('is a BadRequest with the issues', () => {
    const error = new ValidationError('request body', [{ path: ['a', 0], message: 'bad' }, { path: [], message: 'worse' }]);
    assert.equal(error.status, 400);
    assert.equal(error.message, 'invalid request body: a.0: bad; worse');
    assert.deepEqual(error.issues, [{ path: ['a', 0], message: 'bad' }, { path: [], message: 'worse' }]);
  });
});

describe('typed request.state', () => {
  test('a middleware sets the user, a view reads it typed, without a cast', async () => {
    const auth: MiddlewareHooks = {
      processRequest(request) {
        request.state.account = { name: 'ann', admin: true };
      },
    };
    const typedApp = createApp({
      middleware: [auth],
      routes: [get('/me', (request) => {
        const name: string = request.state.account.name;
        const admin: boolean = request.state.account.admin;
        return new HttpResponse(`${name} ${admin}`);
      })],
    });
    await using client = createTestClient(typedApp);
    assert.equal(await (await client.get('/me')).text(), 'ann true');
  });
});
