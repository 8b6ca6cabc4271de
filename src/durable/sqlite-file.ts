import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Which file `path` names now (its device and inode), or undefined when nothing is there. */
export function fileIdentity(path: string): string | undefined {
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat === undefined ? undefined : `${stat.dev}:${stat.ino}`;
}

/** A path as an SQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Why SQLite could not open `path` (SQLite says only "unable to open database
 * file", naming no cause), when it is one of these: its folder is missing,
 * the path is a folder, or the folder takes no new file (WAL mode keeps two
 * beside the database); else undefined.
 */
export function cannotOpen(path: string): string | undefined {
  const folder = dirname(path);
  if (!existsSync(folder)) return `its folder ${folder} does not exist (the store creates its file, not the folder)`;
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory() === true) return 'it is a folder, not a file: give sqliteStore() the path of a file in it';
  try {
    accessSync(folder, constants.W_OK);
  } catch (error) {
    return `its folder ${folder} takes no new file (${(error as NodeJS.ErrnoException).code}), and SQLite keeps two beside the database (${basename(path)}-wal, ${basename(path)}-shm): let this process write to the folder`;
  }
  return undefined;
}
