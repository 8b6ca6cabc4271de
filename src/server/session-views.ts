import { constants, Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Logger } from '../log/logger.js';
import { refusalOf, type Refusal } from '../observe/refusal.js';
import { kAnswered, kCutOff } from '../symbols.js';
import type { NodeResponse } from '../transport/node/response.js';
import { Queue } from '../util/queue.js';
import type { Handler } from './header-list.js';

/**
 * The most streams one HTTP/2 session may have open at once (its SETTINGS;
 * RFC 9113 5.1.2 asks for no fewer than 100; nginx allows 128, Go 250), and
 * the most of its requests the app works on at once (`limitSessionViews`).
 * Node's default is 2^32-1: one connection could start thousands of views at
 * once (5,000 measured), where an HTTP/1.1 connection starts one at a time
 * (see pipelining.ts). nghttp2 refuses a stream past it (REFUSED_STREAM, which
 * a client retries) even before the client has acknowledged the SETTINGS.
 */
export const MAX_CONCURRENT_STREAMS = 100;

/** How many requests of a session may wait for one of its views to end before the session is ended: Go's bound. */
const MAX_WAITING = 4 * MAX_CONCURRENT_STREAMS;

/** A session's requests the app works on, and those waiting for one of them to end. */
interface Views {
  running: number;
  /** Past `MAX_WAITING`: its GOAWAY is sent, and the requests still coming in its frames are dropped with it. */
  ended: boolean;
  readonly waiting: Queue<[Http2ServerRequest, Http2ServerResponse]>;
}

type Session = ServerHttp2Session & { [kViews]?: Views };

const kViews = Symbol('coda.sessionViews');

/**
 * `handler`, but one HTTP/2 session has at most `MAX_CONCURRENT_STREAMS`
 * requests in the app at once. nghttp2 counts a stream against that limit
 * only while it is open, and a client that resets it (RST_STREAM) frees its
 * place at once while its view works on: rapid resets (CVE-2023-44487)
 * started 1,142 views from one connection, 45,680 from forty, before Node
 * ended each session. As Go's server does since (CVE-2023-39325), a request
 * holds its place until its stream has closed and the app has answered it;
 * one past the limit waits for a place, in order; a session with more than
 * `MAX_WAITING` waiting is ended (GOAWAY ENHANCE_YOUR_CALM), and a request
 * its client reset while it waited never reaches the app. One the server
 * answered while it waited (a body too slow: 408, request-timeout.ts) is
 * `refused`, as the other requests the app never saw are. A client that
 * resets nothing never waits: nghttp2 holds it to the limit already.
 * HTTP/1.1 requests pass straight through.
 */
export function limitSessionViews(handler: Handler, logger: Logger, refused: (refusal: Refusal) => void): Handler {
  return (request, response) => {
    if (!(request instanceof Http2ServerRequest)) {
      handler(request, response);
      return;
    }
    const session = request.stream.session as Session | undefined;
    // Node emits a stream a turn after its HEADERS: a flood that made Node end the session meanwhile destroyed the
    // stream with it (its session then reads undefined), and its client is gone: it never reaches the app.
    if (session === undefined) return;
    const views = (session[kViews] ??= watchSession(session));
    if (views.running < MAX_CONCURRENT_STREAMS) {
      start(views, handler, request, response as Http2ServerResponse);
    } else if (views.waiting.length < MAX_WAITING) {
      views.waiting.push([request, response as Http2ServerResponse]);
      // The address read now: once the stream has closed, its request's socket answers nothing.
      const peer = { remoteAddress: session.socket?.remoteAddress };
      request.stream.once('close', () => refuseUnstarted(response as NodeResponse, peer, refused));
    } else if (!views.ended) {
      views.ended = true;
      logger.warn(
        { remoteAddress: session.socket?.remoteAddress, running: views.running, waiting: views.waiting.length },
        `HTTP/2 session ended (GOAWAY ENHANCE_YOUR_CALM): its client reset streams whose views still ran, until ${MAX_WAITING} more requests waited for them (rapid reset, CVE-2023-44487)`,
      );
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      // Once the GOAWAY is out: destroyed now, the connection would close before it.
      setImmediate(() => session.destroy());
    }
  };
}

function watchSession(session: Session): Views {
  const views: Views = { running: 0, ended: false, waiting: new Queue() };
  // Those still waiting are closed with it: let go of them.
  session.once('close', () => views.waiting.takeAll());
  return views;
}

/** Runs the request: its place is given back once its stream has closed and the app has answered it, whichever comes last. */
function start(views: Views, handler: Handler, request: Http2ServerRequest, response: Http2ServerResponse): void {
  views.running++;
  let pending = 2;
  const done = (): void => {
    if (--pending > 0) return;
    views.running--;
    startWaiting(views, handler);
  };
  request.stream.once('close', done);
  (response as NodeResponse)[kAnswered] = done;
  handler(request, response);
}

/** Records a request whose stream closed while it waited, if the server answered it in the app's stead; one that started is the app's to record. */
function refuseUnstarted(response: NodeResponse, peer: { remoteAddress: string | undefined }, refused: (refusal: Refusal) => void): void {
  const cut = response[kCutOff];
  if (response[kAnswered] === undefined && cut?.status !== undefined) refused(refusalOf(cut.status, cut.reason, peer));
}

/**
 * Starts the requests waiting while there is room, passing over those their
 * client reset meanwhile, and those the server answered in the app's stead
 * (a 408: its stream closes on a later turn).
 */
function startWaiting(views: Views, handler: Handler): void {
  while (views.running < MAX_CONCURRENT_STREAMS && views.waiting.length > 0) {
    const [request, response] = views.waiting.shift()!;
    if (!request.stream.destroyed && (response as NodeResponse)[kCutOff] === undefined) start(views, handler, request, response);
  }
}
