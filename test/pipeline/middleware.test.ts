// The behaviours middleware.md lists under "Tests to port" (Django's
// tests/middleware_exceptions/tests.py), and the R6/R7 programming errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createApp, get, HttpResponse, MiddlewareNotUsed, NotFound, PermissionDenied,
  type Handler, type HttpRequest, type Middleware, type MiddlewareFactory, type MiddlewareHooks, type Route,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger } from '../helpers.js';

/** An app over `routes` and `middleware`, a client for it, and its log lines. */
function setup(middleware: Middleware[], routes: Route[], debug = false) {
  const { logger, lines } = memoryLogger();
  const app = createApp({ middleware, routes, logger, debug });
  return { app, client: createTestClient(app), lines, errors: () => lines.filter((l) => l.level >= LEVEL.error) };
}

const ok = () => new HttpResponse('view');

/** A factory that records the status of every response it gets from inside. */
function statusLogger(seen: number[]): MiddlewareFactory {
  return (getResponse) => async (request) => {
    const response = await getResponse(request);
    seen.push(response.status);
    return response;
  };
}

describe('processView', () => {
  test('returning nothing: the view runs, and gets the params', async () => {
    const events: string[] = [];
    const hooks: MiddlewareHooks = {
      processView(_request, view, params) {
        events.push(`processView ${view.name} ${JSON.stringify(params)}`);
      },
    };
    const { client } = setup([hooks], [get('/notes/:id', function showNote() {
      events.push('view');
      return new HttpResponse('view');
    })]);
    const res = await client.get('/notes/7');
    assert.equal(await res.text(), 'view');
    assert.deepEqual(events, ['processView showNote {"id":"7"}', 'view']);
  });

  test('returning a response: the view is skipped, later processView hooks too, and the response goes out through processResponse', async () => {
    const events: string[] = [];
    const first: MiddlewareHooks = {
      processView: () => {
        events.push('first.processView');
        return new HttpResponse('from processView', { status: 202 });
      },
      processResponse: (_request, response) => {
        events.push(`first.processResponse ${response.status}`);
        return response;
      },
    };
    const second: MiddlewareHooks = { processView: () => void events.push('second.processView') };
    const { client } = setup([first, second], [get('/', () => {
      events.push('view');
      return ok();
    })]);
    const res = await client.get('/');
    assert.equal(res.status, 202);
    assert.equal(await res.text(), 'from processView');
    assert.deepEqual(events, ['first.processView', 'first.processResponse 202']);
  });

  test('processView hooks run in list order', async () => {
    const events: string[] = [];
    const hooks = (name: string): MiddlewareHooks => ({ processView: () => void events.push(name) });
    const { client } = setup([hooks('a'), hooks('b'), hooks('c')], [get('/', ok)]);
    await client.get('/');
    assert.deepEqual(events, ['a', 'b', 'c']);
  });
});

describe('a view error is converted before outer middleware sees it', () => {
  test('an outer factory sees a 403 response for PermissionDenied, never the error', async () => {
    const seen: number[] = [];
    let caught: unknown;
    const guard: MiddlewareFactory = (getResponse) => async (request) => {
      try {
        return await getResponse(request);
      } catch (error) {
        caught = error;
        throw error;
      }
    };
    const { client } = setup([statusLogger(seen), guard], [get('/', () => {
      throw new PermissionDenied('no');
    })]);
    const res = await client.get('/');
    assert.equal(res.status, 403);
    assert.deepEqual(seen, [403]);
    assert.equal(caught, undefined, 'no layer sees the exception');
  });

  test('an outer processResponse sees the 403 too', async () => {
    const seen: number[] = [];
    const hooks: MiddlewareHooks = { processResponse: (_request, response) => (seen.push(response.status), response) };
    const { client } = setup([hooks], [get('/', async () => {
      throw new PermissionDenied();
    })]);
    assert.equal((await client.get('/')).status, 403);
    assert.deepEqual(seen, [403]);
  });
});

