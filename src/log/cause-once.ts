/**
 * `error` as a log line's `err`, its causes' messages said once. Coda's
 * errors say their cause in their own message ("bullmq store … is
 * unavailable: Command timed out"), as a message is often read alone (a 503's
 * body, a task's kept error), and keep it as `cause`; pino's error serializer
 * (pino-std-serializers) appends each cause's message to the error's, so that
 * each line said the cause twice, or more down a chain. It appends none of a
 * cause given VError's way, as a function that returns it: that says the
 * message says it already. So, where a message says its cause's, the line
 * gets a copy (its class, message, stack and fields) whose cause is given so;
 * the stack still reads "caused by: …". The error thrown keeps its cause as
 * it is, for everything else that reads it (tracing, a catch). A logger that
 * serializes errors otherwise gets the same message and stack.
 */
export function causeSaidOnce(error: unknown): unknown {
  try {
    return copied(error, new Map());
  } catch {
    // An error whose reading throws (a Proxy, a getter) is logged as it is: safeLog() handles a line that throws.
    return error;
  }
}

/** `copies`: each error of the chain copied once, so that a chain that loops back ends (pino tells one by the objects it has seen). */
function copied(error: unknown, copies: Map<Error, Error>): unknown {
  if (!(error instanceof Error)) return error;
  const cause: unknown = error.cause;
  if (!(cause instanceof Error) || !error.message.includes(cause.message)) return error;
  let copy = copies.get(error);
  if (copy !== undefined) return copy;
  copy = Object.assign(new Error(error.message), error);
  Object.defineProperty(copy, 'stack', { value: error.stack, writable: true, configurable: true });
  Object.defineProperty(copy, 'cause', { value: () => copied(cause, copies), writable: true, configurable: true });
  Object.setPrototypeOf(copy, Object.getPrototypeOf(error) as object);
  copies.set(error, copy);
  return copy;
}
