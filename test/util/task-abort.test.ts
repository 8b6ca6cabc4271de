import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskAbort } from '../../src/util/task-abort.js';

test('TaskAbort: its signal is a real AbortSignal whose abort listeners behave as Node\'s (this, once, the same listener added twice runs once, removeEventListener, handleEvent, onabort read back), a throwing one handed to abort()\'s caller', () => {
  const abort = new TaskAbort();
  const { signal } = abort;
  const heard: string[] = [];
  const twice = function (this: unknown): void {
    heard.push(this === signal ? 'twice, this is the signal' : 'twice, wrong this');
  };
  const removed = (): void => {
    heard.push('removed');
  };
  const handler = { handleEvent: (event: Event) => heard.push(`object ${event.type}`) };
  const onabort = (): void => {
    throw new Error('onabort boom');
  };
  signal.addEventListener('abort', twice);
  signal.addEventListener('abort', twice);
  signal.addEventListener('abort', removed);
  signal.removeEventListener('abort', removed);
  signal.addEventListener('abort', () => heard.push('once'), { once: true });
  signal.addEventListener('abort', handler);
  signal.onabort = undefined as unknown as null;
  assert.equal(signal.onabort, null);
  signal.onabort = onabort;
  assert.equal(signal.onabort, onabort);
  const derived = AbortSignal.any([signal]);
  const thrown: unknown[] = [];
  const reason = new Error('why');
  abort.abort(reason, (error) => thrown.push(error));
  assert.ok(signal instanceof AbortSignal);
  assert.deepEqual([signal.aborted, signal.reason, derived.aborted], [true, reason, true]);
  assert.deepEqual(heard, ['twice, this is the signal', 'once', 'object abort']);
  assert.deepEqual(thrown.map((error) => (error as Error).message), ['onabort boom']);
});
