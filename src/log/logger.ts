import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The default logger: pino, JSON lines on stdout, level from `CODA_LOG_LEVEL`
 * (else `info`), and silent under `node --test` unless `CODA_LOG_LEVEL` is set.
 */
export function defaultLogger(): Logger {
  const level = process.env.CODA_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');
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
