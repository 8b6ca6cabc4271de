import type { ServerResponse } from 'node:http';
import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import type { Delivery } from '../server/send.js';
import { Job, NO_ENTRIES } from './job.js';
import type { AfterScheduler } from './scheduler.js';
import { signals } from './signals.js';
import type { AfterEntry, Outcome } from './types.js';

/** One response on a Node socket, watched until its `'close'`. */
interface Exchange extends Delivery {
  request: HttpRequest;
  response: HttpResponse;
  work: AfterWork;
}

const kExchange = Symbol('coda.exchange');
type WatchedResponse = ServerResponse & { [kExchange]: Exchange };

/**
 * Gathers a request's after-response work when its response is done and hands
 * it to the scheduler: `after()` tasks, `response.after()` tasks, the
 * `afterResponse` hooks of the middleware it entered (in `processResponse`
 * order), then `requestFinished` receivers.
 */
export class AfterWork {
  constructor(
    readonly scheduler: AfterScheduler,
    /** Told once per request, when its response is done. */
    readonly onRequestDone: () => void,
  ) {}

  /** `after()`: before the response is done, the task waits for it; after, it is queued at once. */
  add(request: HttpRequest, entry: AfterEntry): void {
    const job = request.afterJob;
    if (job === undefined) (request.afterEntries ??= []).push(entry);
    else this.scheduler.append(job, entry);
  }

  /**
   * Watches a Node response for its `'close'`, which comes after `'finish'`
   * when the response completed, or alone when the connection went first.
   * One shared listener; the state rides on the response.
   */
  watch(res: ServerResponse, request: HttpRequest, response: HttpResponse): Delivery {
    const exchange: Exchange = { request, response, work: this, bytesSent: 0, error: undefined };
    (res as WatchedResponse)[kExchange] = exchange;
    // The client may have gone while the view was still working: 'close' has fired already.
    if (res.closed) done(res);
    else res.on('close', onClose);
    return exchange;
  }

  /** The response is done (sent, or the client went away): queue its work. */
  finish(request: HttpRequest, response: HttpResponse, outcome: Outcome): void {
    this.onRequestDone();
    let entries = join(request.afterEntries, response.afterEntries);
    const entered = request.enteredMiddleware;
    if (entered !== undefined) entries = join(entries, entered.reverse());
    const receivers = signals.requestFinished.entries;
    // Copied: tasks added while the job runs must not land in the signal's own list.
    if (receivers.length > 0) entries = entries === undefined ? receivers.slice() : entries.concat(receivers);
    const job = new Job(request, response, outcome, entries ?? NO_ENTRIES);
    request.afterJob = job;
    request.release();
    this.scheduler.submit(job);
  }
}

function join(a: AfterEntry[] | undefined, b: AfterEntry[] | undefined): AfterEntry[] | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : a.concat(b);
}

function onClose(this: ServerResponse): void {
  done(this);
}

function done(res: ServerResponse): void {
  const exchange = (res as WatchedResponse)[kExchange];
  const { request, response } = exchange;
  const completed = res.writableFinished;
  const outcome: Outcome = {
    status: response.status,
    completed,
    aborted: !completed,
    bytesSent: exchange.bytesSent,
    startedAt: request.startedAt,
    finishedAt: performance.now(),
  };
  if (exchange.error !== undefined) outcome.error = exchange.error;
  exchange.work.finish(request, response, outcome);
}
