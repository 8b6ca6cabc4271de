import type { Readable } from 'node:stream';

/**
 * Keeps a Readable's failure for its reader: one that fails before anyone
 * reads it (a file that is not there, an upstream cut, a client gone
 * mid-upload, while the response waits for a hook or the journal) emits an
 * 'error' that, with no listener yet, was uncaught and took the process down.
 * The error stays on the Readable (`errored`), and a read of it fails with it.
 */
export function keepUnreadFailure<R extends Readable>(readable: R): R {
  readable.on('error', keptForTheReader);
  return readable;
}

/** See keepUnreadFailure(): a read finds the error. */
function keptForTheReader(): void {}
