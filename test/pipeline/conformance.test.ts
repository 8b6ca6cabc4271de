// Runs every recorded Django case (test/fixtures/django-middleware) through
// Coda and compares the event log, the status and the body, with hooks that answer
// synchronously, with hooks that answer through promises, and with the two
// mixed in one request (Django's sync and async middleware in one chain).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  BadRequest, createApp, get, HttpError, HttpResponse, MiddlewareNotUsed, NotFound, PermissionDenied,
  type Handler, type HttpRequest, type Middleware, type MiddlewareHooks,
} from 'coda-http';
import { kDispatch } from '../../src/symbols.js';
import { createTestClient } from 'coda-http/testing';

type Action = 'none' | 'pass' | ['respond' | 'replace', number] | ['raise', Kind];
type Kind = 'forbidden' | 'notfound' | 'badrequest' | 'crash';
interface Spec { shape: 'hooks' | 'factory' | 'unused'; req?: Action; view?: Action; exc?: Action; res?: Action }
interface Case {
  id: string;
  middleware: Spec[];
  view: 'ok' | 'none' | ['raise', Kind];
  path: string;
  expect: { events: string[]; status: number; body: string | null };
}

const casesUrl = new URL('../fixtures/django-middleware/cases.json', import.meta.url);
const cases = JSON.parse(readFileSync(casesUrl, 'utf8')) as Case[];

function raise(kind: Kind): never {
  if (kind === 'forbidden') throw new PermissionDenied();
  if (kind === 'notfound') throw new NotFound();
  if (kind === 'badrequest') throw new BadRequest();
  throw new Error('crash');
}

function kindOf(error: unknown): Kind {
  if (error instanceof PermissionDenied) return 'forbidden';
  if (error instanceof NotFound) return 'notfound';
  if (error instanceof BadRequest) return 'badrequest';
  return 'crash';
}

type Wrap = <T>(value: () => T) => T | Promise<T>;

/** Builds a case's pipeline; `wrapOf(i)` makes middleware i's answers (-1: the view's) a value or a promise. */
function build(c: Case, wrapOf: (i: number) => Wrap) {
  const events: string[] = [];
  const act = (action: Action, i: number, where: string, response?: HttpResponse) => {
    if (action === 'none') return undefined;
    if (action === 'pass') return response;
    if (action[0] === 'raise') raise(action[1]);
    return new HttpResponse(`m${i}-${where}`, { status: action[1] });
  };
  const middleware: Middleware[] = c.middleware.map((spec, i): Middleware => {
    const wrap = wrapOf(i);
    if (spec.shape === 'unused') {
      return () => {
        throw new MiddlewareNotUsed();
      };
    }
    if (spec.shape === 'factory') {
      return (getResponse: Handler) => (request: HttpRequest) => wrap(() => {
        events.push(`m${i}.before`);
        // As recorded: an early answer goes through the factory's own "after" step too.
        const early = act(spec.req!, i, 'req');
        const after = (response: HttpResponse) => {
          events.push(`m${i}.after:${response.status}`);
          return act(spec.res!, i, 'res', response)!;
        };
        const inner = early ?? getResponse(request);
        return inner instanceof Promise ? inner.then(after) : after(inner);
      }) as HttpResponse | Promise<HttpResponse>;
    }
    const hooks: MiddlewareHooks = {};
    if (spec.req) hooks.processRequest = () => wrap(() => { events.push(`m${i}.processRequest`); return act(spec.req!, i, 'req'); });
    if (spec.view) hooks.processView = () => wrap(() => { events.push(`m${i}.processView`); return act(spec.view!, i, 'view'); });
    if (spec.exc) hooks.processException = (_r, error) => wrap(() => { events.push(`m${i}.processException:${kindOf(error)}`); return act(spec.exc!, i, 'exc'); });
    if (spec.res) hooks.processResponse = (_r, response) => wrap(() => { events.push(`m${i}.processResponse:${response.status}`); return act(spec.res!, i, 'res', response)!; });
    return hooks;
  });
  const view = () => wrapOf(-1)(() => {
    events.push('view');
    if (c.view === 'ok') return new HttpResponse('view');
    if (c.view === 'none') return undefined as unknown as HttpResponse;
    return raise(c.view[1]);
  });
  const app = createApp({ routes: [get('/ok', view)], middleware });
  return { app, events };
}

const synchronous: Wrap = (value) => value();
const asynchronous: Wrap = async (value) => {
  await null;
  return value();
};
const modes: Record<string, (i: number) => Wrap> = {
  synchronous: () => synchronous,
  asynchronous: () => asynchronous,
  // The view is index -1: odd, so it answers as the odd middleware do.
  'mixed (even synchronous, odd and the view through promises)': (i) => (i % 2 === 0 ? synchronous : asynchronous),
  'mixed (even through promises, odd and the view synchronous)': (i) => (i % 2 === 0 ? asynchronous : synchronous),
};

for (const [mode, wrap] of Object.entries(modes)) {
  describe(`Django conformance, ${mode} hooks`, () => {
    test('the recorded cases are all there', () => {
      assert.equal(cases.length, 60);
    });
    for (const c of cases) {
      test(`${c.id}: ${c.middleware.map((m) => m.shape).join(',') || 'no middleware'} / view ${JSON.stringify(c.view)} / ${c.path}`, async () => {
        const { app, events } = build(c, wrap);
        const res = await createTestClient(app).get(c.path);
        assert.deepEqual(events, c.expect.events);
        assert.equal(res.status, c.expect.status);
        if (c.expect.body !== null) assert.equal(await res.text(), c.expect.body);
      });
    }
  });
}

test('a synchronous pipeline hands back a response, not a promise', () => {
  const { app } = build(cases.find((c) => c.id === 's1-1')!, modes.synchronous!);
  const { response } = app[kDispatch]({ method: 'GET', url: '/ok', headers: {}, body: null });
  assert.ok(response instanceof HttpResponse, 'expected a plain response from a synchronous pipeline');
  assert.equal((response as HttpResponse).status, 400);
  assert.ok(!(response instanceof HttpError));
});

test('every recorded case stays synchronous while its hooks do: early answers, view and hook errors, processException answers, unused factories', () => {
  for (const c of cases) {
    const { app } = build(c, modes.synchronous!);
    const { response } = app[kDispatch]({ method: 'GET', url: c.path, headers: {}, body: null });
    assert.ok(response instanceof HttpResponse, `${c.id}: a promise from a synchronous pipeline`);
    assert.equal(response.status, c.expect.status, c.id);
  }
});
