import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { asResponse, isNoAnswer, type ErrorRenderer } from './convert.js';
import { errorMessage } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import type { MaybePromise, MiddlewareHooks, View } from './types.js';

/** What routing gives the view stage: the view, and how to name it in errors. */
export interface ResolvedView {
  view: View;
  /** "view showNote", for R6 messages. */
  culprit: string;
  /** Called instead of `view`: the view inside its route group's middleware (include()). */
  handler?: (request: HttpRequest) => MaybePromise<HttpResponse>;
  /**
   * Routing's own answer to a miss (appendSlash's redirect), not a view: no
   * `processView` or `processException` hook sees it, as in Django, where
   * CommonMiddleware makes that redirect of the resolver's 404.
   */
  routing?: true;
}

/** A middleware's hook, with the name errors give it. */
export interface BoundHook {
  hooks: MiddlewareHooks;
  culprit: string;
}

/**
 * The innermost handler (Django's `_get_response`): route, `processView` hooks
 * in list order, the view, and `processException` hooks, in the order given
 * (reverse list order), for errors from the view only (middleware.md R3-R6, E3).
 * An error no hook answers becomes its response here, where the view's name
 * is known for the log (Django re-raises it to the innermost converter: the
 * same response).
 */
export function viewStage(
  resolve: (request: HttpRequest) => ResolvedView,
  viewHooks: readonly BoundHook[],
  exceptionHooks: readonly BoundHook[],
  render: ErrorRenderer,
): (request: HttpRequest) => MaybePromise<HttpResponse> {
  function runViewHooks(request: HttpRequest, resolved: ResolvedView, from: number): MaybePromise<HttpResponse> {
    for (let i = from; i < viewHooks.length; i++) {
      const { hooks, culprit } = viewHooks[i]!;
      let result: unknown;
      try {
        result = hooks.processView!(request, resolved.view, request.params);
      } catch (error) {
        // Converted here, not at the view stage's converter: the log names the hook.
        return render(request, error, culprit);
      }
      if (isPromise(result)) {
        return Promise.resolve(result).then(
          (value) => isNoAnswer(value) ? runViewHooks(request, resolved, i + 1) : asResponse(value, culprit),
          (error: unknown) => render(request, error, culprit),
        );
      }
      if (!isNoAnswer(result)) return asResponse(result, culprit);
    }
    return callView(request, resolved);
  }

  function callView(request: HttpRequest, { view, culprit, handler }: ResolvedView): MaybePromise<HttpResponse> {
    let result: unknown;
    try {
      result = handler === undefined ? view(request) : handler(request);
    } catch (error) {
      return runExceptionHooks(request, error, culprit, 0);
    }
    if (!isPromise(result)) return asResponse(result, culprit);
    // A bad return value is checked outside the error path: it never reaches processException.
    return Promise.resolve(result).then(
      (value) => asResponse(value, culprit),
      (error: unknown) => runExceptionHooks(request, error, culprit, 0),
    );
  }

  function runExceptionHooks(request: HttpRequest, error: unknown, view: string, from: number): MaybePromise<HttpResponse> {
    for (let i = from; i < exceptionHooks.length; i++) {
      const { hooks, culprit } = exceptionHooks[i]!;
      let result: unknown;
      try {
        result = hooks.processException!(request, error);
      } catch (hookError) {
        return hookFailed(request, hookError, culprit, error, view);
      }
      if (isPromise(result)) {
        return Promise.resolve(result).then(
          (value) => isNoAnswer(value) ? runExceptionHooks(request, error, view, i + 1) : asResponse(value, culprit, () => `, ${handling(error, view)}`),
          (hookError: unknown) => hookFailed(request, hookError, culprit, error, view),
        );
      }
      // Not a response: the ProgrammingError's line carries the view's error, which no other line logs.
      if (!isNoAnswer(result)) return asResponse(result, culprit, () => `, ${handling(error, view)}`);
    }
    return render(request, error, view);
  }

  /**
   * A `processException` hook threw: its error's response, logged naming the
   * hook and the view's error it was handling (else lost from the log); the
   * view's own error rethrown is the view's.
   */
  function hookFailed(request: HttpRequest, hookError: unknown, culprit: string, error: unknown, view: string): MaybePromise<HttpResponse> {
    if (hookError === error) return render(request, error, view);
    return render(request, hookError, `${culprit}, ${handling(error, view)}`);
  }

  /** What a failing `processException` hook was doing, for its log line. */
  function handling(error: unknown, view: string): string {
    return `handling the error of ${view} (${errorMessage(error)})`;
  }

  return (request) => {
    const resolved = resolve(request);
    if (resolved.routing === true) return asResponse(resolved.view(request), resolved.culprit);
    return viewHooks.length === 0 ? callView(request, resolved) : runViewHooks(request, resolved, 0);
  };
}
