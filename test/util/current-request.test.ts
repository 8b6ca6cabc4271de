import assert from 'node:assert/strict';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { test } from 'node:test';
import { currentRequest, enterRequest, inRequest, scopedByFrames } from '../../src/util/current-request.js';

test("inRequest: the request is current through its async call tree, the caller's stores stay, and the caller's context is back once it returns", async () => {
  const trace = new AsyncLocalStorage<string>();
  const request = {};
  const seen: unknown[] = [];
  await trace.run('outer-span', async () => {
    const pending = inRequest(request, true, async () => {
      await null;
      seen.push(currentRequest(), trace.getStore());
    }, undefined);
    // Code of the caller after the call (a framework's, a pipelined request's): not the request's.
    seen.push(currentRequest(), trace.getStore());
    await pending;
    seen.push(currentRequest(), trace.getStore());
  });
  assert.deepEqual(seen, [undefined, 'outer-span', request, 'outer-span', undefined, 'outer-span']);
});

test("inRequest: what the function entered in other stores (an agent's enterWith()) is gone for the caller when it returns, after its awaits too", async () => {
  const agent = new AsyncLocalStorage<string>();
  const seen: unknown[] = [];
  await inRequest({}, true, async () => {
    agent.enterWith('request-span');
    await null;
    seen.push(agent.getStore());
  }, undefined).then(() => seen.push(agent.getStore()));
  seen.push(agent.getStore());
  assert.deepEqual(seen, ['request-span', undefined, undefined]);
});

test('inRequest: called again for the request it is already in, it runs the function as it is', async () => {
  const request = {};
  const inner = await inRequest(request, true, async () => {
    await null;
    return inRequest(request, true, async () => {
      await null;
      return currentRequest();
    }, undefined);
  }, undefined);
  assert.equal(inner, request);
});

test("enterRequest: in a callback scope (Node's server calls its listeners in one), the request is current through its async call tree and is gone once the scope ends, with what it entered in other stores; the caller's stores stay", async () => {
  const trace = new AsyncLocalStorage<string>();
  const agent = new AsyncLocalStorage<string>();
  const request = {};
  const seen: unknown[] = [];
  let pending: Promise<void> | undefined;
  trace.run('outer-span', () => {
    new AsyncResource('node-callback').runInAsyncScope(() => {
      pending = enterRequest(request, true, async () => {
        agent.enterWith('request-span');
        await null;
        seen.push(currentRequest(), trace.getStore());
      }, undefined);
      // The rest of the scope: the request's own with async context frames (Node puts the outer context back at the
      // scope's end), the caller's without (Node 22: the store would stay on a resource Node reuses).
      seen.push(currentRequest());
    });
    seen.push(currentRequest(), trace.getStore(), agent.getStore());
  });
  await pending;
  assert.deepEqual(seen, [scopedByFrames ? request : undefined, undefined, 'outer-span', undefined, request, 'outer-span']);
});
