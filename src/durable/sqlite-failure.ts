/**
 * SQLite's primary result codes that say the store cannot be used now,
 * rather than that the call was wrong: BUSY (past the busy timeout), LOCKED,
 * NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
 */
const UNAVAILABLE = new Set([5, 6, 7, 8, 10, 11, 13, 14, 15, 26]);
/** SQLITE_CONSTRAINT_UNIQUE. */
const UNIQUE = 2067;

/** `node:sqlite` errors carry SQLite's extended result code as `errcode`; its low byte is the primary code. */
function primaryCode(error: unknown): number | undefined {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode & 0xff : undefined;
}

/** The store's file or lock failed: a `StoreUnavailable`, not the caller's mistake. */
export function isUnavailable(error: unknown): boolean {
  return UNAVAILABLE.has(primaryCode(error)!);
}

/** Another connection holds the lock this one needs (BUSY or LOCKED). */
export function isBusy(error: unknown): boolean {
  const code = primaryCode(error);
  return code === 5 || code === 6;
}

/** A write found no room (FULL), or failed writing (IOERR: a limit on the file's size says EFBIG, which SQLite reports so). */
export function isOutOfRoom(error: unknown): boolean {
  const code = primaryCode(error);
  return code === 13 || code === 10;
}

/** A UNIQUE index refused a row. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { errcode?: unknown } | null)?.errcode === UNIQUE;
}
