// The app's own log lines with a logger that throws on them (a mixin, a
// serializer, a destination): the line is written again without its fields,
// or dropped, and what it was written for goes on. The access line's and the
// shutdown's cases are in test/observe/access-log.peers.test.ts and
// test/server/shutdown.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { after, createApp, get, HttpResponse, serve } from 'coda-http';
import { deferred, watchUncaught, type LogLine } from '../helpers.js';

/** A pino logger that throws on every line whose message includes `failing`, and keeps the lines it writes. */
function loggerFailingOn(failing: string): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
      callback();
    },
  });
  const hooks = {
    logMethod(this: pino.Logger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
      const [fields, message] = args as unknown as [Record<string, unknown>, string | undefined];
      if (message?.includes(failing) && fields.logFailed === undefined) throw new Error('the logger is broken');
      method.apply(this, args);
    },
  };
  return { logger: pino({ level: 'debug', hooks }, stream), lines };
}

test('a response whose write throws after its head, with a logger that throws on "could not write the response": the connection is closed, the line written again without its fields, nothing uncaught', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger, lines } = loggerFailingOn('could not write the response');
  const app = createApp({ logger, routes: [get('/', () => new HttpResponse('hello'))] });
  // A response whose end() throws once its head is written (a framework's, a proxy's): the only way to a write that throws after the head.
  const server = http.createServer((req, res) => {
    res.end = ((): ServerResponse => {
      throw new Error('the write failed');
    }) as unknown as ServerResponse['end'];
    app.handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const request = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const [failure] = (await once(request, 'error')) as [NodeJS.ErrnoException];
  assert.equal(failure.code, 'ECONNRESET', 'the connection is destroyed, not left hanging');
  await app.settle();
  assert.deepEqual(uncaught, []);
  assert.deepEqual(lines.filter((line) => line.msg === 'could not write the response').map((line) => line.logFailed), ['the logger is broken']);
  assert.equal(app.requestsInFlight, 0);
});

test('a task registered after shutdown gave up on its request, from an abort listener, with a logger that throws on its "not run" line: the line written again without its fields, nothing uncaught, the task not run', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger, lines } = loggerFailingOn('registered after shutdown gave up');
  const started = deferred();
  const registered = deferred();
  const ran: string[] = [];
  const app = createApp({
    logger,
    routes: [get('/p', () => new HttpResponse('ok').after(({ signal }) => {
      signal.addEventListener('abort', () => {
        try {
          after(() => {
            ran.push('late');
          }, { name: 'late' });
        } finally {
          registered.resolve();
        }
      });
      started.resolve();
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    }, { name: 'given-up' }))],
  });
  const server = await serve(app, { port: 0, handleSignals: false });
  await (await fetch(`${server.url}/p`)).text();
  await started.promise;
  const report = await server.close({ timeoutMs: 20 });
  assert.deepEqual(report.tasksAbandoned.map((task) => task.name), ['given-up']);
  await registered.promise;
  // Node reports an abort listener's throw on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  await app.settle();
  assert.deepEqual(uncaught, []);
  assert.deepEqual(ran, []);
  const lost = lines.filter((line) => String(line.msg).includes('registered after shutdown gave up'));
  assert.deepEqual(lost.map((line) => line.logFailed), ['the logger is broken']);
});
