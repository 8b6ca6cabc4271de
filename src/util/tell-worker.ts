import type { Worker } from 'node:cluster';

/** What `tellWorker` needs of a cluster worker. */
export type WorkerChannel = Pick<Worker, 'isConnected' | 'send'>;

/**
 * Sends `message` to a cluster worker, unless its channel is closed already
 * (returns false). A worker can exit between that check and the write: the
 * channel's error (EPIPE) then goes to `failed`, never to an `'error'` event
 * nobody listens to, which would end the primary and every worker with it.
 * The worker's `'exit'` tells the rest.
 */
export function tellWorker(worker: WorkerChannel, message: Parameters<Worker['send']>[0], failed: (error: Error) => void = () => {}): boolean {
  if (!worker.isConnected()) return false;
  worker.send(message, (error) => {
    if (error !== null) failed(error);
  });
  return true;
}
