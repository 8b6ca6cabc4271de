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