describe('processException', () => {
  test('a response from processException is used, and goes out through every processResponse', async () => {
    const events: string[] = [];
    const outer: MiddlewareHooks = {
      processResponse: (_request, response) => {
        events.push(`outer.processResponse ${response.status}`);
        response.headers.set('x-outer', 'seen');
        return response;
      },
    };
    const handler: MiddlewareHooks = {
      processException: (_request, error) => {
        events.push(`handler.processException ${(error as Error).message}`);
        return new HttpResponse('handled', { status: 409 });
      },
      processResponse: (_request, response) => {
        events.push(`handler.processResponse ${response.status}`);
        return response;
      },
    };
    const { client, errors } = setup([outer, handler], [get('/', () => {
      throw new Error('conflict');
    })]);
    const res = await client.get('/');
    assert.equal(res.status, 409);
    assert.equal(await res.text(), 'handled');
    assert.equal(res.headers.get('x-outer'), 'seen');
    assert.deepEqual(events, ['handler.processException conflict', 'handler.processResponse 409', 'outer.processResponse 409']);
    assert.deepEqual(errors(), [], 'a handled error is not logged as a 500');
  });

  test("with [A, B], B's processException answering means A's is never called", async () => {
    const events: string[] = [];
    const a: MiddlewareHooks = { processException: () => void events.push('A') };
    const b: MiddlewareHooks = {
      processException: () => {
        events.push('B');
        return new HttpResponse('B handled', { status: 418 });
      },
    };
    const { client } = setup([a, b], [get('/', () => {
      throw new Error('boom');
    })]);
    const res = await client.get('/');
    assert.equal(res.status, 418);
    assert.deepEqual(events, ['B']);
  });

  test('when no processException answers, all run in reverse list order and the error becomes its response', async () => {
    const events: string[] = [];
    const hooks = (name: string): MiddlewareHooks => ({ processException: async () => void events.push(name) });
    const { client } = setup([hooks('A'), hooks('B'), hooks('C')], [get('/', () => {
      throw new NotFound('gone');
    })]);
    const res = await client.get('/');
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'gone');
    assert.deepEqual(events, ['C', 'B', 'A']);
  });

  test('a processException that throws is converted like any other error', async () => {
    const seen: number[] = [];
    const rethrows: MiddlewareHooks = {
      processException: () => {
        throw new PermissionDenied('handler refused');
      },
    };
    const crashes: MiddlewareHooks = {
      processException: async () => {
        throw new Error('handler crashed');
      },
    };
    let app = setup([statusLogger(seen), rethrows], [get('/', () => {
      throw new Error('view failed');
    })]);
    let res = await app.client.get('/');
    assert.equal(res.status, 403);
    assert.equal(await res.text(), 'handler refused');
    assert.deepEqual(seen, [403]);

    app = setup([statusLogger(seen), crashes], [get('/', async () => {
      throw new Error('view failed');
    })]);
    res = await app.client.get('/');
    assert.equal(res.status, 500);
    assert.deepEqual(seen, [403, 500]);
    assert.match(String(app.errors()[0]?.msg), /handler crashed/);
  });

  test('errors from processRequest, or from a view returning nothing, do not reach processException', async () => {
    const events: string[] = [];
    const watcher: MiddlewareHooks = { processException: () => void events.push('processException') };
    const failing: MiddlewareHooks = {
      processRequest: (request) => {
        if (request.path === '/fail') throw new Error('processRequest failed');
      },
    };
    const { client } = setup([watcher, failing], [get('/fail', ok), get('/none', (() => undefined) as never)]);
    assert.equal((await client.get('/fail')).status, 500);
    assert.equal((await client.get('/none')).status, 500);
    assert.deepEqual(events, []);
  });
});

describe('an error in an inner middleware is seen by the outer one as a response', () => {
  test('an HttpError in an inner processRequest: a 404 response; the inner processResponse does not run', async () => {
    const seen: number[] = [];
    const events: string[] = [];
    const inner: MiddlewareHooks = {
      processRequest: () => {
        throw new NotFound('hidden');
      },
      processResponse: (_request, response) => (events.push('inner.processResponse'), response),
    };
    const { client } = setup([statusLogger(seen), inner], [get('/', () => (events.push('view'), ok()))]);
    const res = await client.get('/');
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'hidden');
    assert.deepEqual(seen, [404]);
    assert.deepEqual(events, []);
  });

  test('a crash in an inner factory: a 500 response, logged', async () => {
    const seen: number[] = [];
    const inner: MiddlewareFactory = () => () => {
      throw new Error('inner middleware broke');
    };
    const { client, errors } = setup([statusLogger(seen), inner], [get('/', ok)]);
    const res = await client.get('/', { headers: { 'x-request-id': 'inner-1' } });
    assert.equal(res.status, 500);
    assert.deepEqual(seen, [500]);
    assert.equal(errors()[0]?.requestId, 'inner-1');
  });

  test('a crash in an inner processResponse: a 500 response', async () => {
    const seen: number[] = [];
    const inner: MiddlewareHooks = {
      processResponse: async () => {
        throw new Error('processResponse broke');
      },
    };
    const { client } = setup([statusLogger(seen), inner], [get('/', ok)]);
    assert.equal((await client.get('/')).status, 500);
    assert.deepEqual(seen, [500]);
  });
});

