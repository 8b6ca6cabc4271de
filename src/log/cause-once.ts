/**
 * `error` as a log line's `err`, its causes' messages said once. Coda's
 * errors say their cause in their own message ("bullmq store … is
 * unavailable: Command timed out"), as a message is often read alone (a 503's
 * body, a task's kept error), and keep it as `cause`; pino's error serializer
 * (pino-std-serializers) appends each cause's message to the error's, so that
 * each line said the cause twice, or more down a chain. It appends none of a
 * cause given VError's way, as a function that returns it: that says the
 * message says it already. So the line gets a copy of the chain (each
 * error's class, message, stack and fields) in which a cause its error's
 * message says is given so; the stack still reads "caused by: …". The error
 * thrown keeps its cause as it is, for everything else that reads it
 * (tracing, a catch). A logger that serializes errors otherwise gets the same
 * message and stack; one that nests causes (pino's errWithCause) every cause.
 * Every error line goes through it (writeSafely(), or at its call).
 */
export function causeSaidOnce(error: unknown): unknown {
  try {
    return copied(error, new Map());
  } catch {
    // An error whose reading throws (a Proxy, a getter) is logged as it is: safeLog() handles a line that throws.
    return error;
  }
}

/**
 * `error` copied down its whole chain (a link that does not say its cause may
 * have one below it that does), a cause its message says given VError's way.
 * `copies`: each error of the chain copied once, so that a chain that loops
 * back ends (pino tells one by the objects it has seen).
 */
function copied(error: unknown, copies: Map<Error, Error>): unknown {
  if (!(error instanceof Error)) return error;
  const cause: unknown = error.cause;
  // A function is a cause given VError's way (a copy's, logged again): left as it is.
  if (typeof cause !== 'object' || !(cause instanceof Error)) return error;
  let copy = copies.get(error);
  if (copy !== undefined) return copy;
  copy = Object.assign(new Error(error.message), error);
  copies.set(error, copy);
  Object.defineProperty(copy, 'stack', { value: error.stack, writable: true, configurable: true });
  const next = copied(cause, copies) as Error;
  Object.defineProperty(copy, 'cause', { value: error.message.includes(cause.message) ? saidAlready(next) : next, writable: true, enumerable: false, configurable: true });
  Object.setPrototypeOf(copy, Object.getPrototypeOf(error) as object);
  return copy;
}

/**
 * `cause` given VError's way, as a function that returns it, which pino's
 * err serializer calls without appending its message. The function inherits
 * from `cause`: a serializer that nests causes (pino's errWithCause) reads
 * its class, message, stack, fields and own cause as the cause's, where it
 * dropped a function cause and every cause below it.
 */
function saidAlready(cause: Error): () => Error {
  const said = (): Error => cause;
  Object.setPrototypeOf(said, cause);
  return said;
}
