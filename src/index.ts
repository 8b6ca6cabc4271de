/**
 * Coda: a TypeScript HTTP framework with Django's middleware pipeline and
 * work after the response done right.
 */
export { createApp, App } from './app/app.js';
export type { AppOptions } from './app/app-options.js';
export { serve, type NodeServer, type Server, type ServeOptions, type ShutdownReport } from './server/serve.js';
export { onShutdown } from './server/shutdown.js';
export { route, get, post, put, patch, del, type Route, type RouteOptions, type ParamsOf, type Method } from './routing/routes.js';
export { HttpRequest, type RequestSource, type RequestState } from './http/request.js';
export { RequestCookies, SignedCookies, type CookieOptions, type DeleteCookieOptions, type SignedCookieOptions } from './http/cookies.js';
export type { Secret } from './http/signing.js';
export type { TrustProxy } from './http/client-address.js';
export { ValidationError, type ValidationIssue, type StandardSchemaV1 } from './http/validation.js';
export { cors, type CorsOptions } from './middleware/cors.js';
export { include, RouteGroup, type IncludeOptions, type RouteEntry } from './routing/include.js';
export { staticFiles, type StaticFilesOptions } from './routing/static-files.js';
export { compress, type CompressOptions, type Encoding } from './middleware/compress.js';
export { conditionalGet, type ConditionalGetOptions } from './middleware/conditional-get.js';
export type { ErrorPages, ErrorView } from './pipeline/error-pages.js';
export type { BodyOptions, PoisoningAction } from './http/body-options.js';
export {
  HttpResponse, JsonResponse, type ResponseInit,
  type AfterContext, type AfterTask, type AfterOptions,
} from './http/response.js';
export type { ResponseBody } from './http/response-body.js';
export type { Outcome } from './http/outcome.js';
export { StreamingResponse, type StreamSource, type StreamOpener } from './http/streaming-response.js';
export { redirect } from './http/redirect.js';
export { FileResponse, type FileResponseOptions } from './http/file-response.js';
export { ResponseHeaders, RequestHeaders, type HeadersInit } from './http/headers.js';
export type { When } from './http/when.js';
export {
  HttpError, BadRequest, Unauthorized, PermissionDenied, NotFound, MethodNotAllowed,
  PayloadTooLarge, UnsupportedMediaType, PreconditionFailed, RangeNotSatisfiable, ServiceUnavailable, ClientDisconnected,
  MiddlewareNotUsed, ProgrammingError, AfterQueueFull,
} from './http/errors.js';
export type { Handler, MiddlewareFactory, MiddlewareHooks, Middleware, View, ViewResult, MaybePromise } from './pipeline/types.js';
export { after } from './after/context.js';
export { signals, Signal, type Signals, type RequestStartedReceiver, type RequestFinishedReceiver } from './after/signals.js';
export type { AfterStats } from './after/scheduler.js';
export type { SchedulerOptions } from './after/scheduler-options.js';
export { TaskTimeoutError, type TaskFailure, type TaskRecord } from './after/reporting.js';
export type { Logger } from './log/logger.js';
export { task, Task, NonRetryableError, type TaskOptions, type TaskContext, type TaskFunction } from './durable/task.js';
export type { TasksOptions, TaskStats, Tasks } from './durable/tasks.js';
export { runWorker, type WorkerOptions, type Worker } from './durable/worker.js';
export type { TaskStore, StoredTask, TaskState, Backoff, AttemptError, RequestSnapshot, ListFilter, TaskPage, NewTask, AddResult, Release, StoreStats, Recovered } from './durable/store.js';
export type { DurableTask, TaskAfterOptions, TaskRegistration } from './http/task-entry.js';
export { sqliteStore, type SqliteStoreOptions } from './durable/sqlite-store.js';
export { StoreUnavailable } from './durable/errors.js';
export { metricsView, type MetricsViewOptions } from './observe/metrics-view.js';
export type { ObserveOptions } from './observe/observer.js';
export type { MetricsOptions, MetricsRegistry } from './observe/metrics.js';
export type { TracingOptions } from './observe/tracing.js';
export { dashboard, type DashboardOptions } from './dashboard/dashboard.js';
export type { Snapshot as DashboardSnapshot, TaskLine, RecentRequest, FailedTask, TaskEnd } from './dashboard/recorder.js';
