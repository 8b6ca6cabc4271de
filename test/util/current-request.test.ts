import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { test } from 'node:test';
import { currentRequest, inRequest } from '../../src/util/current-request.js';

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
