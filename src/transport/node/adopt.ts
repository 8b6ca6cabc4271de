import { Buffer } from 'node:buffer'; // not the global, a getter Node runs on every read
import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Socket } from 'node:net';
import { Exchange, type ExchangeHost } from '../../after/exchange.js';
import type { Hold } from '../../after/job.js';
import { HttpRequest, peerOf, type Peer, type RequestOptions } from '../../http/request.js';
import { HttpResponse } from '../../http/response.js';
import type { AdoptedSpan } from '../../observe/adopted-span.js';
import { giveAdoptedSpan } from '../../observe/tracing.js';
import { sendsBody } from '../framing.js';
import { outcomeOf } from '../outcome.js';
import { unjournaled } from '../refused.js';
import { FirstByteGate } from './first-byte-gate.js';
import { http2Source } from './http2.js';
import { kCutOff, kDone, kSentHeaders } from '../../symbols.js';
import { send } from './send.js';
import { isComplete, TIMED_OUT, withCutOff, type CutOff, type NodeResponse } from './response.js';
import { closeWithConnection } from './watch.js';
import { isClosing, serverOf } from './closing-servers.js';
import { currentRequest } from '../../util/current-request.js';

const kAdopted = Symbol('coda.adopted');
type WriteHead = ServerResponse['writeHead'];
type Write = ServerResponse['write'];
type End = ServerResponse['end'];
type AdoptedResponse = ServerResponse & { [kAdopted]: AdoptedExchange };

/** What the app tells every exchange it adopts. */
export interface AdoptionSettings {
  /** Stacks in 500s. */
  readonly debug: boolean;
}

/**
 * The exchange of a request that another framework (Express, Fastify, Koa,
 * Hono) answers: Coda owns its life as it owns its own requests' (the tasks,
 * the outcome, the scheduler, the shutdown), but the framework writes the
 * response. Coda learns what it needs by watching that response: bytes
 * through `write`/`end`, the end through `'close'` (after `'finish'`, or alone
 * when the connection went first), and the status and headers then. Durable
 * tasks registered before the first byte hold the response back until they
 * are journaled (see first-byte-gate.ts).
 */
export class AdoptedExchange extends Exchange {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #settings: AdoptionSettings;
  /** The framework's request span, with tracing on, for the request once made (see `lateRequest`). */
  readonly #span: AdoptedSpan | undefined;
  /** The request line as it came, for the `HttpRequest` made on first read: a mounted Express router rewrites `req.url` meanwhile. */
  readonly #method: string;
  readonly #url: string;
  readonly #startedAt = performance.now();
  /** The connection's peer, kept when the response is done: the socket may be gone when a task first reads `request.ip`. */
  #peer: Peer | undefined = undefined;
  #gate: FirstByteGate | undefined = undefined;
  /** The framework's handler has answered: it wrote or ended the response, or its promise settled (see `answered`). */
  #answered = false;
  /** The client left before the handler answered: the exchange ends once it does, as Coda's own ends when its view returns. */
  #left = false;
  /** Its response asks for the connection's close (see closeConnection). */
  #closingConnection = false;
  /** The store's failure, when it could not take the durable tasks and the 503 went out instead (see `refusal`). */
  #refusal: unknown = undefined;
  /** The framework's promise for the rest of the request, when it gives one (see `handling`). */
  #handling: PromiseLike<unknown> | undefined = undefined;
  /** The status its head went out with: `statusCode` may be set after (an error handler's `res.status(500)` once the head is out), which no client saw. */
  #headStatus: number | undefined = undefined;
  /** Its head was written once its connection was gone (destroyed, its `'close'` not yet emitted): Node says it was sent, no client got it. */
  #headLost = false;
  /** The framework's (or Node's) `writeHead`, `write`, `end` and `destroy`, called by Coda's own. */
  readonly priorWriteHead: WriteHead;
  readonly priorWrite: Write;
  readonly priorEnd: End;
  readonly priorDestroy: ServerResponse['destroy'];

