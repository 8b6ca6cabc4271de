import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../util/describe.js';

/**
 * SQLite's primary result codes that say the store cannot be used now,
 * rather than that the call was wrong: BUSY (past the busy timeout), LOCKED,
 * NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
 */
const UNAVAILABLE = new Set([5, 6, 7, 8, 10, 11, 13, 14, 15, 26]);
/** SQLITE_IOERR_WRITE: a write to the file or its WAL failed, which SQLite says only as "disk I/O error". */
const IOERR_WRITE = 778;
/** SQLITE_IOERR_SHORT_READ: a read found fewer bytes than the file or the WAL's index said, which SQLite says only as "disk I/O error". */
const IOERR_SHORT_READ = 522;
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

/** SQLite could not open the file (CANTOPEN: "unable to open database file"). */
export function isCantOpen(error: unknown): boolean {
  return primaryCode(error) === 14;
}

/** A UNIQUE index refused a row. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { errcode?: unknown } | null)?.errcode === UNIQUE;
}

/**
 * What a failure of the store at `path` says: SQLite's message, and where
 * that names no cause ("disk I/O error"), the likely one: for a read that
 * came short, a WAL removed under another process; for a write that failed,
 * that the file could not grow. A full disk is SQLite's FULL ("database or
 * disk is full"); a write refused with room on the disk is a limit on the
 * size of files (`ulimit -f`: EFBIG) or a disk quota (EDQUOT), else a
 * failing disk.
 */
export function failureText(error: unknown, path: string): string {
  const text = errorMessage(error);
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  if (path === ':memory:') return text;
  if (errcode === IOERR_SHORT_READ) return `${text}: ${shortRead(path)}`;
  if (errcode !== IOERR_WRITE) return text;
  return `${text}: a write to ${path} or its WAL failed, most likely because the file could not grow: ${whyNoGrowth(path)}`;
}

/**
 * Why a read came short: a process opening the file after its WAL was
 * removed under another process (a cleanup of "temporary" files) reads the
 * shared memory (-shm), which names frames the WAL no longer has. The other
 * process's next write moves what it held into the file (see
 * checkWal() in sqlite-file-checks.ts); a file itself cut short is the rarer cause.
 */
function shortRead(path: string): string {
  return `a read of ${path} or its WAL came short: most likely its WAL (${path}-wal) was removed while another process had the file open, whose next write moves what that WAL held into the file; else the file itself was cut short (restore it from a backup)`;
}

/** Below this much room a disk is full to SQLite, which writes a page (4 KiB) or a WAL frame at a time, and more for a checkpoint. */
const NEARLY_FULL = 1024 * 1024;

function whyNoGrowth(path: string): string {
  let free: number;
  try {
    const { bavail, bsize } = statfsSync(dirname(path));
    free = bavail * bsize;
  } catch {
    return 'the disk is full, or a limit on the size of files (ulimit -f) or a disk quota stops it';
  }
  return free < NEARLY_FULL ? `the disk is full (${free} bytes free)` : 'the disk has room, so a limit on the size of files (ulimit -f) or a disk quota stops it (else the disk itself failed)';
}
