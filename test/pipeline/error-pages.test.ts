import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BadRequest, createApp, get, HttpError, HttpResponse, include, JsonResponse, PermissionDenied, post, redirect, type HttpRequest, type MiddlewareHooks,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { assertAnswer, LEVEL, memoryLogger } from '../helpers.js';

const html = (text: string) => new HttpResponse(`<h1>${text}</h1>`, { headers: { 'content-type': 'text/html; charset=utf-8' } });

describe('errorPages', () => {
  const pages = {
    400: (_request: HttpRequest, error: HttpError) => html(`bad: ${error.message}`),
    403: (_request: HttpRequest, error: HttpError) => html(`forbidden: ${error.message}`),
    404: async (request: HttpRequest) => html(`nothing at ${request.path}`),
    405: (_request: HttpRequest, error: HttpError) => html(`not with ${error.headers.allow}`),
    500: (_request: HttpRequest, error: unknown) => html(`sorry (${(error as Error).message})`),
  };
  const app = createApp({
    errorPages: pages,
    logger: memoryLogger().logger,
    routes: [
      post('/notes', () => new HttpResponse('made')),
      get('/secret', () => { throw new PermissionDenied('staff only'); }),
      get('/broken', () => { throw new Error('database down'); }),
      get('/bad', () => { throw new BadRequest('page must be a number'); }),
    ],
  });

  test('used for routing errors: 404 for no route, 405 (with Allow) for a wrong method, 400 for a broken path', async () => {
    const client = createTestClient(app, { transport: 'socket' });
    try {
      await assertAnswer(await client.get('/nowhere'), { status: 404, headers: { 'content-type': 'text/html; charset=utf-8' }, text: '<h1>nothing at /nowhere</h1>' });
      await assertAnswer(await client.get('/notes'), { status: 405, headers: { allow: 'POST, OPTIONS' }, text: '<h1>not with POST, OPTIONS</h1>' });
      await assertAnswer(await client.get('/no%zzpe'), { status: 400, text: '<h1>bad: invalid percent-encoding in path "/no%zzpe"</h1>' });
    } finally {
      await client.close();
    }
  });

  test("used for errors views throw: the page gets the error, and the response the error's status", async () => {
    const client = createTestClient(app);
    const denied = await client.get('/secret');
    assert.equal(denied.status, 403);
    assert.equal(await denied.text(), '<h1>forbidden: staff only</h1>');
    const failed = await client.get('/broken');
    assert.equal(failed.status, 500);
    assert.equal(await failed.text(), '<h1>sorry (database down)</h1>');
    const bad = await client.get('/bad');
    assert.equal(bad.status, 400);
    assert.equal(await bad.text(), '<h1>bad: page must be a number</h1>');
  });

  test('a status the page sets is kept (a redirect to a search page, say); statuses without a page keep the built-in JSON or text', async () => {
    const partial = createApp({
      errorPages: { 404: () => redirect('/search', 302) },
      routes: [get('/gone', () => { throw new HttpError(410, 'gone for good'); })],
    });
    const client = createTestClient(partial);
    const moved = await client.get('/old');
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.get('location'), '/search');
    const gone = await client.get('/gone', { headers: { accept: 'application/json' } });
    assert.equal(gone.status, 410);
    assert.deepEqual(await gone.json(), { error: { status: 410, message: 'gone for good' } });
  });

  test('a page that throws, rejects or returns no response: logged, and the built-in response (JSON or text by Accept) sent', async () => {
    const { logger, lines } = memoryLogger();
    const failing = createApp({
      logger,
      errorPages: {
        404: () => { throw new Error('template missing'); },
        405: async () => { throw new Error('async template missing'); },
        500: (() => 'oops') as never,
      },
      routes: [post('/notes', () => new HttpResponse('made')), get('/boom', () => { throw new Error('view failed'); })],
    });
    const client = createTestClient(failing);
    const missing = await client.get('/nowhere', { headers: { accept: 'application/json' } });
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: { status: 404, message: 'no route for GET /nowhere' } });
    const wrong = await client.get('/notes');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST, OPTIONS');
    assert.equal(await wrong.text(), 'method GET is not allowed for /notes; allowed: POST, OPTIONS');
    const boom = await client.get('/boom');
    assert.equal(boom.status, 500);
    assert.equal(await boom.text(), 'Internal Server Error');
    const errors = lines.filter((line) => line.level === LEVEL.error).map((line) => line.msg);
    assert.deepEqual(errors, [
      'error page 404 failed: template missing; sent the built-in response',
      'error page 405 failed: async template missing; sent the built-in response',
      'unhandled error in view for /boom: view failed',
      'error page 500 failed: error page 500 returned string "oops", expected a response (for text, return new HttpResponse(value)); sent the built-in response',
    ]);
  });

  test("errors from middleware, groups' middleware and processResponse are answered by the pages too", async () => {
    const guard: MiddlewareHooks = { processRequest() { throw new PermissionDenied('group guard'); } };
    const stamp: MiddlewareHooks = {
      processResponse(request, response) {
        if (request.path === '/stamp') throw new Error('stamp failed');
        return response;
      },
    };
    const layered = createApp({
      errorPages: { 403: (_r, error) => new JsonResponse({ page: 403, why: error.message }), 500: async () => html('sorry') },
      logger: memoryLogger().logger,
      middleware: [stamp],
      routes: [include('/admin', [get('/', () => new HttpResponse('admin'))], { middleware: [guard] }), get('/stamp', () => new HttpResponse('ok'))],
    });
    const client = createTestClient(layered);
    const denied = await client.get('/admin');
    assert.equal(denied.status, 403);
    assert.deepEqual(await denied.json(), { page: 403, why: 'group guard' });
    const stamped = await client.get('/stamp');
    assert.equal(stamped.status, 500);
    assert.equal(await stamped.text(), '<h1>sorry</h1>');
  });

  test('bad pages are refused at createApp', () => {
    assert.throws(() => createApp({ errorPages: { 418: () => html('teapot') } as never }), /createApp\(\) errorPages: no page for "418"; pages are for 400, 403, 404, 405, 500/);
    assert.throws(() => createApp({ errorPages: { 404: '<h1>missing</h1>' } as never }), /createApp\(\) errorPages: 404 must be a view function, got string/);
    assert.throws(() => createApp({ errorPages: [] } as never), /errorPages must be an object of views by status, got an instance of Array/);
    assert.throws(() => createApp({ errorPage: {} } as never), /unknown option "errorPage"; did you mean "errorPages"\?/);
  });
});
