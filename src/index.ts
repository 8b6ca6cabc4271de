/**
 * Coda: a TypeScript HTTP framework with Django's middleware pipeline and
 * work after the response done right.
 */
export { createApp, App, type AppOptions } from './app/app.js';
export { serve, type Server, type ServeOptions, type ShutdownReport } from './server/serve.js';
export { route, get, post, put, patch, del, type Route, type RouteOptions, type ParamsOf, type Method } from './routing/routes.js';
export { HttpRequest, type RequestSource } from './http/request.js';
export { HttpResponse, JsonResponse, StreamingResponse, redirect, type ResponseInit, type ResponseBody, type StreamSource } from './http/response.js';
export { ResponseHeaders, RequestHeaders, type HeadersInit } from './http/headers.js';
export {
  HttpError, BadRequest, Unauthorized, PermissionDenied, NotFound, MethodNotAllowed,
  PayloadTooLarge, UnsupportedMediaType, ServiceUnavailable, ClientDisconnected,
  MiddlewareNotUsed, ProgrammingError,
} from './http/errors.js';
export type { Handler, MiddlewareFactory, MiddlewareHooks, Middleware, View, ViewResult, MaybePromise } from './pipeline/types.js';
export { after } from './after/context.js';
export { signals, Signal, type RequestStartedReceiver, type RequestFinishedReceiver } from './after/signals.js';
export { TaskTimeoutError, type AfterStats, type SchedulerOptions, type TaskFailure, type TaskRecord } from './after/scheduler.js';
export type { Outcome, AfterContext, AfterTask, AfterOptions } from './after/types.js';
export type { Logger } from './log/logger.js';
