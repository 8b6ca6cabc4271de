/**
 * Coda's after-response work in an Express app: `coda-http/express`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { after } from 'coda-http';
 * import { coda } from 'coda-http/express';
 *
 * const app = express();
 * const tasks = coda({ after: { maxPending: 10_000 } });
 * app.use(tasks);
 * app.post('/notes', (req, res) => {
 *   after(() => search.index(req.body), { name: 'index-note' }); // anywhere in the request
 *   res.after(({ outcome }) => audit.write(outcome));             // on this response
 *   res.status(201).json(req.body);
 * });
 * const { close } = tasks.attach(app.listen(3000)); // SIGTERM drains; close() resolves with the report
 * ```
 */
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import { HttpResponse } from '../http/response.js';
import { adoptedExchange } from '../transport/node/adopt.js';
import { adapterApp, adapterMethods, adopt, afterFor, headerRecord, withinEvents, type Adapter, type AdapterOptions, type AfterFunction } from './adapter.js';

export * from './exports.js';

declare module 'express-serve-static-core' {
  interface Response {
    /** Runs a task after this response was sent (or the client went away); a `task()` with its payload durably. See coda-http/express. */
    after: AfterFunction;
  }
}

/** Coda's Express middleware, with the adapter's `app` and `attach()`. */
export type ExpressCoda = RequestHandler & Adapter;

const resAfter = afterFor('res.after()', (res: Response) => res);

/** What the adapter reads of an Express app's router: its chain of layers. */
type Chain = { stack?: { handle?: unknown }[] };

/**
 * An error passed down an app's chain once the response's head is out (a
 * handler's `next(err)`, or its throw) reaches Express's final handler, which
 * can send no error response then and destroys the connection without it: the
 * outcome would say aborted, not why. `noteError` at the end of the chain
 * notes it first. Put there at the app's first request (the middleware learns
 * its app then), and again at a request that finds the chain grown since (a
 * route added later: an error of a layer after it would not reach it; the
 * first to note an error keeps it); errors handled by the app's own error
 * handlers never reach it.
 */
function noteErrors(express: Application): void {
  // Express 4's router (made at the first use()) first: its app.router is a getter that throws; Express 5's has no _router.
  const stack = ((express as { _router?: Chain })._router ?? (express as { router?: Chain }).router)?.stack;
  if (stack === undefined || stack[stack.length - 1]?.handle === noteError) return;
  // Appended, the one before left where it is: removing it would shift the layers after it under requests going through them.
  express.use(noteError);
}

function noteError(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  adoptedExchange(res)?.failed(error);
  next(error);
}

/**
 * Express middleware that gives every request after it Coda's after-response
 * work: `after()` anywhere in the request, `res.after()`, limits (503 with
 * `Retry-After` at `maxPending`), isolation, timeouts, durable tasks, and a
 * drained shutdown with a report once the server is `attach()`ed. Mount it
 * first (`app.use(coda())`), before the routes and body parsers.
 */
export function coda(options: AdapterOptions = {}): ExpressCoda {
  const app = adapterApp('coda-http/express coda()', options);
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const adopted = adopt(app, req, res);
    if (adopted === undefined) {
      next();
    } else if (adopted instanceof HttpResponse) {
      res.status(adopted.status).set(headerRecord(adopted)).send(adopted.body);
    } else {
      res.after = resAfter as AfterFunction;
      // A request without an app: a bare express.Router() on node:http.
      if (req.app !== undefined) noteErrors(req.app);
      // A next() called from the request's own events (a body read by hand, or by multer or busboy) took the rest of the chain out of the request.
      withinEvents(adopted, req, next);
    }
  };
  return Object.assign(middleware, adapterMethods(app));
}
