import type { ServerResponse } from 'node:http';
import type { Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import { sendsBody } from '../framing.js';

/** The `ServerResponse` methods that put bytes on the wire, or fix the head that goes first. */
const METHODS = ['writeHead', 'flushHeaders', 'write', 'end'] as const;
type Method = (typeof METHODS)[number];
type Call = { method: Method; args: unknown[] };
type Methods = Record<Method, (...args: unknown[]) => unknown>;
/** The methods that change the head, which Node refuses once it went out: each with the verb of Node's message. */
const HEAD_SETTERS = { setHeader: 'set', setHeaders: 'set', appendHeader: 'append', removeHeader: 'remove' } as const;
/** What the gate answers for Node while holding: the head out once a call that writes it is queued, the response ended once its `end()` is. */
const STATE = ['headersSent', 'writableEnded', 'finished'] as const;

const HOLDING = 0;
const OPEN = 1;
/** The journal failed: what the framework writes from now on is dropped (the refusal went out instead). */
const DISCARDING = 2;

/**
 * Holds back the first byte of a response another framework writes until
 * the durable tasks registered for it are journaled (durable.md, promise 1).
 * Coda's own pipeline awaits the journal before it sends; a foreign framework
 * writes when it likes, so its calls to `writeHead`, `flushHeaders`, `write`
 * and `end` are queued, in order, and replayed once every registration is in
 * the store. If the store fails, they are dropped and `refuse` answers
 * instead (a 503 naming the store). Installed only on a response that has
 * durable tasks: others pay nothing.
 */
export class FirstByteGate {
  readonly #res: ServerResponse;
  readonly #refuse: (error: unknown) => void;
  readonly #answered: () => void;
  readonly #prior: Methods;
  readonly #calls: Call[] = [];
  #pending = 0;
  #state = HOLDING;
  /**
   * The status a queued call's head goes out with (`writeHead`, or Node's implicit one in the others), taken
   * then: one set after (an Express error handler's `res.status(500)` once `res.send()` was queued) is not it.
   */
  #head: Status | undefined = undefined;
  /** `end()` was called. */
  #ended = false;
  /** The request's code destroyed the response or its connection once something was queued: what it calls after is dropped, as Node drops it. */
  #destroyed = false;
  /** The response's own properties the gate poses over (node:http's `finished` and `destroyed`), as Node sets them meanwhile. */
  readonly #own = new Map<string, unknown>();
  /** Ends the connection (or HTTP/2 stream) the request's own code destroyed once its answer was queued (see `holdDestroy`). */
  #endConnection: (() => void) | undefined = undefined;
  /** Bytes of the writes queued: past the response's high-water mark, write() says to wait for 'drain', as Node's does. */
  #queued = 0;
  /** The held destroy runs: its own destroy of the connection (a response's destroys its socket) is not held again. */
  #releasing = false;
  /** Over HTTP/2: the response's stream, whose `close` and `destroy` the gate holds (see `#holdStream`). */
  readonly #stream: Http2Stream | undefined;

  /** `answered`: told of each call the framework makes, held or dropped (its handler has answered: see AdoptedExchange). */
  constructor(res: ServerResponse, refuse: (error: unknown) => void, answered: () => void) {
    this.#res = res;
    this.#refuse = refuse;
    this.#answered = answered;
    const target = res as unknown as Methods;
    this.#prior = { writeHead: target.writeHead, flushHeaders: target.flushHeaders, write: target.write, end: target.end };
    this.#install();
    this.#pose();
    this.#stream = (res as Partial<{ stream: Http2Stream }>).stream;
    if (this.#stream !== undefined) this.#holdStream(this.#stream);
  }

  /**
   * While holding, the response answers as Node's would with what was
   * queued out: `headersSent`, `writableEnded` and `finished` (on-finished
   * reads it) say so, `destroyed` once a destroy is held (see
   * `holdDestroy`), and a head changed after it is refused with Node's
   * ERR_HTTP_HEADERS_SENT, in the caller.
   * Queued instead, a second answer (Express's `res.send()` twice) changed
   * the first's head and was replayed after it, where Node threw out of the
   * replay: an uncaught exception. Frameworks read these to send nothing more.
   */
  #pose(): void {
    const res = this.#res;
    const state = { headersSent: () => this.#head !== undefined, writableEnded: () => this.#ended, finished: () => this.#ended };
    for (const name of STATE) this.#poseOver(name, state[name]);
    // An HTTP/2 response has no `destroyed` (its stream has).
    if (Object.hasOwn(res, 'destroyed')) this.#poseOver('destroyed', () => this.#destroyed || this.#own.get('destroyed') === true);
    for (const [name, verb] of Object.entries(HEAD_SETTERS)) {
      const prior = (res as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
      if (prior === undefined) continue;
      Object.defineProperty(res, name, {
        configurable: true,
        writable: true,
        value: (...args: unknown[]): unknown => {
          if (this.#head !== undefined) throw headersSent(verb);
          return prior.apply(res, args);
        },
      });
    }
  }

  /** Answers `get` for the response's `name`; an own property's value (`finished`) is kept, and what Node sets it to meanwhile, for `#restore`. */
  #poseOver(name: string, get: () => boolean): void {
    const own = Object.hasOwn(this.#res, name);
    if (own) this.#own.set(name, (this.#res as unknown as Record<string, unknown>)[name]);
    const set = own ? (value: unknown) => { this.#own.set(name, value); } : undefined;
    Object.defineProperty(this.#res, name, { configurable: true, get, set });
  }

  /** Puts the gate's methods on the response: queued while holding, dropped once discarding. */
  #install(): void {
    const res = this.#res;
    const target = res as unknown as Methods;
    for (const method of METHODS) {
      target[method] = (...args: unknown[]): unknown => {
        if (this.#state === HOLDING) {
          if (method === 'writeHead' && this.#head !== undefined) throw headersSent('write');
          this.#ended ||= method === 'end';
          if (!this.#destroyed) {
            this.#calls.push({ method, args });
            this.#head ??= { statusCode: res.statusCode, statusMessage: res.statusMessage };
          }
        }
        this.#answered();
        // write() says the data was taken (into the queue), or refused once destroyed; the others answer as Node's do.
        return method === 'write' ? this.#taken(args[0], args[1]) : method === 'flushHeaders' ? undefined : res;
      };
    }
  }

  /**
   * write()'s answer while holding: false once destroyed, or once the queue
   * holds the response's high-water mark (a stream piped to it waits for
   * 'drain' then, as for Node's: told true, it was read whole into the queue
   * while the journal was written, an endless one for as long). Always true
   * for a response without a body (a HEAD's, a 204's): Node's write() takes
   * nothing there, says true and owes no 'drain'.
   */
  #taken(chunk: unknown, encoding: unknown): boolean {
    if (this.#destroyed) return false;
    if (this.#state !== HOLDING || !sendsBody(this.#res.req?.method ?? 'GET', this.#head!.statusCode)) return true;
    this.#queued += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Uint8Array | undefined)?.byteLength ?? 0;
    // Past it, the replay hands Node the mark's worth in one turn (its first writes corked): its write() says to wait too, and it emits the 'drain'.
    return this.#queued < (this.#res.writableHighWaterMark ?? getDefaultHighWaterMark(false));
  }

  /** Whether the gate still holds the response back: a later registration must be waited for too. */
  get holding(): boolean {
    return this.#state === HOLDING;
  }

  /** The response waits for `journaled` too. */
  wait(journaled: Promise<unknown>): void {
    this.#pending++;
    journaled.then(
      () => {
        if (--this.#pending === 0 && this.#state === HOLDING) this.#open();
      },
      (error: unknown) => {
        if (this.#state === HOLDING) this.#fail(error);
      },
    );
  }

  /**
   * The request's own code destroys its connection (`socket`), or its
   * response, once part or all of its answer was queued: Express's final
   * handler does, for an error after `res.send()`; a handler may
   * `res.destroy()` after `res.send()`, or after `res.write()` (a stream that
   * failed mid-way). Without the gate, Node had written that answer (or part)
   * out before, and the client got it; destroyed now, the connection was
   * reset and the answer lost. The gate ends the connection once it has
   * replayed what was queued (or the refusal) instead, and calls `destroy`
   * when that is written; what the request's code calls meanwhile is
   * dropped, as Node drops it once destroyed. No `socket` over HTTP/2: the
   * response's destroy is held. True for a destroy already held (Node's
   * second does nothing); false when nothing is held: the destroy is the
   * caller's to do.
   */
  holdDestroy(socket: Socket | undefined, destroy: () => void): boolean {
    // HTTP/2's (see #holdStream): its stream's state says destroyed at once, and refuses the replay.
    if (socket === undefined) return this.#hold(() => this.#afterEnd(destroy));
    if (!this.#destroyed && socket.destroyed) return false;
    // A turn later: Node 26 hands a response's writes to its socket on the next tick (it corks them), and a socket
    // ended at once dropped what was replayed (the head and the part written).
    // Released from the request's async context (its setImmediate, a 'finish' emitted on a tick it queued): the socket's destroy
    // that the response's makes would be taken for the request's code destroying it again, and dropped with its error.
    const release = (): void => {
      this.#releasing = true;
      destroy();
    };
    return this.#hold(() => setImmediate(() => {
      if (socket.destroyed) return;
      socket.end();
      if (socket.writableFinished) release();
      else socket.once('finish', release);
    }));
  }

  /**
   * Over HTTP/2 the request's code ends its stream, not its connection (other
   * streams share it): `res.destroy()` (which destroys the stream),
   * `res.stream.close()` and `res.stream.destroy()` are held as `holdDestroy`
   * holds an HTTP/1 destroy, and run once what was queued is replayed (a
   * `close()` cut the stream before its head: the client got no answer).
   * Node's own (a client's reset, its session's end) are not held: the stream
   * is closed, or its session destroyed, by then.
   */
  #holdStream(stream: Http2Stream): void {
    for (const name of ['close', 'destroy'] as const) {
      const prior = stream[name] as (...args: unknown[]) => unknown;
      stream[name] = (...args: unknown[]): never => {
        const nodes = stream.closed || stream.session === undefined || stream.session.destroyed;
        const end = () => prior.apply(stream, args);
        if (nodes || !this.#hold(() => this.#afterEnd(end))) return end() as never;
        return (name === 'destroy' ? stream : undefined) as never;
      };
    }
  }

  /** Runs `end` once an ended HTTP/2 stream wrote its body: destroyed as the replayed `end()` returns, it dropped what it had not written yet. */
  #afterEnd(end: () => void): void {
    const stream = this.#stream!;
    if (stream.writableEnded && !stream.writableFinished) stream.once('finish', end);
    else end();
  }

  /** Defers `end` until what was queued is replayed; true for a destroy already held, false when nothing is held or the held one runs. */
  #hold(end: () => void): boolean {
    if (this.#destroyed) return !this.#releasing;
    if (this.#state !== HOLDING || this.#calls.length === 0) return false;
    this.#destroyed = true;
    this.#endConnection = end;
    return true;
  }

  #restore(): void {
    Object.assign(this.#res, this.#prior);
    // Node's own again: what is replayed (or the refusal) sets them.
    for (const name of [...STATE, 'destroyed', ...Object.keys(HEAD_SETTERS)]) delete (this.#res as unknown as Record<string, unknown>)[name];
    Object.assign(this.#res, Object.fromEntries(this.#own));
    if (this.#stream !== undefined) for (const name of ['close', 'destroy']) delete (this.#stream as unknown as Record<string, unknown>)[name];
  }

  /** Every registration is journaled: what the framework wrote goes out, in order. */
  #open(): void {
    this.#state = OPEN;
    this.#restore();
    const target = this.#res as unknown as Methods;
    // A client gone meanwhile: the exchange is finished (the calls held told it the handler answered), and Node would refuse the writes.
    if (this.#res.destroyed) return;
    // With the status it had when queued, as Node would have sent it: one set since changes no head.
    if (this.#head !== undefined) Object.assign(this.#res, this.#head);
    for (const { method, args } of this.#calls) target[method](...args);
    this.#calls.length = 0;
    this.#endConnection?.();
  }

  #fail(error: unknown): void {
    this.#state = DISCARDING;
    this.#calls.length = 0;
    this.#restore();
    if (!this.#res.destroyed) {
      // What the framework set for its own answer does not describe the refusal.
      for (const name of this.#res.getHeaderNames()) this.#res.removeHeader(name);
      this.#refuse(error);
    }
    this.#endConnection?.();
    // Writes the framework still makes (a stream it is piping) would be writes after end, emitted as errors.
    this.#install();
  }
}

/** The status line of a head. */
type Status = Pick<ServerResponse, 'statusCode' | 'statusMessage'>;

/** Node's refusal of a head changed once it went out (its own error class is internal). */
function headersSent(verb: string): Error {
  return Object.assign(new Error(`Cannot ${verb} headers after they are sent to the client`), { code: 'ERR_HTTP_HEADERS_SENT' });
}
