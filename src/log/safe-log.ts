import type { LogFn, Logger } from 'pino';
import { errorMessage } from '../util/describe.js';
import { causeSaidOnce } from './cause-once.js';

/** The levels durable work writes its own lines at. */
type Level = 'fatal' | 'error' | 'warn' | 'info';

/** A logger for lines written on the way to a task's state change (see safeLog()). */
export type SafeLog = Pick<Logger, Level>;

/**
 * `logger` for durable work's own lines (the runner's, the journal's, a
 * worker's), which come on the way to a task's state change (an attempt's
 * failure, a claim, a recovery, a registration, a shutdown): a
 * line that throws (a custom serializer, a destination whose write throws)
 * is written again without its fields, naming why, and if that throws too it
 * is dropped. A throwing line kept the failure of an attempt from being
 * written: the task stayed running, and stalled a lease later.
 */
export function safeLog(logger: Logger): SafeLog {
  const guarded = (level: Level): LogFn => ((fields: object, message?: string): void => writeSafely(logger, level, fields, message)) as LogFn;
  return { fatal: guarded('fatal'), error: guarded('error'), warn: guarded('warn'), info: guarded('info') };
}

/**
 * Writes one line; if that throws, the line again without its fields
 * (`logFailed` says why); if that throws too, nothing. A request's own lines
 * (its access line, its error) go so: a throw from them reached Node's
 * 'finish' listener, an uncaught exception that took the process down.
 * The line's `err` says each cause once (see causeSaidOnce()).
 */
export function writeSafely(logger: Logger, level: Level | 'debug', fields: object, message?: string): void {
  try {
    logger[level](causesOnce(fields), message);
  } catch (failure) {
    try {
      logger[level]({ logFailed: errorMessage(failure) }, message);
    } catch {
      // The logger cannot write at all: nothing more can be told, and what the line was written for goes on.
    }
  }
}

/** `fields` with its `err` as causeSaidOnce() gives it: `fields` itself when that is the same error, or when it has none (an access line). */
function causesOnce(fields: object): object {
  const err = (fields as { err?: unknown }).err;
  if (err === undefined) return fields;
  const said = causeSaidOnce(err);
  return said === err ? fields : { ...fields, err: said };
}
