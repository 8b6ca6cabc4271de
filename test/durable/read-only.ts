import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import type { TestContext } from 'node:test';

/**
 * Makes `file` (or a folder: it then takes no new file) read-only and returns
 * the undo. Root writes to a 0444 file anyway, so as root the file is also
 * made immutable (`chattr +i`); where that cannot be done, the case is skipped
 * and null returned.
 */
export function makeReadOnly(t: TestContext, file: string, { folder = false } = {}): (() => void) | null {
  const [readOnly, writable] = folder ? [0o555, 0o755] : [0o444, 0o644];
  chmodSync(file, readOnly);
  if (process.getuid?.() !== 0) return () => chmodSync(file, writable);
  try {
    execFileSync('chattr', ['+i', file], { stdio: 'ignore' });
  } catch {
    chmodSync(file, writable);
    t.skip('running as root, and chattr +i is not available here: root writes to a read-only file');
    return null;
  }
  return () => {
    execFileSync('chattr', ['-i', file]);
    chmodSync(file, writable);
  };
}
