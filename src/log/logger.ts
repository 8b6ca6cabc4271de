import { pino, type Logger } from 'pino';

export type { Logger };

/** The levels `CODA_LOG_LEVEL` may name (in any case, as pino takes them). */
const LEVELS = [...Object.keys(pino.levels.values), 'silent'];

/**
 * The default logger: pino, JSON lines on stdout, level from `CODA_LOG_LEVEL`
 * (else `info`), and silent under a test runner (`node --test`, vitest, jest:
 * an access line per request would bury its report) unless `CODA_LOG_LEVEL`
 * is set. Set empty, it counts as unset (`LOG_LEVEL=${LOG_LEVEL}` in a compose
 * file with none); a level pino does not know is refused, naming the variable.
 */
export function defaultLogger(): Logger {
  const { CODA_LOG_LEVEL, NODE_TEST_CONTEXT, VITEST, JEST_WORKER_ID } = process.env;
  const given = CODA_LOG_LEVEL === '' ? undefined : CODA_LOG_LEVEL?.toLowerCase();
  if (given !== undefined && !LEVELS.includes(given)) {
    throw new TypeError(`CODA_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(CODA_LOG_LEVEL)}`);
  }
  const level = given ?? (NODE_TEST_CONTEXT || VITEST || JEST_WORKER_ID ? 'silent' : 'info');
  return pino({ level, base: undefined });
}

/**
 * pino's method for a level its logger drops: one shared no-op, which pino
 * puts in place of every disabled level's method (and back on a level
 * change, its children's too). Comparing against it tells a dropped line
 * with one load, where `isLevelEnabled()` costs hundreds of instructions;
 * any other logger is asked as before.
 */
const DROPPED = pino({ level: 'silent' }).info;

/** Whether `logger` writes lines at `level`: skip building one nobody reads. */
export function logsAt(logger: Logger, level: 'error' | 'warn' | 'info' | 'debug'): boolean {
  if (logger[level] === DROPPED) return false;
  return typeof logger.isLevelEnabled !== 'function' || logger.isLevelEnabled(level);
}

/**
 * `logger`'s child bound to `bindings`, or `logger` itself when making the
 * child throws (a `formatters.bindings` or a serializer of a bound field that
 * throws): the lines are written without the bindings. Thrown from
 * `request.log`, it failed a request's error handling: the request never
 * answered, the throw uncaught.
 */
export function childOf(logger: Logger, bindings: Record<string, unknown>): Logger {
  try {
    return logger.child(bindings);
  } catch {
    return logger;
  }
}
