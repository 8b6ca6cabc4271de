/**
 * What happened to a response on the wire, handed to every after-response task.
 * Times are milliseconds on the `performance.now()` clock (monotonic, from
 * `performance.timeOrigin`): subtract them, do not read them as dates.
 */
export interface Outcome {
  /** The status sent (or that was being sent when the connection closed; see `headersSent`). */
  status: number;
  /**
   * Whether the response's status line and headers went out (as Node's
   * `res.headersSent`): false when the client left before they did, so
   * nothing was sent and `status` is only the one the app chose. Coda sets
   * it on every outcome it makes; one made by hand without it reads as true.
   */
  headersSent?: boolean;
  /** Every byte was handed to the operating system (`'finish'`). */
  completed: boolean;
  /** The connection closed before the response was complete. */
  aborted: boolean;
  /**
   * Set when the server ended the request, not the client: why. Its body did
   * not arrive in time (`status` is then the 408 the server answered in the
   * app's stead) or was malformed (a 400), or the client took none of the
   * response for `sendTimeoutMs`, or (a request another framework answers)
   * Node's idle timeout closed its connection while its handler worked.
   */
  cutOff?: string;
  /** Set when writing the response failed, e.g. a stream that threw. */
  error?: unknown;
  /** Body bytes handed to the transport. */
  bytesSent: number;
  /** When the request entered Coda. */
  startedAt: number;
  /** When the response finished or the connection closed. */
  finishedAt: number;
}
