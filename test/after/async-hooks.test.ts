// A file of its own: the destroy hook it enables is process-wide.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import express from 'express';
import { after, createApp, get, HttpResponse, serve } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { memoryLogger } from '../helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Coda's own async resources alive for a destroy hook, by type, as OpenTelemetry's AsyncHooksContextManager keeps a context per id until its destroy. */
const live = new Map<number, string>();
createHook({
  init(id, type) {
    if (type.startsWith('coda.')) live.set(id, type);
  },
  destroy(id) {
    live.delete(id);
  },
}).enable();

/** Collects until fewer than `most` of Coda's resources are alive, or 50 rounds have passed (destroy hooks run a turn after a collection). */
async function collected(most: number): Promise<Record<string, number>> {
  for (let round = 0; round < 50 && live.size >= most; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const types: Record<string, number> = {};
  for (const type of live.values()) types[type] = (types[type] ?? 0) + 1;
  return types;
}

test('an app whose process tracks async resources to their destroy (a destroy hook, as OpenTelemetry\'s AsyncHooksContextManager) gets each of Coda\'s per request and per task: over 200 requests with an after() task, on Coda\'s server and through the Express adapter, what is left alive after a collection is bounded (each was made with requireManualDestroy and never destroyed: 200 a request type left for good, a leak in the tracker\'s map)', async (t) => {
  let ran = 0;
  const app = createApp({ logger: memoryLogger().logger, routes: [get('/', () => { after(() => { ran++; }); return new HttpResponse('ok'); })] });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const tasks = expressCoda({ logger: memoryLogger().logger });
  const framework = express();
  framework.use(tasks);
  framework.get('/', (_req, res) => {
    after(() => { ran++; });
    res.end('ok');
  });
  const attached = tasks.attach(framework.listen(0, '127.0.0.1'), { handleSignals: false });
  t.after(() => attached.close({ timeoutMs: 1_000 }));
  await new Promise((resolve) => attached.server.once('listening', resolve));
  const address = attached.server.address() as { port: number };
  for (let i = 0; i < 200; i++) {
    await (await fetch(`${server.url}/`)).text();
    await (await fetch(`http://127.0.0.1:${address.port}/`)).text();
  }
  await app.settle();
  assert.equal(ran >= 400, true);
  const left = await collected(20);
  assert.ok(Object.values(left).every((count) => count < 20), `alive after a collection: ${JSON.stringify(left)}`);
});
