import { MiddlewareNotUsed } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import { checkMiddleware } from './check-middleware.js';
import { convertErrors, type ErrorRenderer } from './convert.js';
import { hooksGroup, hooksLayer, type EnterHook, type HooksLayer } from './hooks-group.js';
import { viewStage, type BoundHook, type ResolvedView } from './view-stage.js';
import type { Handler, Middleware, MiddlewareHooks } from './types.js';

/** What `compose()` needs of the app: routing, its error renderer, and who hears of entered and unused middleware. */
export interface ComposeOptions {
  /** Finds the view for a request (and sets its params), or throws an HttpError. */
  resolve: (request: HttpRequest) => ResolvedView;
  render: ErrorRenderer;
  /** Told when a request enters a middleware that has an `afterResponse` hook. */
  enter: EnterHook;
  /** Told about each factory that threw `MiddlewareNotUsed`, with the error it threw. */
  onUnused: (name: string, error: MiddlewareNotUsed) => void;
}

/**
 * Builds the onion once, at `createApp` (middleware.md B1-B3): from the last
 * middleware to the first, each layer wraps the one inside it, and every layer
 * and the innermost handler is wrapped in an error converter.
 */
export function compose(middleware: readonly Middleware[], options: ComposeOptions): Handler {
  const viewHooks: BoundHook[] = [];
  const exceptionHooks: BoundHook[] = [];
  let handler = convertErrors(viewStage(options.resolve, viewHooks, exceptionHooks, options.render), 'view stage', options.render);
  // Consecutive hooks middleware, innermost first, waiting to be wrapped as one group.
  let group: HooksLayer[] = [];
  const wrapGroup = (): void => {
    if (group.length === 0) return;
    handler = hooksGroup(group.reverse(), handler, options.render, options.enter);
    group = [];
  };

  for (let i = middleware.length - 1; i >= 0; i--) {
    const entry = middleware[i]!;
    const name = middlewareName(entry, i);
    if (entry === null || (typeof entry !== 'function' && typeof entry !== 'object')) {
      throw new TypeError(`middleware[${i}] must be a factory function or a hooks object, got ${entry === null ? 'null' : typeof entry}`);
    }
    checkMiddleware(entry, name);
    if (typeof entry === 'function') {
      wrapGroup();
      let layer: ReturnType<typeof entry>;
      try {
        layer = entry(handler);
      } catch (error) {
        if (!(error instanceof MiddlewareNotUsed)) throw error;
        options.onUnused(name, error);
        continue;
      }
      if (typeof layer !== 'function') {
        throw new TypeError(`middleware ${name} is a factory but returned ${typeof layer}, expected a handler function`);
      }
      handler = convertErrors(layer, `middleware ${name}`, options.render);
    } else {
      collectHooks(entry, name, viewHooks, exceptionHooks);
      group.push(hooksLayer(entry, name));
    }
  }
  wrapGroup();
  return handler;
}

// Walking from the last middleware: processView hooks end up in list order,
// processException hooks in reverse list order (Django's load_middleware).
function collectHooks(hooks: MiddlewareHooks, name: string, viewHooks: BoundHook[], exceptionHooks: BoundHook[]): void {
  if (typeof hooks.processView === 'function') viewHooks.unshift({ hooks, culprit: `middleware ${name} processView` });
  if (typeof hooks.processException === 'function') exceptionHooks.push({ hooks, culprit: `middleware ${name} processException` });
}

/** A middleware's name for logs and errors: its `name`, its class, or its place in the list. */
function middlewareName(entry: Middleware, index: number): string {
  // Checked first: a null or undefined entry (a missing import) must reach compose's clear TypeError.
  if (entry === null || entry === undefined) return `middleware[${index}]`;
  const own = (entry as { name?: unknown }).name;
  if (typeof own === 'string' && own !== '') return own;
  const ctor = (entry as object).constructor;
  if (typeof entry === 'object' && ctor !== undefined && ctor !== Object) return ctor.name;
  return `middleware[${index}]`;
}
