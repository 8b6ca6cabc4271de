// An error logged as an outage line's `err`: pino's standard serializer says
// each cause once, where the error's message says its cause's already.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreUnavailable } from 'coda-http';
import { causeSaidOnce } from '../../src/log/cause-once.js';
import { memoryLogger } from '../helpers.js';

function logged(error: unknown): { type: string; message: string; stack: string; code?: string } {
  const { logger, lines } = memoryLogger();
  logger.error({ err: causeSaidOnce(error) }, 'line');
  return lines[0]!['err'] as { type: string; message: string; stack: string; code?: string };
}

test('causeSaidOnce: a chain whose messages each say their cause is said once, every stack kept; the error keeps its cause', () => {
  const refused = new Error('connect ECONNREFUSED 127.0.0.1:1');
  const connecting = new Error(`cannot connect to Redis: ${refused.message} (is it running?)`, { cause: refused });
  const error = new StoreUnavailable('bullmq store redis://127.0.0.1:1/0 (prefix p)', connecting);
  const err = logged(error);
  assert.deepEqual([err.type, err.message, err.code], ['StoreUnavailable', 'bullmq store redis://127.0.0.1:1/0 (prefix p) is unavailable: cannot connect to Redis: connect ECONNREFUSED 127.0.0.1:1 (is it running?)', 'CODA_STORE_UNAVAILABLE']);
  assert.equal(err.stack.split('\ncaused by: ').length, 3, err.stack);
  assert.equal(error.cause, connecting);
  assert.ok(causeSaidOnce(error) instanceof StoreUnavailable);
});

test('causeSaidOnce: a cause the message does not say is appended as pino does; a chain that loops back ends', () => {
  const unsaid = new StoreUnavailable('sqlite store x.db', new Error('SQLITE_IOERR'), 'disk I/O error');
  assert.equal(logged(unsaid).message, 'sqlite store x.db is unavailable: disk I/O error: SQLITE_IOERR');
  const looped = new Error('a: b');
  const inner = new Error('b', { cause: looped });
  looped.cause = inner;
  // pino marks where the chain came round: it does not go round for good.
  assert.match(logged(looped).message, /^a: b: .*\.\.\.$/);
});