describe('processRequest', () => {
  test('an answer from the middle of the list skips what is inside; processResponse runs outward from there', async () => {
    const events: string[] = [];
    const hooks = (name: string, answer = false): MiddlewareHooks => ({
      processRequest: () => {
        events.push(`${name}.processRequest`);
        return answer ? new Response('early', { status: 401 }) : undefined;
      },
      processResponse: (_request, response) => (events.push(`${name}.processResponse ${response.status}`), response),
    });
    const { client } = setup([hooks('1'), hooks('2'), hooks('3', true), hooks('4')], [get('/', () => (events.push('view'), ok()))]);
    const res = await client.get('/');
    assert.equal(res.status, 401);
    assert.equal(await res.text(), 'early');
    assert.deepEqual(events, [
      '1.processRequest', '2.processRequest', '3.processRequest',
      '3.processResponse 401', '2.processResponse 401', '1.processResponse 401',
    ]);
  });
});

describe('MiddlewareNotUsed', () => {
  function unused(): Handler {
    throw new MiddlewareNotUsed();
  }

  test('a factory that throws it is left out of the chain', async () => {
    const events: string[] = [];
    const used: MiddlewareFactory = (getResponse) => (request) => (events.push('used'), getResponse(request));
    const { client } = setup([used, unused, used], [get('/', ok)]);
    assert.equal(await (await client.get('/')).text(), 'view');
    assert.deepEqual(events, ['used', 'used']);
  });

  test('in debug mode, leaving it out is logged with its name', () => {
    const { lines } = setup([unused], [get('/', ok)], true);
    const line = lines.find((l) => l.middleware === 'unused');
    assert.ok(line, 'logged');
    assert.equal(line.msg, 'MiddlewareNotUsed: unused left out of the chain');
  });

  test('outside debug mode it is not logged', () => {
    const { lines } = setup([unused], [get('/', ok)]);
    assert.deepEqual(lines, []);
  });

  test('a factory is called once, when the app is built, not per request', async () => {
    let built = 0;
    const counted: MiddlewareFactory = (getResponse) => {
      built++;
      return (request) => getResponse(request);
    };
    const { client } = setup([counted], [get('/', ok)]);
    assert.equal(built, 1, 'called at createApp');
    for (let i = 0; i < 3; i++) assert.equal((await client.get('/')).status, 200);
    assert.equal(built, 1, 'not called again by requests');
  });

  test('any other error from a factory fails createApp', () => {
    const broken: MiddlewareFactory = () => {
      throw new Error('misconfigured');
    };
    assert.throws(() => createApp({ middleware: [broken] }), { message: 'misconfigured' });
  });
});

