// after() called inside a streaming body's generator belongs to its request,
// over a socket and in-process alike, and its task runs once the stream has
// been consumed, with the outcome (as Next.js runs after() callbacks).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { after, createApp, get, StreamingResponse, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

const CHUNK = 1024 * 1024;

function streamingApp(events: string[], outcomes: Outcome[]) {
  return createApp({
    routes: [get('/stream', () => new StreamingResponse((async function* () {
      // Big chunks: the socket is full, so the generator resumes after a 'drain'.
      yield Buffer.alloc(CHUNK, 'a');
      yield Buffer.alloc(CHUNK, 'b');
      after(({ outcome }) => {
        events.push('task');
        outcomes.push(outcome);
      }, { name: 'from-the-stream' });
      await Promise.resolve();
      after(() => { events.push('second task'); }, { name: 'after-an-await' });
      yield 'end';
      events.push('stream consumed');
    })()))],
  });
}

for (const transport of ['socket', 'in-process'] as const) {
  test(`${transport}: after() inside a streaming body's generator runs once the stream was consumed, with the outcome`, async () => {
    const events: string[] = [];
    const outcomes: Outcome[] = [];
    const client = createTestClient(streamingApp(events, outcomes), { transport });
    try {
      const response = await client.get('/stream');
      assert.equal(response.status, 200);
      assert.equal(response.body.length, 2 * CHUNK + 3);
      await client.settle();
      assert.deepEqual(events, ['stream consumed', 'task', 'second task']);
      assert.equal(outcomes[0]!.completed, true);
      assert.equal(outcomes[0]!.aborted, false);
      assert.equal(outcomes[0]!.bytesSent, 2 * CHUNK + 3);
      assert.deepEqual(client.tasks.map((t) => [t.name, t.state]), [['from-the-stream', 'completed'], ['after-an-await', 'completed']]);
    } finally {
      await client.close();
    }
  });
}