  /** `span`: the framework's request span, when tracing is on (`Tracing.adopted()`). */
  constructor(host: ExchangeHost, req: IncomingMessage, res: ServerResponse, settings: AdoptionSettings, span?: AdoptedSpan) {
    super(host, null);
    this.#req = req;
    this.#method = req.method!;
    this.#url = req.url!;
    this.#res = res;
    this.#settings = settings;
    this.#span = span;
    this.priorWriteHead = res.writeHead;
    this.priorWrite = res.write;
    this.priorEnd = res.end;
    this.priorDestroy = res.destroy;
    // An HTTP/2 request's socket (Fastify's http2: true) is a proxy that loses its connection once the stream closes: its peer is read now.
    if ('stream' in req) this.#peer = peerOf(req.socket);
  }

  override get startedAt(): number {
    return this.#startedAt;
  }

  /** Its connection, without making the request (see `lateRequest`); none for a request made by hand (a test's IncomingMessage). */
  override get connection(): Socket | undefined {
    return this.#req.socket ?? undefined;
  }

  /**
   * The request as Coda's middleware, tasks and logs see it, made when one
   * first reads it: most requests another framework answers never need it.
   */
  protected override lateRequest(options: RequestOptions): HttpRequest {
    const req = this.#req;
    const outcome = this.outcome;
    // Made during the request (a durable task's snapshot, an `after()` reading it): its peer is read now, while its socket is open.
    if (req.socket) this.#peer ??= peerOf(req.socket);
    // Over HTTP/2, the headers an HTTP/1.1 request would have, as Coda's own server gives them.
    const headers = 'stream' in req ? http2Source(req as unknown as Http2ServerRequest).headers : req.headers;
    const source = { method: this.#method, url: this.#url, headers, body: outcome === undefined ? req : null, remoteAddress: this.#peer?.address, encrypted: this.#peer?.encrypted };
    const request = new HttpRequest(source, options, this, this.#startedAt);
    if (outcome !== undefined) request[kDone](outcome.aborted);
    if (this.#span !== undefined) giveAdoptedSpan(request, this.#span);
    return request;
  }

  /** Starts watching the response: bytes as they are written, the outcome once it is done. */
  watch(): void {
    const res = this.#res as AdoptedResponse;
    res[kAdopted] = this;
    res.writeHead = notingWriteHead as unknown as AdoptedResponse['writeHead'];
    res.write = countingWrite;
    res.end = countingEnd;
    res.destroy = answeringDestroy;
    const socket = this.#req.socket;
    // An HTTP/2 request's socket is a proxy that refuses such changes; an injected one (light-my-request's) has no connection.
    if (socket instanceof Socket && !('stream' in this.#req)) answerOnClose(socket);
    if (res.closed) {
      closed(res);
      return;
    }
    res.on('close', onClose);
    res.on('pipe', onPipe);
    // Finishing twice does nothing: the first of the two closes counts.
    closeWithConnection(res, this.#req.socket, closed, undefined);
  }

  /**
   * Shutdown of its connection's server has begun (see closing-servers.ts): the
   * response asks its client to close the connection
   * (`Connection: close`), unless a request behind it on that connection is
   * still to be answered as its head goes out (Node would drop that one
   * unanswered, though its handler ran). The framework writes the head when
   * it likes; node:http reads `shouldKeepAlive` then. `inFlight`: the app's
   * exchanges in flight.
   */
  closeConnection(inFlight: Iterable<Exchange>): void {
    const res = this.#res;
    // The connection's server (a net socket's): the app may answer on others, still open.
    const server = serverOf(this.connection);
    if (this.#closingConnection || res.headersSent || (server !== undefined && !isClosing(server))) return;
    this.#closingConnection = true;
    let keepAlive = res.shouldKeepAlive;
    Object.defineProperty(res, 'shouldKeepAlive', {
      configurable: true,
      enumerable: true,
      get: () => keepAlive && !this.#lastOnConnection(inFlight),
      set: (value: boolean) => {
        keepAlive = value;
      },
    });
  }

  /** No other request on this connection waits for its answer (one ended already goes out before this one). */
  #lastOnConnection(inFlight: Iterable<Exchange>): boolean {
    const socket = this.#req.socket;
    for (const other of inFlight) {
      if (other !== this && other instanceof AdoptedExchange && other.#req.socket === socket && !other.#res.writableEnded) return false;
    }
    return true;
  }

  /**
   * The request's own code destroys its connection, or its response (over HTTP/2, no `socket`): deferred to
   * `destroy`, and true, when its answer is held whole for its durable tasks (see FirstByteGate.holdDestroy).
   */
  holdDestroy(socket: Socket | undefined, destroy: () => void): boolean {
    return this.#gate?.holdDestroy(socket, destroy) === true;
  }

  /** A durable registration: the response's first byte waits for it, unless that byte is out already. */
  override hold(hold: Hold): void {
    super.hold(hold);
    const res = this.#res;
    if (this.#gate === undefined) {
      if (res.headersSent) return;
      this.#gate = new FirstByteGate(res, (error) => this.#refuse(error), () => this.answered());
    }
    if (this.#gate.holding) this.#gate.wait(hold.journaled);
  }

  /**
   * Why the framework's answer was replaced by a 503: the store's failure to
   * take the durable tasks; undefined while it was not. A stream the
   * framework was writing is cut by that 503: its error is this one's consequence.
   */
  get refusal(): unknown {
    return this.#refusal;
  }

  /** The store could not take the durable tasks: the 503 that names it goes out instead of the framework's answer. */
  #refuse(error: unknown): void {
    this.#refusal = error;
    this.response = unjournaled(this.request, error, this.#settings.debug);
    send(this.#res, this, false);
  }

  /**
   * The framework's handler has answered (a write or end of the response,
   * or, for a framework whose middleware awaits the rest of the request, that
   * promise settled). The exchange of a client that left before this is
   * finished now: until then its handler was running, and what it registers
   * runs after it (or is listed by a shutdown that cannot wait for it).
   */
  answered(): void {
    if (this.#answered) return;
    this.#answered = true;
    if (this.#left) this.finishWith(this.#res);
  }

  /**
   * The framework's promise for the rest of the request (Koa's and Hono's
   * middleware, a Fastify handler's): its settling is the handler's answer
   * too, for a framework that writes nothing to a client that left. Watched
   * only once the client has left: nothing on a request's path.
   */
  handling(promise: PromiseLike<unknown>): void {
    this.#handling = promise;
  }

  /**
   * The framework's handler (or its stream) failed once the response's head
   * was out, when no error response can be sent: `error` is why the response
   * is cut short, for its outcome, as on Coda's own server. Nothing once the
   * response was ended (an error after that, an Express `send()` called twice,
   * cut nothing: the first went out whole) or its connection gone.
   */
  failed(error: unknown): void {
    const res = this.#res;
    // Over HTTP/2 (Fastify's http2: true) the response has no `destroyed`: its stream's tells. Over HTTP/1 the connection may die
    // before its response learns it: a socket's 'error' comes first (Express's res.sendFile() then calls back with 'Request aborted').
    const gone = 'stream' in res ? (res as NodeResponse).stream!.destroyed : res.destroyed || this.#req.socket?.destroyed === true;
    if (res.headersSent && !res.writableEnded && !gone) this.error ??= error;
  }

  /** Its head was written (Node writes it through `writeHead()` also when the framework writes none): its status is the one sent, unless `lost`. */
  headWritten(lost: boolean): void {
    this.#headStatus = this.#res.statusCode;
    this.#headLost = lost;
  }

  /** The handler (Coda's app, or the framework's route it gave the request to) has answered: its response is Node's, maybe not sent yet. */
  override get handled(): boolean {
    return this.#answered;
  }

  /** The response closed: the exchange is done, unless the client left before the handler answered (see `answered`). */
  closed(): void {
    const res = this.#res;
    if (this.#answered || res.headersSent || res.writableEnded) {
      this.finishWith(res);
      return;
    }
    this.#left = true;
    this.#handling?.then(() => this.answered(), () => this.answered());
  }

  /** The response is done: its outcome, for the tasks. What was sent is made into an `HttpResponse` only if a task reads it (see `sent`). */
  finishWith(res: ServerResponse): void {
    const status = this.#headStatus ?? res.statusCode;
    // The 503 Coda sent in the framework's stead (see #refuse) is told from Node's record like any other.
    this.response = undefined;
    const socket = this.#req.socket as IncomingMessage['socket'] | null;
    // A request made by hand (a test's IncomingMessage) has no socket.
    if (socket !== null) this.#peer ??= peerOf(socket);
    if (!sendsBody(this.#method, status)) this.bytesSent = 0;
    const headOut = res.headersSent && !this.#headLost;
    if (timedOut(socket)) {
      const cut = requestTimeoutCut(res, socket!, this.#req.complete, headOut);
      if (cut !== undefined) (res as NodeResponse)[kCutOff] ??= cut;
    }
    // Destroyed with an error (a stream that failed mid-way, through pipeline() or the framework's own): not a client that left.
    // An HTTP/2 response keeps no error: its stream does, unless the client had reset it first (then destroying it is a no-op).
    const stream = (res as NodeResponse).stream;
    const errored = (stream === undefined ? res.errored : serverFailure(stream.errored)) ?? undefined;
    // Unless its connection had gone first: Koa's pipeline() reports a client that left as a premature close. A failure ends the connection with it.
    if (errored !== undefined && (stream !== undefined || !this.#overNetwork() || socket!.errored === errored)) this.error ??= errored;
    // Set by hand and never sent (Node refuses such a status on the wire): a 500 stands for it.
    // isComplete: a response whose connection the server cut for a stalled send is not complete, nor one destroyed with an error, though Node 22 says they finished.
    // Over HTTP/2 (Fastify's http2: true), a stream the client reset is finished for Node too: its error code tells.
    const complete = errored === undefined && (isComplete(res as NodeResponse, 'stream' in res) || (res.writableEnded && !this.#overNetwork()));
    // The server may have ended it in the framework's stead (a body too slow: 408; a stalled send).
    this.finish(withCutOff(outcomeOf(this, complete, status >= 100 && status <= 999 ? status : 500, headOut), res as NodeResponse));
  }

  /**
   * Whether the request came over a connection. One injected in-process
   * (fastify.inject(), light-my-request: a mock socket, its response writing
   * to a null stream that calls back a turn after its 'close') has no client
   * to lose a byte: its response is complete once ended. An HTTP/2 one always
   * did: its `socket` stands for its session's only while its stream is open.
   */
  #overNetwork(): boolean {
    return 'stream' in this.#res || this.#req.socket instanceof Socket;
  }

  /**
   * What was sent, as an `HttpResponse`: the status and the headers the
   * framework set (Node's own framing headers are not among them). Node
   * checked every name and value when they were set, and refuses changes once
   * they are sent: its record is taken as it is, when a task first asks.
   */
  override sent(): HttpResponse {
    if (this.response === undefined) {
      this.response = new HttpResponse(null, { status: this.outcome!.status });
      this.response.headers[kSentHeaders](this.#res.getHeaders());
    }
    return this.response;
  }
}

/**
 * An HTTP/2 stream's error, unless it stands for its client: Node gives a
 * stream the client reset with any code but CANCEL (its `req.destroy(error)`
 * says INTERNAL_ERROR), or one whose session the client ended with an error
 * code, an error of its own naming the code. A client that left, not a failure.
 */
function serverFailure(error: Error | null | undefined): Error | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return code === 'ERR_HTTP2_STREAM_ERROR' || code === 'ERR_HTTP2_SESSION_ERROR' ? undefined : error ?? undefined;
}

/**
 * Whether the server cut the request's connection because its body did not
 * arrive within its `requestTimeout`: Node destroys the connection with
 * ERR_HTTP_REQUEST_TIMEOUT, after answering 408 unless the response's head
 * was out (its own answer, or Fastify's clientError handler's). The server's
 * doing, as on Coda's own server (server/client-error.ts), not a client that
 * left; the framework's answer to the body it could not read (a 400, a 500)
 * never went out.
 */
function timedOut(socket: IncomingMessage['socket'] | null): boolean {
  return (socket?.errored as { code?: unknown } | null | undefined)?.code === 'ERR_HTTP_REQUEST_TIMEOUT';
}

/** Why a request was cut when a request behind it on its connection (pipelined) did not arrive in time. */
const BEHIND_TIMED_OUT = 'a request behind it on its connection did not arrive in time';

/**
 * How a request timeout on its connection cut `res`, as its client saw it.
 * Node (or Fastify's clientError handler) writes its 408 on the connection,
 * which the client reads as the answer of the response the connection was
 * answering (`_httpMessage`), if that one's head was not out: with
 * pipelined requests, the first's, though the body that timed out is the
 * second's. The request that timed out, queued behind, gets nothing.
 * Undefined for a request the cut did not concern.
 */
function requestTimeoutCut(res: ServerResponse, socket: Socket, complete: boolean, headOut: boolean): CutOff | undefined {
  const answering = responseOn(socket) === res;
  if (!answering && complete) return undefined;
  const reason = complete ? BEHIND_TIMED_OUT : TIMED_OUT;
  return answering && !headOut ? { status: 408, reason } : { reason };
}

/** The exchange Coda adopted for this response, if any: how a framework's `res.after()` finds its request. */
export function adoptedExchange(res: ServerResponse): AdoptedExchange | undefined {
  return (res as Partial<AdoptedResponse>)[kAdopted];
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/**
 * Whether `res` was destroyed: an HTTP/2 response (Node's compatibility API)
 * has no `destroyed`, its stream has. Or its connection was: the response
 * learns it only at the connection's `'close'`, and Node writes nothing to it
 * meanwhile (an answer a FirstByteGate replays then). A response queued
 * behind another on its connection (pipelined) has no socket yet: its
 * request's tells.
 */
function gone(res: AdoptedResponse): boolean {
  if (res.destroyed) return true;
  const stream = (res as Partial<NodeResponse>).stream;
  return stream === undefined ? (res.socket ?? res.req?.socket)?.destroyed === true : stream.destroyed;
}

/** The response whose `end()` is running: an `end(chunk)` that writes its chunk through `this.write()` (light-my-request's) counts it once. */
let ending: AdoptedResponse | undefined;

/** Node's `writeHead`, the status it wrote noted (see `headWritten`); one that throws (a head out already) wrote none. */
function notingWriteHead(this: AdoptedResponse, ...args: unknown[]): AdoptedResponse {
  const exchange = this[kAdopted];
  const lost = gone(this);
  const result = (exchange.priorWriteHead as (...args: unknown[]) => AdoptedResponse).apply(this, args);
  exchange.headWritten(lost);
  return result;
}

function countingWrite(this: AdoptedResponse, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
  const exchange = this[kAdopted];
  // Written to a response whose connection is gone (its handler answering a client that left), or after its end (Node refuses it): nothing is sent.
  if (ending !== this && !this.writableEnded && !gone(this)) exchange.bytesSent += byteLength(chunk, encoding);
  exchange.answered();
  return (exchange.priorWrite as (...args: unknown[]) => boolean).call(this, chunk, encoding, callback);
}

function countingEnd(this: AdoptedResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): AdoptedResponse {
  const exchange = this[kAdopted];
  if (!this.writableEnded && !gone(this)) exchange.bytesSent += byteLength(chunk, encoding);
  exchange.answered();
  const outer = ending;
  ending = this;
  try {
    return (exchange.priorEnd as (...args: unknown[]) => AdoptedResponse).call(this, chunk, encoding, callback);
  } finally {
    ending = outer;
  }
}

/**
 * Destroying the response is an answer (a stream's error handler does that; a
 * handler that drops a request it refuses): before its `'close'` too, which it
 * causes: that close must not be taken for a client that left while the handler
 * worked (the request would stay in flight for good).
 */
function answeringDestroy(this: AdoptedResponse, error?: Error): AdoptedResponse {
  const exchange = this[kAdopted];
  exchange.answered();
  // Node had written what end() (or an earlier write()) took before the destroy, and the client got it: an answer held for durable tasks goes out first too.
  // Over HTTP/2 the socket is its session's, shared by other streams: the gate holds the response's destroy alone.
  const socket = 'stream' in this ? undefined : this.socket;
  if ((socket === undefined || socket instanceof Socket) && exchange.holdDestroy(socket, () => exchange.priorDestroy.call(this, error))) return this;
  exchange.priorDestroy.call(this, error);
  return this;
}

/** The connections whose `destroy()` and `end()` are an answer of the request whose code calls them (see `answerOnClose`). */
const answering = new WeakSet<Socket>();

/**
 * Destroying the request's connection (`req.socket.destroy()`, `req.destroy()`
 * before the body's end) from the request's own code is an answer too, as
 * destroying its response is: the response's `'close'` that follows must not
 * be taken for a client that left while the handler worked (its request
 * stayed in flight until the shutdown's deadline). Told by the code calling
 * it, not by the close: the connection's `'close'` comes from outside any
 * request, as a client's leaving does, and so does Node's own destroy of a
 * connection its client left. So is ending it (`req.socket.end()`): a
 * handler that writes its own answer on the connection (a hijacked Fastify
 * reply's, test/skip-reply-send.test.js) writes nothing through its
 * response. So is writing on it (`req.socket.write(raw)`), even once its
 * client left (the handler does not know): a handler that never ends the
 * connection it wrote on stayed in flight. Node's own writes of a response
 * come here too, in its request's context: a check a write, the response's
 * `write`/`end` having answered already. Once per connection: its later
 * requests have it already.
 */
function answerOnClose(socket: Socket): void {
  if (answering.has(socket)) return;
  answering.add(socket);
  const { destroy, end, write } = socket;
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    ownRequestOn(this)?.answered();
    return (write as (...args: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
  socket.end = function (this: Socket, ...args: unknown[]): Socket {
    if (!this.destroyed) ownRequestOn(this)?.answered();
    return (end as (...args: unknown[]) => Socket).apply(this, args);
  } as Socket['end'];
  socket.destroy = function (this: Socket, error?: Error): Socket {
    // One gone already (its client left) is not destroyed by this call: a request's code may clean up after its client so.
    if (this.destroyed) return destroy.call(this, error);
    const own = ownRequestOn(this);
    const res = responseOn(this);
    const served = res == null ? undefined : adoptedExchange(res);
    if ((own !== undefined || served !== undefined) && byNodeTimeout()) {
      // The server cut it, its handler still at work: not a client that left, nor the handler's answer.
      const reason = idleCutOff(this.timeout);
      if (own !== undefined) own.cutOff ??= reason;
      if (served !== undefined) served.cutOff ??= reason;
    } else if (own !== undefined) {
      own.answered();
      if (own.holdDestroy(this, () => destroy.call(this, error))) return this;
    }
    return destroy.call(this, error);
  };
}

/** The adopted request whose code is running (the caller's async context), if it came on `socket`. */
function ownRequestOn(socket: Socket): AdoptedExchange | undefined {
  const current = currentRequest();
  return current instanceof AdoptedExchange && current.connection === socket ? current : undefined;
}

/** The response the connection is answering now (node:http's `_httpMessage`): a pipelined one behind it waits. */
function responseOn(socket: Socket): ServerResponse | null | undefined {
  return (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
}

/** Why Node's idle timeout (`server.setTimeout(ms)`, `server.timeout`, Fastify's `connectionTimeout`, `req.setTimeout(ms)`) cut a request: the outcome's `cutOff`. */
function idleCutOff(timeoutMs: number | undefined): string {
  return `nothing was read or written on its connection for ${timeoutMs} ms (the server's timeout)`;
}

/**
 * Whether the destroy under way is Node's own, of a connection whose timeout
 * nobody handles (`server.setTimeout(ms)` or `req.setTimeout(ms)` without a
 * callback): the latter runs from a timer the request's code set, so in its
 * context, while its handler still works. Told by the caller's frame
 * (node:http's socketOnTimeout), read only for a destroy of a connection with
 * an adopted request on it; a timeout callback's own destroy is a frame
 * further and still answers.
 */
function byNodeTimeout(): boolean {
  // 'Error', this function, the destroy() above, its caller.
  return new Error().stack?.split('\n', 4)[3]?.includes('socketOnTimeout') === true;
}

/**
 * A stream piped to the response (`source.pipe(res)`, `pipeline()`) is the
 * handler's answer, as a view's streamed body is: its client gone before the
 * stream's first chunk, Node unpipes it from the response that closed and
 * nothing is ever written to it, which left the request in flight for good.
 */
function onPipe(this: AdoptedResponse): void {
  this[kAdopted].answered();
}

function onClose(this: AdoptedResponse): void {
  closed(this);
}

function closed(res: AdoptedResponse): void {
  res[kAdopted].closed();
}