describe('what is not a response is a programming error (R6, R7)', () => {
  test('a view returning nothing: a 500 whose logged message names the view', async () => {
    const getUser = (() => undefined) as unknown as () => HttpResponse;
    const { client, errors } = setup([], [get('/users/:id', getUser)]);
    const res = await client.get('/users/7');
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error');
    assert.equal(errors()[0]?.msg, 'view getUser returned undefined, expected a response');
  });

  test('an async view returning something else: named too, and a value to send as JSON or text (as Fastify sends what a handler returns) told which response sends it', async () => {
    async function listNotes(): Promise<HttpResponse> {
      return { status: 200 } as unknown as HttpResponse;
    }
    const { client, errors } = setup([], [get('/notes', listNotes)]);
    assert.equal((await client.get('/notes')).status, 500);
    assert.equal(errors()[0]?.msg, 'view listNotes returned a plain object, expected a response (for JSON, return new JsonResponse(value))');
    const arrays = setup([], [get('/list', (() => [1, 2]) as never)]);
    assert.equal((await arrays.client.get('/list')).status, 500);
    assert.equal(arrays.errors()[0]?.msg, 'view for /list returned an instance of Array, expected a response (for JSON, return new JsonResponse(value))');
  });

  test('an anonymous view is named by its path', async () => {
    const { client, errors } = setup([], [get('/anon', (() => 'text') as never)]);
    assert.equal((await client.get('/anon')).status, 500);
    assert.equal(errors()[0]?.msg, 'view for /anon returned string "text", expected a response (for text, return new HttpResponse(value))');
  });

  test('a processResponse returning something else: a 500 naming the middleware', async () => {
    class Stamp {
      processResponse(_request: HttpRequest, response: HttpResponse): HttpResponse {
        response.headers.set('x-stamp', '1');
        return undefined as unknown as HttpResponse; // forgot to return the response
      }
    }
    const { client, errors } = setup([new Stamp()], [get('/', ok)]);
    assert.equal((await client.get('/')).status, 500);
    assert.equal(errors()[0]?.msg, 'middleware Stamp processResponse returned undefined, expected a response');
  });

  test('an async processResponse resolving to something else: a 500 the outer middleware sees', async () => {
    const seen: number[] = [];
    const forgetful: MiddlewareHooks = { name: 'forgetful', processResponse: async () => undefined as never };
    const outer: MiddlewareHooks = { processResponse: (_request, response) => { seen.push(response.status); return response; } };
    const { client, errors } = setup([outer, forgetful], [get('/', ok)]);
    assert.equal((await client.get('/')).status, 500);
    assert.deepEqual(seen, [500]);
    assert.equal(errors()[0]?.msg, 'middleware forgetful processResponse returned undefined, expected a response');
  });

  test("a hook returning a falsy value (false, 0, '') answers nothing, as Django tests a value's truth (`response or get_response(request)`, `if response:`): `return !user && redirect('/login')` goes on", async () => {
    for (const falsy of [false, 0, '', Promise.resolve(false)]) {
      const seen: string[] = [];
      const hooks: MiddlewareHooks = {
        name: 'gate',
        processRequest: () => (seen.push('request'), falsy as never),
        processView: () => (seen.push('view'), falsy as never),
        processException: () => (seen.push('exception'), falsy as never),
      };
      const { client, errors } = setup([hooks], [get('/', ok), get('/boom', () => {
        throw new Error('boom');
      })]);
      const response = await client.get('/');
      assert.equal(response.status, 200, `${String(falsy)}: the view answered`);
      assert.equal(await response.text(), 'view');
      assert.equal((await client.get('/boom')).status, 500, `${String(falsy)}: the view's error is its own 500`);
      assert.deepEqual(seen, ['request', 'view', 'request', 'view', 'exception']);
      assert.deepEqual(errors().map((line) => line.err === undefined ? line.msg : (line.err as { message: string }).message), ['boom'], 'only the view\'s error is logged');
    }
    // A truthy value that is no response is still a programming error (Django would fail on it later, less clearly).
    const { client, errors } = setup([{ name: 'gate', processRequest: () => true as never }], [get('/', ok)]);
    assert.equal((await client.get('/')).status, 500);
    assert.equal(errors()[0]?.msg, 'middleware gate processRequest returned boolean true, expected a response');
  });

  test('a processView or processRequest returning something else: named too', async () => {
    const named: MiddlewareHooks = { name: 'auth', processRequest: () => 'not a response' as never };
    let app = setup([named], [get('/', ok)]);
    assert.equal((await app.client.get('/')).status, 500);
    assert.equal(app.errors()[0]?.msg, 'middleware auth processRequest returned string "not a response", expected a response');

    const viewer: MiddlewareHooks = { name: 'viewer', processView: async () => 42 as never };
    app = setup([viewer], [get('/', ok)]);
    assert.equal((await app.client.get('/')).status, 500);
    assert.equal(app.errors()[0]?.msg, 'middleware viewer processView returned number 42, expected a response');
  });

  test('a factory handler returning something else: a 500 naming the middleware', async () => {
    const lazy: MiddlewareFactory = () => () => null as never;
    const { client, errors } = setup([lazy], [get('/', ok)]);
    assert.equal((await client.get('/')).status, 500);
    assert.equal(errors()[0]?.msg, 'middleware lazy returned null, expected a response');
  });

  test('an async factory handler resolving to something else: a 500 the outer middleware sees, naming the middleware', async () => {
    const seen: number[] = [];
    const late: MiddlewareFactory = () => async () => 'done' as never;
    const { client, errors } = setup([statusLogger(seen), late], [get('/', ok)]);
    assert.equal((await client.get('/')).status, 500);
    assert.deepEqual(seen, [500]);
    assert.equal(errors()[0]?.msg, 'middleware late returned string "done", expected a response');
  });
});

describe('bad middleware is rejected at createApp', () => {
  test('a factory that returns a non-function', () => {
    const notAHandler = (() => ({ handle: true })) as unknown as MiddlewareFactory;
    assert.throws(() => createApp({ middleware: [notAHandler] }), {
      name: 'TypeError',
      message: 'middleware notAHandler is a factory but returned object, expected a handler function',
    });
  });

  test('an entry that is neither a factory nor a hooks object', () => {
    assert.throws(() => createApp({ middleware: [null as never] }), { name: 'TypeError', message: 'middleware[0] must be a factory function or a hooks object, got null' });
    // A missing import leaves undefined in the list.
    assert.throws(() => createApp({ middleware: [{}, undefined as never] }), { name: 'TypeError', message: 'middleware[1] must be a factory function or a hooks object, got undefined' });
    assert.throws(() => createApp({ middleware: ['cors' as never] }), { name: 'TypeError', message: 'middleware[0] must be a factory function or a hooks object, got string' });
  });
});
