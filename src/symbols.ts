/**
 * Coda's internal protocol, as Fastify's lib/symbols.js: state and methods that
 * modules share but users must not reach are keyed by these symbols, marked
 * `@internal` (so they are left out of the published types) and never exported
 * from the package.
 */

/** HttpRequest: whether the app's logger writes a level (skip building a line nobody reads). */
export const kLogs = Symbol('coda.logs');
/** HttpRequest: the exchange that owns it. */
export const kExchange = Symbol('coda.exchange');
/** HttpRequest: its Host line as sent, for the app's check of it (read without making `headers`). */
export const kHostField = Symbol('coda.hostField');
/** A connection's socket: its peer's address and TLS flag, read once for all its requests. */
export const kPeer = Symbol('coda.peer');
/** HttpRequest: the response is done; let go of Node's request. */
export const kDone = Symbol('coda.done');
/** HttpRequest: its body was read into memory (what an idle connection's timer would keep: see transport/node/idle-timer.ts). */
export const kBodyRead = Symbol('coda.bodyRead');
/** HttpRequest: its client went away while the view works (a Web Request's signal aborted): `signal` aborts. */
export const kClientLeft = Symbol('coda.clientLeft');
/** HttpResponse: the tasks registered with `response.after()`. */
export const kAfterEntries = Symbol('coda.afterEntries');
/** ResponseHeaders: the record handed to Node's `writeHead`. */
export const kNodeHeaders = Symbol('coda.nodeHeaders');
/** ResponseHeaders: a value beyond ASCII was set (the head is then written apart from a string body, in Latin-1). */
export const kNonAscii = Symbol('coda.nonAscii');
/** ResponseHeaders: sets a header Coda itself chose, without checks. */
export const kSetTrusted = Symbol('coda.setTrusted');
/** ResponseHeaders: stands for the headers a Node response sent (copied only if read). */
export const kSentHeaders = Symbol('coda.sentHeaders');
/** StreamingResponse: the stream if it was opened, else undefined. */
export const kOpenedStream = Symbol('coda.openedStream');
/** StreamingResponse: the response ends before its stream; the signal aborts, a Readable is destroyed. */
export const kAbortStream = Symbol('coda.abortStream');
/** StreamingResponse: whether its `stream` was read (to send it, or by code that sends it in a response of its own). */
export const kStreamTaken = Symbol('coda.streamTaken');
/** StreamingResponse: a transport begins to send it; false when one did before (its stream is read once). */
export const kClaimStream = Symbol('coda.claimStream');
/** FileResponse: what it answers a request with (its conditions and Range read): itself, a range of it, a 304, or an HttpError to render. */
export const kAnswerRequest = Symbol('coda.answerRequest');
/** App: runs a request that did not come over a socket. */
export const kDispatch = Symbol('coda.dispatch');
/** App: its after-response scheduler. */
export const kScheduler = Symbol('coda.scheduler');
/** App: resolves when no request is in flight. */
export const kRequestsDone = Symbol('coda.requestsDone');
/** App: the process exits now: gives up every task pending or running and lists it. */
export const kAbandonNow = Symbol('coda.abandonNow');
/** Signal: its receivers as after-response entries. */
export const kEntries = Symbol('coda.entries');
/** App: `serve()` or `attach()` put a server under the app's shutdown. */
export const kGovern = Symbol('coda.govern');
/** App: a server begins to close: responses on its connections from now on ask the client to close them. */
export const kServerClosing = Symbol('coda.serverClosing');
/** App: a server has closed; how many of the app's servers are left (0: the app drains its tasks). */
export const kServerClosed = Symbol('coda.serverClosed');
/** App: a server's shutdown timeout has passed: its requests still in flight are cut off with their connections. */
export const kTimedOut = Symbol('coda.timedOut');
/** App: a server refused a request before the app saw it: the access log and the metrics record it. */
export const kRefused = Symbol('coda.refused');
/** App: the requests in flight on one server's connections. */
export const kRequestsOn = Symbol('coda.requestsOn');
/** HttpResponse: the durable tasks registered with `response.after(task, payload)`. */
export const kTaskEntries = Symbol('coda.taskEntries');
/** App: the response to send, once the exchange's durable tasks are journaled (a 503 if the store could not take them). */
export const kJournal = Symbol('coda.journal');
/** App: waits until requests, after-response tasks and durable tasks are done, moving a test clock with `advance`. */
export const kSettle = Symbol('coda.settle');
/** App: what `settle()` still waits for, one line each (a test's settle() that ran out of time names it). */
export const kUnfinished = Symbol('coda.unfinished');
/** App: shutdown of the durable tasks' runner; resolves with the tasks left in the store. */
export const kCloseTasks = Symbol('coda.closeTasks');
/** App: its shutdown, once its last server closed: the tasks run or given up, then it lets go of what it shares with other apps (its gauges in a shared metrics registry). */
export const kShutDown = Symbol('coda.shutDown');
/** App: takes charge of a request another framework answers (the adapters). */
export const kAdopt = Symbol('coda.adopt');
/** AppOptions: the app is an adapter's (its value names the adapter in errors): it observes its tasks alone, the framework its requests. */
export const kAdapted = Symbol('coda.adapted');
/** App: the request listener `serve()` installs, which Node alone calls (see server/listener.ts). */
export const kServe = Symbol('coda.serve');
/** App: `kServe` for HTTP/1.x requests only. */
export const kServeHttp1 = Symbol('coda.serveHttp1');
/** Set on a Node response whose connection the server closed for a stalled send: never complete, whatever Node says (Node 22 emits its 'finish' as the socket is destroyed). */
export const kCutOff = Symbol('coda.cutOff');
/** Set by the server on an HTTP/2 stream's Node response: called once the app has answered its request (see server/session-views.ts). */
export const kAnswered = Symbol('coda.answered');
/** App: takes charge of a Web Request another framework answers with no Node response to watch (Hono's `app.request()`, fetch runtimes). */
export const kAdoptFetch = Symbol('coda.adoptFetch');
/** App: the Web Response that carries an exchange's response, finishing the exchange once it is delivered (`app.fetch`'s, and kAdoptFetch's). */
export const kAnswerFetch = Symbol('coda.answerFetch');
/** HttpResponse: the cookies set with `setCookie()`/`deleteCookie()`, written to its headers when it is sent. */
export const kCookies = Symbol('coda.cookies');
/** HttpRequest: the route it matched: its body limit, and, in groups with middleware, what their onions call (they read it from here). */
export const kRouteTarget = Symbol('coda.routeTarget');
/** HttpRequest: the error last turned into an error response for it (the test client's `res.error`). */
export const kRenderedError = Symbol('coda.renderedError');
/** HttpRequest: its server span, while tracing records it. */
export const kSpan = Symbol('coda.span');
/** App: adds a listener to every request's start and end, as the observer sees them (the dashboard's recorder). */
export const kListen = Symbol('coda.listen');
/** StreamingResponse: sends its stream through a transform (compression) instead of as it is. */
export const kTransformStream = Symbol('coda.transformStream');
/** Route: called with the app when the app is built, for routes that observe their app (the dashboard's). */
export const kMount = Symbol('coda.mount');
/** App: aborts when the last of its servers begins to close; a server put on the app afterwards gets a fresh one. */
export const kClosingSignal = Symbol('coda.closingSignal');
/** App: hears each server begin to close, so long-lived responses on its connections (the dashboard's event streams) end and do not hold its drain up. */
export const kOnServerClosing = Symbol('coda.onServerClosing');
/** Tasks: the app's durable task definitions, for `coda worker`. */
export const kDefinitions = Symbol('coda.definitions');
/** Tasks: the app's task store (undefined when none is set), for `coda tasks` and `coda worker`. */
export const kStore = Symbol('coda.store');
/** Tasks: the app's runner settings (`createApp({ tasks: { leaseMs, pollMs, … } })`), for `coda worker`. */
export const kRunnerSettings = Symbol('coda.runnerSettings');
/** Tasks: the app's tracer of durable attempts (undefined when `tracing` is off), for `coda worker`; as a `runWorker()` option, a tracer to use. */
export const kTracer = Symbol('coda.tracer');
/** App: its metrics (undefined when `metrics` is off), for `coda worker`, which lets their gauges go and counts in their registry. */
export const kMetrics = Symbol('coda.metrics');
/** A SQLite task store's path (`':memory:'` too), for `coda tasks` and `coda worker`, which share the store with other processes. */
export const kStorePath = Symbol('coda.storePath');
/** A SQLite task store's open() for `coda tasks`, which writes no schema: it refuses a file that is not a store of its version yet. */
export const kOpenToInspect = Symbol('coda.openToInspect');
/** A request's cookies as signed with the app's secret (`request.signedCookies`), made once. */
export const kSigned = Symbol('coda.signed');
