import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HttpRequest, type RequestOptions, type RequestSource } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import type { AfterEntry, HttpResponse } from '../http/response.js';
import type { TaskEntry, TaskRegistration } from '../http/task-entry.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { kAbortStream, kAfterEntries, kDone, kStreamTaken } from '../symbols.js';
import { join, NO_ENTRIES } from './entries.js';
import type { Hold, Job } from './job.js';
import { taskRecord, type TaskRecord } from './reporting.js';
import type { AfterScheduler } from './scheduler.js';

/** What an exchange needs of its app. */
export interface ExchangeHost {
  readonly scheduler: AfterScheduler;
  readonly requestOptions: RequestOptions;
  /** The `requestFinished` receivers (the app's, then the process's) as entries, in a fresh array; undefined when none. */
  finishedReceivers(): AfterEntry[] | undefined;
  /** Told once, when the exchange's response is done: it lets go of the streams made and not sent (`unsent()`). */
  finished(exchange: Exchange): void;
  /** Told about a task registered after shutdown gave up on its request. */
  lost(record: TaskRecord): void;
  /** The app's `tasks.payloadLimit`. */
  readonly payloadLimit: number;
  /** A durable task registered for this exchange: the app's tasks journal it (held while the exchange is live). */
  registerTask(exchange: Exchange, entry: TaskEntry): Promise<TaskRegistration>;
}

/** The tasks a request gave one response (see `give`). */
interface Given {
  readonly response: HttpResponse;
  after: AfterEntry[] | undefined;
  tasks: TaskEntry[] | undefined;
}

const NO_GIVEN: readonly Given[] = [];
const NO_TASKS: readonly TaskEntry[] = [];
const LIVE = 0;
const DONE = 1;
/** Refused by admission control: nothing of the app ran, nothing runs after. */
const REFUSED = 2;
/** Given up at the shutdown deadline (while handled, or its tasks once done): its tasks are listed, not run. */
const ABANDONED = 3;

/**
 * One request's life, owned in one place: the request, the `afterResponse`
 * hooks of the middleware it entered, the tasks registered for it, its
 * response, what the transport learnt while sending it, and its outcome. Once
 * the response is done the exchange is the scheduler's job: its tasks start in
 * registration order. AsyncLocalStorage carries it through the request's async
 * call tree, which is how `after()` finds it.
 */
export class Exchange implements Job {
  /** The response being sent, once the pipeline has answered. */
  response: HttpResponse | undefined = undefined;
  /** Set when the response is done. */
  outcome: Outcome | undefined = undefined;
  /** Body bytes handed to the transport. */
  bytesSent = 0;
  /** Why writing the response failed, if it did. */
  error: unknown = undefined;
  /** Why the server cut its connection, should the response end unfinished (the outcome's `cutOff`): set for a shutdown timeout. */
  cutOff: string | undefined = undefined;
  /**
   * While the request is handled, the tasks `after()` registered; once the
   * response is done, every task of the job in start order. Shared and empty
   * (`NO_ENTRIES`), or borrowed, until a task is added.
   */
  entries: readonly AfterEntry[] = NO_ENTRIES;
  /** The next entry to start. */
  index = 0;
  /** In the scheduler's queue: some entry has yet to start. */
  queued = false;
  /** @internal Links among the app's exchanges in flight. */
  previous: Exchange | undefined = undefined;
  /** @internal */
  next: Exchange | undefined = undefined;
  #entered: AfterEntry[] | undefined = undefined;
  #holds: Hold[] | undefined = undefined;
  /** The tasks `response.after()` gave responses while the request was handled, by response (see `give`). */
  #given: Given[] | undefined = undefined;
  /** Streaming responses made while the request was handled (see `made`). */
  #streams: StreamingResponse[] | undefined = undefined;
  #state = LIVE;
  /** `after()` found the queue full while the request was handled (see `finish`). */
  #overflowed = false;
  /** The tasks listed as abandoned when shutdown gave up on the request. */
  #listed: readonly AfterEntry[] | undefined = undefined;
  readonly #host: ExchangeHost;
  #request: HttpRequest | undefined;

  /** `source` null: the request is made on first read, by `lateRequest` (see AdoptedExchange). */
  constructor(host: ExchangeHost, source: IncomingMessage | RequestSource | null) {
    this.#host = host;
    this.#request = source === null ? undefined : new HttpRequest(source, host.requestOptions, this);
  }

