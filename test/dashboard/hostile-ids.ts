// Task ids no task has, as a client or a script may send them to the
// dashboard's Retry and Discard and to app.tasks: each store must answer
// "no such task" (404 over HTTP), never a 500, a store error, or the id
// sent back whole. Shared by the SQLite (dashboard.test.ts) and BullMQ
// (bullmq/operations.test.ts) tests.
import assert from 'node:assert/strict';
import type { App } from 'coda-http';
import { LEVEL, type LogLine } from '../helpers.js';

/** Ids a URL can carry: kilobytes, emoji, an encoded climb, SQL, Redis key and glob syntax, quotes, blanks. */
const SENDABLE = ['a'.repeat(15_000), '🙂'.repeat(100), '/../', "1' OR '1'='1; DROP TABLE tasks;--", 'bull:charge:1', '*', '{x}', '"', ' a '];
/** Ids only JavaScript can hold: lone surrogates (no UTF-8 for them), the empty string. */
const UNSENDABLE = ['\uD800', 'x\uDC00y', ''];

/**
 * Asserts `app`'s tasks (`get`, `retry`, `discard`) find no task for each
 * hostile id, and its dashboard at `url` (`/coda`) answers a 404 naming the
 * id cut to 200 characters, or a 400 for a lone surrogate's bytes; that the
 * task `kept` is still there; and that nothing was logged at error level.
 */
export async function assertHostileIdsFindNothing(app: App, url: string, kept: string, lines: LogLine[]): Promise<void> {
  for (const id of [...SENDABLE, ...UNSENDABLE]) {
    const shown = JSON.stringify(id.slice(0, 20));
    assert.equal(await app.tasks.get(id), null, shown);
    assert.equal(await app.tasks.retry(id), false, shown);
    assert.equal(await app.tasks.discard(id), false, shown);
  }
  const post = (segment: string, action: string): Promise<Response> => fetch(`${url}/coda/tasks/${segment}/${action}`, { method: 'POST', headers: { 'x-coda-dashboard': '1' } });
  for (const action of ['retry', 'discard']) {
    for (const id of SENDABLE) {
      const response = await post(encodeURIComponent(id), action);
      assert.equal(response.status, 404, `${action} ${JSON.stringify(id.slice(0, 20))}`);
      assert.equal(await response.text(), `no durable task ${id.length > 200 ? `${id.slice(0, 200)}…` : id}`);
    }
    // A lone surrogate's bytes (CESU-8, WTF-8) are no UTF-8: the router refuses them before the store is asked.
    for (const segment of ['%ED%A0%80', 'x%ED%B0%80y']) {
      const response = await post(segment, action);
      assert.equal(response.status, 400, segment);
      assert.match(await response.text(), /^invalid percent-encoding in path/);
    }
  }
  assert.notEqual(await app.tasks.get(kept), null, 'the task that exists is untouched');
  assert.deepEqual(lines.filter((line) => line.level >= LEVEL.error), [], 'nothing logged as a server error');
}
