import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

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
 * Why SQLite could not open `path`, when it is that its folder is missing or
 * that the path is a folder (SQLite says only "unable to open database
 * file", naming neither); else undefined.
 */
export function cannotOpen(path: string): string | undefined {
  const folder = dirname(path);
  if (!existsSync(folder)) return `its folder ${folder} does not exist (the store creates its file, not the folder)`;
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true ? 'it is a folder, not a file: give sqliteStore() the path of a file in it' : undefined;
}
