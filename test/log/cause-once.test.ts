// An error logged as an outage line's `err`: pino's standard serializer says
// each cause once, where the error's message says its cause's already.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { StoreUnavailable } from 'coda-http';
import { causeSaidOnce } from '../../src/log/cause-once.js';
import { OutageLog } from '../../src/log/outage-log.js';
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

/** A real pino, with `serializers`, writing to a stream read back: the lines as JSON. */
function pinoLines(serializers?: pino.LoggerOptions['serializers']): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ serializers }, stream), lines };
}

/** A chain as a sqlite store's outage throws it: a StoreUnavailable that says its cause; that cause wraps one it does not say, which says its own. */
function deepChain(): StoreUnavailable {
  const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
  const sqlite = Object.assign(new Error(`disk I/O error (${eio.message})`, { cause: eio }), { errcode: 778 });
  const journal = new Error('could not journal the request', { cause: sqlite });
  return new StoreUnavailable('sqlite store x.db', journal);
}

test("causeSaidOnce: an outage line keeps the whole chain, each cause said once, past a link that does not say its cause (the copy stopped there, and pino's err serializer said the causes below it twice)", () => {
  const { logger, lines } = pinoLines();
  new OutageLog(logger, 'durable task calls to the sqlite store x.db').failed(deepChain());
  const err = lines[0]!['err'] as { message: string; stack: string };
  assert.equal(err.message, 'sqlite store x.db is unavailable: could not journal the request: disk I/O error (EIO: i/o error, write)');
  assert.deepEqual(err.stack.split('\n').filter((line) => !line.startsWith('    at ')), [
    'StoreUnavailable: sqlite store x.db is unavailable: could not journal the request',
    'caused by: Error: could not journal the request',
    'caused by: Error: disk I/O error (EIO: i/o error, write)',
    'caused by: Error: EIO: i/o error, write',
  ]);
});

test("causeSaidOnce: under pino's errWithCause serializer, which nests each cause, an outage line keeps every cause with its fields (a cause given VError's way, as a function, was dropped with all below it); a chain that loops back ends", () => {
  const { logger, lines } = pinoLines({ err: pino.stdSerializers.errWithCause });
  new OutageLog(logger, 'durable task calls to the sqlite store x.db').failed(deepChain());
  const nested: unknown[] = [];
  // Each turn goes one cause down: bounded by the chain's length, which a loop would make endless.
  for (let err = lines[0]!['err'] as Record<string, unknown> | undefined; err !== undefined && nested.length < 10; err = err['cause'] as Record<string, unknown> | undefined) {
    nested.push([err['type'], err['message'], err['code'] ?? err['errcode']]);
  }
  assert.deepEqual(nested, [
    ['StoreUnavailable', 'sqlite store x.db is unavailable: could not journal the request', 'CODA_STORE_UNAVAILABLE'],
    ['Error', 'could not journal the request', undefined],
    ['Error', 'disk I/O error (EIO: i/o error, write)', 778],
    ['Error', 'EIO: i/o error, write', 'EIO'],
  ]);
  const looped = new Error('a: b');
  looped.cause = new Error('b', { cause: looped });
  logger.error({ err: causeSaidOnce(looped) }, 'looped');
  const err = lines[1]!['err'] as { message: string; cause: { message: string; cause?: unknown } };
  assert.deepEqual([err.message, err.cause.message, err.cause.cause], ['a: b', 'b', undefined]);
});
