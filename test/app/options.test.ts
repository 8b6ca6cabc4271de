import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger } from '../helpers.js';

const ok = get('/', () => new HttpResponse('ok'));

test('createApp() refuses an unknown option, naming it and the option it probably meant', () => {
  assert.throws(() => createApp({ route: [ok] } as never), /createApp\(\): unknown option "route"; did you mean "routes"\?/);
  assert.throws(() => createApp({ middlewares: [] } as never), /unknown option "middlewares"; did you mean "middleware"\?/);
  assert.throws(() => createApp({ after: { timeout: 5 } } as never), /createApp\(\) after: unknown option "timeout"; did you mean "timeoutMs"\?/);
  assert.throws(() => createApp({ after: { max_pending: 5 } } as never), /did you mean "maxPending"\?/);
  assert.throws(() => createApp({ colour: 'blue' } as never), /unknown option "colour"; the options are routes, middleware/);
});

test('createApp() refuses options of the wrong kind, naming what it got', () => {
  assert.throws(() => createApp({ routes: ok } as never), /createApp\(\): routes must be an array, got a plain object/);
  assert.throws(() => createApp({ debug: 'yes' } as never), /debug must be true or false, got string "yes"/);
  assert.throws(() => createApp({ logger: console } as never), /logger must be a pino logger \(or have its methods\); it lacks child/);
  assert.throws(() => createApp({ routes: [{ path: '/', view: () => new HttpResponse('') }] } as never), /routes\[0\] is not a route, got a plain object: build routes with get\(\)/);
  assert.throws(() => get('/', () => new HttpResponse(''), { nmae: 'home' } as never), /route \/: unknown option "nmae"; did you mean "name"\?/);
  assert.throws(() => createApp(null as never), /createApp\(\) takes an options object, got null/);
});

test('a middleware class passed instead of an instance is refused, saying to pass an instance', () => {
  class Auth { processRequest(): void {} }
  assert.throws(() => createApp({ middleware: [Auth as never] }), /middleware Auth is a class: pass an instance \(new Auth\(\)\), or a factory function/);
  class Empty {}
  assert.throws(() => createApp({ middleware: [Empty as never] }), /middleware Empty is a class/);
});

test("a hooks middleware with Django's or a misspelt hook name is refused with the right name", () => {
  assert.throws(() => createApp({ middleware: [{ process_request() {} } as never] }), /middleware middleware\[0\] has a method "process_request", which is not a hook; did you mean "processRequest"\?/);
  class Timing { processReponse(): void {} }
  assert.throws(() => createApp({ middleware: [new Timing() as never] }), /middleware Timing has a method "processReponse", which is not a hook; did you mean "processResponse"\?/);
  // Plain helper methods are fine beside real hooks, and a hooks object with no hook is a no-op, as in Django.
  class Auth { processRequest(): void {} check(): boolean { return true; } }
  assert.doesNotThrow(() => createApp({ middleware: [new Auth(), { name: 'nothing', handle() {} } as never] }));
});

test("a hooks middleware with Django's process_template_response, in either spelling, is refused saying it is not carried over (it was told to use processResponse without a reason, or got the list of hooks)", () => {
  for (const hook of ['process_template_response', 'processTemplateResponse']) {
    assert.throws(() => createApp({ middleware: [{ name: 'csp', [hook]() {} } as never] }), {
      name: 'TypeError',
      message: `middleware csp has a method "${hook}": Django's process_template_response is not carried over (Coda has no template responses); change the response in processResponse`,
    });
  }
});

test('a hooks middleware whose hook is not a function is refused naming the hook (it failed every request, or was skipped without a word)', () => {
  // processRequest: 5 made every request a 500 "hooks.processRequest is not a function"; processView: 'x' and processException: 1 were
  // skipped in silence; afterResponse: {} failed every task.
  for (const hook of ['processRequest', 'processView', 'processException', 'processResponse', 'afterResponse']) {
    for (const [value, described] of [[5, 'number 5'], ['x', 'string "x"'], [{}, 'a plain object'], [null, 'null']] as const) {
      assert.throws(() => createApp({ middleware: [{ name: 'audit', [hook]: value } as never], routes: [ok] }),
        new RegExp(`^TypeError: middleware audit's ${hook} is ${described.replace(/[()"]/g, '\\$&')}, expected a function$`));
    }
  }
  class Audit {}
  Object.defineProperty(Audit.prototype, 'afterResponse', { value: true });
  assert.throws(() => createApp({ middleware: [new Audit() as never] }), /middleware Audit's afterResponse is boolean true, expected a function/);
  // A hook left undefined is a hook not given.
  assert.doesNotThrow(() => createApp({ middleware: [{ processRequest: undefined }], routes: [ok] }));
});

test('a hooks middleware whose afterResponse is a generator function is refused: called, it ran none of its body, for every request, without a word', () => {
  class Audit { async *afterResponse(): AsyncGenerator<never> { /* never runs */ } }
  assert.throws(() => createApp({ middleware: [new Audit() as never], routes: [ok] }), {
    name: 'TypeError', message: "middleware Audit's afterResponse takes a function whose call does the work, got an async generator function (afterResponse): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }",
  });
});

test("MiddlewareNotUsed's debug line carries the exception's message, as Django's does", async () => {
  const { logger, lines } = memoryLogger();
  const { MiddlewareNotUsed } = await import('coda-http');
  createApp({ logger, debug: true, middleware: [function sentry() { throw new MiddlewareNotUsed('SENTRY_DSN is not set'); }], routes: [ok] });
  assert.ok(lines.some((l) => l.msg === 'MiddlewareNotUsed: sentry left out of the chain: SENTRY_DSN is not set' && l.reason === 'SENTRY_DSN is not set'));
});

test('the test client refuses an unknown option', () => {
  const app = createApp({ routes: [ok] });
  assert.throws(() => createTestClient(app, { transprot: 'socket' } as never), /createTestClient\(\): unknown option "transprot"; did you mean "transport"\?/);
});
