/**
 * How many attempts' errors a task keeps: those of its first attempts (what
 * went wrong at the start) and of its last (what goes wrong now), with one
 * entry in between counting those left out (`AttemptError.omitted`). Each
 * error is up to some 20 KB (its message and stack cut to 10,000 characters):
 * kept for every attempt, a task of 10,000 attempts, or one retried by hand
 * again and again, grew its row (its BullMQ job's log) without bound. Every
 * store keeps this rule: the SQLite store in SQL (sqlite-statements.ts), the
 * BullMQ store in Lua (LOG_FAILURE in bullmq/scripts.ts).
 */
export const KEPT_FIRST_ERRORS = 5;
export const KEPT_LAST_ERRORS = 20;

/** The message of the entry that stands for `count` attempts whose errors were left out (a SQL expression in the SQLite store, Lua in the BullMQ store's). */
export const OMITTED_MESSAGE = ['the errors of ', ` more attempts are not kept (a task keeps those of its first ${KEPT_FIRST_ERRORS} and its last ${KEPT_LAST_ERRORS} attempts)`] as const;
