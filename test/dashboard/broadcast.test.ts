import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broadcast } from '../../src/dashboard/broadcast.js';
import type { StreamLink } from '../../src/dashboard/stream-link.js';

const link: StreamLink = { server: undefined, backlog: () => 0, cut: () => {} };
const allowed = async (): Promise<boolean> => true;

test('a client that reads nothing holds one unsent snapshot at most: newer ones replace it, and a heartbeat never pushes one out', { timeout: 10_000 }, async () => {
  let data = '{"n":0}';
  // The interval is an hour: a snapshot is made when the test calls refresh(), none behind its back.
  const broadcast = new Broadcast({ intervalMs: 3_600_000, heartbeatMs: 0, maxClients: 2 }, async () => data, (error) => assert.fail(String(error)));
  const controller = new AbortController();
  const fast = broadcast.subscribe(controller.signal, allowed, link);
  const fastFirst = fast.next();
  const slow = broadcast.subscribe(controller.signal, allowed, link);
  assert.equal((await slow.next()).value, 'retry: 2000\n\n');
  assert.equal((await fastFirst).value, 'retry: 2000\n\n');
  /** Reads the client that keeps up until `message` comes: it was offered to every stream. */
  const offered = async (message: string): Promise<void> => {
    for (let read = 0; read < 5; read++) if ((await fast.next()).value === message) return;
    assert.fail(`never offered: ${message}`);
  };
  await offered('event: snapshot\ndata: {"n":0}\n\n');
  // The slow client reads nothing while three changed snapshots and a heartbeat (the last, unchanged) go by.
  for (const next of ['{"n":1}', '{"n":2}', '{"n":3}']) {
    data = next;
    broadcast.refresh();
    await offered(`event: snapshot\ndata: ${next}\n\n`);
  }
  broadcast.refresh();
  await offered(': heartbeat\n\n');
  assert.equal((await slow.next()).value, 'event: snapshot\ndata: {"n":3}\n\n', 'the latest: those before it dropped, the heartbeat not sent in its place');
  controller.abort();
  assert.deepEqual(await slow.next(), { value: undefined, done: true }, 'nothing else was kept');
  assert.equal(broadcast.size, 0);
});
