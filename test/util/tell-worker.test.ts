import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { tellWorker, type WorkerChannel } from '../../src/util/tell-worker.js';

/**
 * A worker whose process has exited since its channel was last seen open: its
 * write fails with EPIPE, given to the callback, as node:child_process does,
 * or else emitted as 'error' (which, with no listener, ends the process).
 */
function exitedWorker(): WorkerChannel & { emitter: EventEmitter; sent: unknown[] } {
  const emitter = new EventEmitter();
  const sent: unknown[] = [];
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  return {
    emitter,
    sent,
    isConnected: () => true,
    send(message: unknown, callback?: unknown) {
      sent.push(message);
      if (typeof callback === 'function') process.nextTick(callback as (error: Error) => void, epipe);
      else process.nextTick(() => emitter.emit('error', epipe));
      return false;
    },
  } as WorkerChannel & { emitter: EventEmitter; sent: unknown[] };
}

test('a worker that exited between the check and the write: the EPIPE goes to failed, never to an error event that would end the primary', async () => {
  const worker = exitedWorker();
  const failure = new Promise<Error>((resolve) => assert.equal(tellWorker(worker, { coda: 'shutdown' }, resolve), true));
  worker.emitter.on('error', () => assert.fail('the send error was emitted, not handed to the callback'));
  assert.match((await failure).message, /EPIPE/);
  assert.deepEqual(worker.sent, [{ coda: 'shutdown' }]);
  // Without a failed callback too.
  assert.equal(tellWorker(worker, { coda: 'shutdown' }), true);
  await new Promise((resolve) => setImmediate(resolve));
});

test('a worker whose channel is closed is not written to: false', () => {
  const sent: unknown[] = [];
  const gone: WorkerChannel = { isConnected: () => false, send: (message: unknown) => (sent.push(message), false) } as unknown as WorkerChannel;
  assert.equal(tellWorker(gone, { coda: 'shutdown' }), false);
  assert.deepEqual(sent, []);
});
