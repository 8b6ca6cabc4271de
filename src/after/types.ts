import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';

/**
 * What happened to a response on the wire, handed to every after-response task.
 * Times are milliseconds on the `performance.now()` clock (monotonic, from
 * `performance.timeOrigin`): subtract them, do not read them as dates.
 */
export interface Outcome {
  /** The status sent (or that was being sent when the connection closed). */
  status: number;
  /** Every byte was handed to the operating system (`'finish'`). */
  completed: boolean;
  /** The connection closed before the response was complete. */
  aborted: boolean;
  /** Set when writing the response failed, e.g. a stream that threw. */
  error?: unknown;
  /** Body bytes handed to the transport. */
  bytesSent: number;
  /** When the request entered Coda. */
  startedAt: number;
  /** When the response finished or the connection closed. */
  finishedAt: number;
}

/** What an after-response task receives. */
export interface AfterContext {
  request: HttpRequest;
  response: HttpResponse;
  outcome: Outcome;
  /** Fires when the task's timeout passes or shutdown reaches its deadline. */
  signal: AbortSignal;
}

export type AfterTask = (context: AfterContext) => void | Promise<void>;

export interface AfterOptions {
  /** Labels the task in logs, errors, metrics and the shutdown report. */
  name?: string;
  /**
   * `'always'` (default) runs the task whatever happened; `'completed'` skips it
   * when the client went away first; `'success'` runs it only for a completed
   * 2xx or 3xx response.
   */
  when?: 'always' | 'completed' | 'success';
  /** Overrides the app's `after.timeoutMs` for this task. */
  timeoutMs?: number;
}

/** A task and its options, as registered on a response. */
export interface AfterEntry {
  task: AfterTask;
  options: AfterOptions | undefined;
}
