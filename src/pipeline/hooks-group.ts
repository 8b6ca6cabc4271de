import type { HttpRequest } from '../http/request.js';
import type { AfterEntry, HttpResponse } from '../http/response.js';
import { asResponse, isNoAnswer, responseOr, type ErrorRenderer } from './convert.js';
import { isPromise } from '../util/is-promise.js';
import type { Handler, MaybePromise, MiddlewareHooks } from './types.js';

/** Told that a request entered a middleware with an `afterResponse` hook: that hook runs once its response is done. */
export type EnterHook = (request: HttpRequest, afterEntry: AfterEntry) => void;

/** One hooks middleware, with what its layer needs precomputed. */
export interface HooksLayer {
  hooks: MiddlewareHooks;
  requestCulprit: string;
  responseCulprit: string;
  /** The entry every request that enters this layer queues, if it has `afterResponse`. */
  afterEntry: AfterEntry | undefined;
}

/** The layer of the hooks middleware named `name`: what each request needs of it, worked out once. */
export function hooksLayer(hooks: MiddlewareHooks, name: string): HooksLayer {
  const { afterResponse } = hooks;
  return {
    hooks,
    requestCulprit: `middleware ${name} processRequest`,
    responseCulprit: `middleware ${name} processResponse`,
    afterEntry: afterResponse === undefined ? undefined : {
      task: ({ request, response, outcome }) => afterResponse.call(hooks, request, response, outcome),
      options: { name: `${name}.afterResponse` },
      // Runs in the request's own async context, as every hook of the pipeline does.
      scope: undefined,
    },
  };
}

/**
 * Consecutive hooks middleware (Django's `MiddlewareMixin`) as one loop
 * instead of nested layers, with the same semantics (middleware.md R2, R7, E2):
 * layer i runs `processRequest`; a response from it skips the layers inside
 * and goes out through layer i's own `processResponse`; an error in layer i's
 * hook is converted at layer i, so layer i's `processResponse` does not see it
 * and layers i-1 ... 0 see an error response.
 */
export function hooksGroup(layers: readonly HooksLayer[], inner: Handler, render: ErrorRenderer, enter: EnterHook): Handler {
  const last = layers.length - 1;

  function inward(request: HttpRequest, from: number): MaybePromise<HttpResponse> {
    for (let i = from; i <= last; i++) {
      const { hooks, afterEntry } = layers[i]!;
      if (afterEntry !== undefined) enter(request, afterEntry);
      if (hooks.processRequest === undefined) continue;
      let early: unknown;
      try {
        early = hooks.processRequest(request);
      } catch (error) {
        return outwardFrom(request, i - 1, render(request, error, layers[i]!.requestCulprit));
      }
      if (isPromise(early)) {
        return Promise.resolve(early).then(
          (value) => answered(request, i, value),
          (error: unknown) => outwardFrom(request, i - 1, render(request, error, layers[i]!.requestCulprit)),
        );
      }
      if (!isNoAnswer(early)) return answered(request, i, early);
    }
    return outwardFrom(request, last, inner(request));
  }

  /** `outward`, once `response` is there (an error page may render asynchronously). */
  function outwardFrom(request: HttpRequest, from: number, response: MaybePromise<HttpResponse>): MaybePromise<HttpResponse> {
    return isPromise(response) ? response.then((value) => outward(request, from, value)) : outward(request, from, response);
  }

  /** Layer i's `processRequest` settled with `value`: go on inward, or answer from layer i. */
  function answered(request: HttpRequest, i: number, value: unknown): MaybePromise<HttpResponse> {
    if (isNoAnswer(value)) return inward(request, i + 1);
    let response: HttpResponse;
    try {
      response = asResponse(value, layers[i]!.requestCulprit);
    } catch (error) {
      return outwardFrom(request, i - 1, render(request, error, layers[i]!.requestCulprit));
    }
    return outward(request, i, response);
  }

  /** `processResponse` from layer `from` out to layer 0. */
  function outward(request: HttpRequest, from: number, response: HttpResponse): MaybePromise<HttpResponse> {
    for (let j = from; j >= 0; j--) {
      const { hooks, responseCulprit } = layers[j]!;
      if (hooks.processResponse === undefined) continue;
      let replaced: unknown;
      try {
        replaced = hooks.processResponse(request, response);
        if (isPromise(replaced)) {
          return Promise.resolve(replaced).then(
            (value) => outwardFrom(request, j - 1, responseOr(request, value, responseCulprit, render)),
            (error: unknown) => outwardFrom(request, j - 1, render(request, error, responseCulprit)),
          );
        }
        response = asResponse(replaced, responseCulprit);
      } catch (error) {
        const rendered = render(request, error, responseCulprit);
        if (isPromise(rendered)) return outwardFrom(request, j - 1, rendered);
        response = rendered;
      }
    }
    return response;
  }

  return (request) => inward(request, 0);
}