  get request(): HttpRequest {
    return (this.#request ??= this.lateRequest(this.#host.requestOptions));
  }

  /** When the request entered Coda, on the `performance.now()` clock. */
  get startedAt(): number {
    return this.request.startedAt;
  }

  /** The connection the request came on (an HTTP/2 request: its session's); none for `app.fetch` and the test client. */
  get connection(): Socket | undefined {
    return this.request.raw?.socket ?? undefined;
  }

  /** The request of an exchange made without one: a subclass that makes its request late says how. */
  protected lateRequest(_options: RequestOptions): HttpRequest {
    throw new Error('this exchange was made without its request and cannot make one');
  }

  /** A hooks middleware with `afterResponse` was entered: its hook runs once the response is done. */
  enter(entry: AfterEntry): void {
    const entered = (this.#entered ??= []);
    // Entered again (a factory outside it called inward twice, to retry): its hook still runs once, as Laravel's terminate().
    if (!entered.includes(entry)) entered.push(entry);
  }

  /** `after()`: the task waits for the response, or is queued at once if the response is done. */
  add(entry: AfterEntry): void {
    if (this.#state === ABANDONED) {
      this.#host.lost(taskRecord(entry, this, 'abandoned'));
      return;
    }
    let accepted: boolean;
    try {
      accepted = this.#host.scheduler.accept(entry, this);
    } catch (error) {
      if (this.#state === LIVE) this.#overflowed = true;
      throw error;
    }
    if (!accepted) return;
    if (ownsEntries(this)) (this.entries as AfterEntry[]).push(entry);
    else this.entries = this.entries.length === 0 ? [entry] : [...this.entries, entry];
    if (this.#state === DONE) this.#host.scheduler.enqueue(this);
  }

  get payloadLimit(): number {
    return this.#host.payloadLimit;
  }

  /** `after(task, payload)`: a durable task, journaled by the app. */
  addTask(entry: TaskEntry): Promise<TaskRegistration> {
    return this.#host.registerTask(this, entry);
  }

  /**
   * `response.after()` gave `response` a task while the request was handled:
   * the request's, kept here rather than on the response, which many
   * requests may share (a module-level constant): each runs its own tasks,
   * once. Should a middleware replace that response (a `processResponse`
   * returning a new one, an error in a hook turned into its response), its
   * tasks still run, before those of the response sent. A registered task is
   * never silently dropped.
   */
  give(response: HttpResponse, entry: AfterEntry): void {
    (this.#givenTo(response).after ??= []).push(entry);
  }

  /** `response.after(task, payload)` while the request was handled: journaled with the response sent (see `givenTasks`). */
  giveTask(response: HttpResponse, entry: TaskEntry): void {
    (this.#givenTo(response).tasks ??= []).push(entry);
  }

  #givenTo(response: HttpResponse): Given {
    const given = (this.#given ??= []);
    for (const record of given) if (record.response === response) return record;
    const record: Given = { response, after: undefined, tasks: undefined };
    given.push(record);
    return record;
  }

  /**
   * A `StreamingResponse` was made while the request was handled. Should
   * another response be sent instead (a middleware replaced it, or an error
   * came after it), nothing would read its stream: once the response is
   * done, `unsent()` names it, to be let go (Starlette's discarded response
   * sees a disconnect). One whose stream was taken into the response sent
   * (read, maybe only as that one was sent) ends with that one (see `finish`).
   */
  made(response: StreamingResponse): void {
    if (this.#state === LIVE) (this.#streams ??= []).push(response);
  }

  /**
   * Told to the host when the response is done: the streaming responses made
   * for the request but not sent, whose stream nobody read. Undefined when
   * none was made.
   */
  unsent(): StreamingResponse[] | undefined {
    const sent = this.response;
    return this.#streams?.filter((response) => response !== sent && !response[kStreamTaken]);
  }

  /** The response sent: `response`, set before the response was done. */
  sent(): HttpResponse {
    return this.response!;
  }

  /** Whether the app has answered the request: its view and middleware are done with it, its response sent or being sent. */
  get handled(): boolean {
    return this.response !== undefined;
  }

  /** Whether the response is not done yet: a durable task registered now is held until it is. */
  get live(): boolean {
    return this.#state === LIVE;
  }

  /** Shutdown gave up on the request (see `abandon`): no task registered for it now runs. */
  get abandoned(): boolean {
    return this.#state === ABANDONED;
  }

  /** A durable registration to release with the outcome once the response is done. */
  hold(hold: Hold): void {
    (this.#holds ??= []).push(hold);
  }

  /** Settles once every durable registration so far is journaled: the response's first byte waits for it. Undefined when there is none. */
  get journaled(): Promise<unknown> | undefined {
    const holds = this.#holds;
    if (holds === undefined) return undefined;
    return holds.length === 1 ? holds[0]!.journaled : Promise.all(holds.map((hold) => hold.journaled));
  }

  /** Refused by admission control: no task of it will run, not even `requestFinished` receivers. */
  refuse(): void {
    this.#state = REFUSED;
  }

  /**
   * Shutdown gave up on this request while it was still being handled: the
   * tasks registered so far are listed and given back; later ones are told
   * to the host as lost.
   */
  abandon(): TaskRecord[] {
    if (this.#state !== LIVE) return [];
    this.#state = ABANDONED;
    this.#host.scheduler.release(this.entries.length);
    // Those of a response being sent (a stream the deadline cuts) too; a copy, as a response's list may still grow.
    const given = this.#tasksThen(this.#entered) ?? NO_ENTRIES;
    this.#listed = [...given];
    return given.map((entry) => taskRecord(entry, this, 'abandoned'));
  }

  /**
   * Shutdown gave up on the tasks of this done request (the scheduler's
   * `abandon()` listed them): one a task of it registers later (it ignored
   * its signal, or an abort listener calls `after()`) is told to the host as
   * lost, not run after the shutdown that reported the rest.
   */
  giveUp(): void {
    if (this.#state === DONE) this.#state = ABANDONED;
  }

  /** The response is done (sent, or the client went away): hand its work to the scheduler. */
  finish(outcome: Outcome): void {
    if (this.outcome !== undefined) return;
    const state = this.#state;
    this.outcome = outcome;
    this.#state = state === LIVE ? DONE : state;
    // A request made later is told then (see lateRequest).
    this.#request?.[kDone](outcome.aborted);
    this.#host.finished(this);
    // The response sent ended unfinished (the client left, its stream failed), or its stream was never read (HEAD,
    // 204, 304): so do the streams a middleware took into it, whose source (a file, a wait for an event that may
    // never come) nothing else would let go. (Those nobody read were let go by the host, told above.)
    const sent = this.response;
    if (this.#streams !== undefined && (outcome.aborted || (sent instanceof StreamingResponse && !sent[kStreamTaken]))) {
      for (const response of this.#streams) if (response !== sent && response[kStreamTaken]) response[kAbortStream]();
    }
    this.#streams = undefined;
    if (this.#holds !== undefined) for (const hold of this.#holds) hold.release(outcome);
    if (state === REFUSED) return;
    if (this.#overflowed && outcome.status === 503) {
      // Refused as a full queue refuses a request: its client is told to retry, and the tasks it got in before
      // the queue filled would run again with the retry, so none of them runs (nor its hooks or receivers).
      this.#host.scheduler.release(this.entries.length);
      this.entries = NO_ENTRIES;
      this.#host.scheduler.submit(this, 0);
      return;
    }
    const accepted = this.entries.length;
    // The middleware's afterResponse hooks innermost first, as Django's process_response runs.
    let entries = this.#tasksThen(this.#entered?.reverse());
    if (state === ABANDONED) {
      // What was listed in the shutdown report is not told again; `requestFinished` receivers are no task of the request's.
      const listed = this.#listed!;
      for (const entry of entries ?? NO_ENTRIES) if (!listed.includes(entry)) this.#host.lost(taskRecord(entry, this, 'abandoned'));
      return;
    }
    entries = join(entries, this.#host.finishedReceivers()) ?? NO_ENTRIES;
    this.entries = entries;
    this.#host.scheduler.submit(this, accepted);
  }

  /**
   * The request's tasks: its own, those given responses replaced by the one
   * sent, the sent response's (those it was built with, then those the
   * request gave it), then `entered` (afterResponse hooks). No response for
   * an exchange another framework answered: it is made only if a task reads
   * it (see adopt.ts).
   */
  #tasksThen(entered: readonly AfterEntry[] | undefined): readonly AfterEntry[] | undefined {
    const sent = this.response;
    let replaced: AfterEntry[] | undefined;
    let own: readonly AfterEntry[] | undefined = sent?.[kAfterEntries];
    for (const record of this.#given ?? NO_GIVEN) {
      if (record.response === sent) own = join(own, record.after);
      else if (record.after !== undefined) (replaced ??= []).push(...record.after);
    }
    return join(join(join(this.entries, replaced), own), entered);
  }

  /**
   * The durable tasks `response.after()` gave while the request was handled
   * (to `response`, or to responses it replaced): journaled with those
   * `response` was built with.
   */
  givenTasks(): readonly TaskEntry[] {
    if (this.#given === undefined) return NO_TASKS;
    const tasks: TaskEntry[] = [];
    for (const record of this.#given) if (record.tasks !== undefined) tasks.push(...record.tasks);
    return tasks;
  }

  /** Keeps the first `count` entries: the rest were dropped at a full queue. */
  truncate(count: number): void {
    this.entries = this.entries.slice(0, count);
  }
}

/**
 * Whether `exchange.entries` is the exchange's own array, to push to. Every
 * array it gets is, but the shared empty one and the response's list, which a
 * response reused across requests shares. (A function, not a private method:
 * that would cost each exchange a brand field, as much as a flag.)
 */
function ownsEntries(exchange: Exchange): boolean {
  return exchange.entries !== NO_ENTRIES && exchange.entries !== exchange.response?.[kAfterEntries];
}
