import type { AfterEntry } from '../after/types.js';
import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { asResponse } from './convert.js';
import { isPromise, then } from './maybe-async.js';
import type { Handler, MaybePromise, MiddlewareHooks } from './types.js';

/**
 * One hooks middleware as a layer (Django's `MiddlewareMixin.__call__`):
 * `processRequest`; if it returned nothing, the inner handler; then, in both
 * cases, this layer's own `processResponse` (middleware.md R2, R7).
 */
export function hooksLayer(hooks: MiddlewareHooks, inner: Handler, name: string): (request: HttpRequest) => MaybePromise<HttpResponse> {
  const { processRequest, processResponse, afterResponse } = hooks;
  const requestCulprit = `middleware ${name} processRequest`;
  const responseCulprit = `middleware ${name} processResponse`;
  // Built once: the entry every request that enters this layer queues.
  const afterEntry: AfterEntry | undefined = afterResponse === undefined ? undefined : {
    task: ({ request, response, outcome }) => afterResponse.call(hooks, request, response, outcome),
    options: { name: `${name}.afterResponse` },
  };

  const outward = processResponse === undefined
    ? (_request: HttpRequest, response: HttpResponse) => response
    : (request: HttpRequest, response: HttpResponse): MaybePromise<HttpResponse> => {
        const replaced = processResponse.call(hooks, request, response);
        return isPromise(replaced)
          ? Promise.resolve(replaced).then((value) => asResponse(value, responseCulprit))
          : asResponse(replaced, responseCulprit);
      };

  const inward = (request: HttpRequest, early: unknown): MaybePromise<HttpResponse> => {
    if (early === undefined || early === null) return then(inner(request), outward, request);
    return outward(request, asResponse(early, requestCulprit));
  };

  return (request) => {
    // afterResponse runs for every middleware that was entered (after-response.md).
    if (afterEntry !== undefined) (request.enteredMiddleware ??= []).push(afterEntry);
    if (processRequest === undefined) return then(inner(request), outward, request);
    return then(processRequest.call(hooks, request), inward, request);
  };
}
