// The process-wide shutdown: one signal handler for every server that handles
// signals, then the onShutdown hooks, one report, and an exit code that says
// how it went. Real child processes with two servers (an API port and a
// metrics port), as a deployment has.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onShutdown } from 'coda-http';
import { spawnFixture, type Fixture, type FixtureLine } from '../helpers.js';

const fixture = new URL('./fixtures/two-servers.ts', import.meta.url);

/** Starts the fixture in `mode`, has each server answer one request (ids `api-1`, `metrics-1`), and sends `signal`. */
async function startAndSignal(mode: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<Fixture> {
  const run = spawnFixture(fixture, [mode]);
  const ready = await run.line((l) => l.event === 'ready');
  for (const name of ['api', 'metrics']) {
    const response = await fetch(`${String(ready[name])}/work`, { headers: { 'x-request-id': `${name}-1`, connection: 'close' } });
    assert.equal(await response.text(), 'done');
  }
  run.child.kill(signal);
  return run;
}

/** The line the app `name` logged whose message starts with `start`. */
function logged(lines: FixtureLine[], name: string, start: string): FixtureLine | undefined {
  return lines.find((l) => l.app === name && String(l.msg).startsWith(start));
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) test(`${signal} closes every server, waits for each one's tasks, runs the hooks, logs each report and one for the process, exits 0`, async () => {
  const { lines, exited } = await startAndSignal('drain', signal);
  assert.equal(await exited, 0);
  for (const name of ['api', 'metrics']) {
    const report = logged(lines, name, 'shutdown complete');
    assert.ok(report, `the ${name} server's report is logged`);
    assert.equal(report.tasksCompleted, 2, `the ${name} server's tasks all ran`);
    assert.deepEqual(report.tasksAbandoned, []);
  }
  // The metrics task outlasts the API server's drain: the hook saw every task of both servers done.
  // (Not the order of lines: pino's writes to a full pipe are retried later, so log lines may come late.)
  assert.deepEqual(lines.find((l) => l.event === 'hook'), { event: 'hook', ran: 4 });
  assert.equal(lines.find((l) => l.event === 'unregistered hook ran'), undefined);
  const processReport = lines.find((l) => String(l.msg).startsWith('process shutdown complete'));
  assert.ok(processReport, 'the process report is logged');
  assert.deepEqual(processReport.hooks, { ran: 1, failed: 0 });
  assert.deepEqual((processReport.servers as { tasksCompleted: number }[]).map((s) => s.tasksCompleted), [2, 2]);
  assert.deepEqual(lines.find((l) => l.event === 'exit'), { event: 'exit', code: 0, ran: 4 });
});

test('SIGTERM with one app on both servers: each server closes, the app drains once, with its last server, and every task of both ran', async () => {
  const { lines, exited } = await startAndSignal('one-app');
  assert.equal(await exited, 0);
  const reports = lines.filter((l) => /^(server closed|shutdown complete)/.test(String(l.msg)));
  assert.deepEqual(reports.map((l) => String(l.msg).split(':')[0]).sort(), ['server closed', 'shutdown complete']);
  const drained = reports.find((l) => String(l.msg).startsWith('shutdown complete'))!;
  assert.equal(drained.tasksCompleted, 4, 'both requests\' two tasks, the slow ones included');
  assert.deepEqual(drained.tasksAbandoned, []);
  assert.deepEqual(lines.find((l) => l.event === 'exit'), { event: 'exit', code: 0, ran: 4 });
});

test('a logger that throws on the process\'s shutdown lines (a mixin, a serializer) does not cut the drain: every task runs, the hooks run, the lines go out without their fields, and the process exits 0', async () => {
  const { lines, exited } = await startAndSignal('logger-throws');
  assert.equal(await exited, 0);
  assert.deepEqual(lines.find((l) => l.event === 'hook'), { event: 'hook', ran: 4 });
  assert.deepEqual(lines.find((l) => l.event === 'exit'), { event: 'exit', code: 0, ran: 4 });
  const processReport = lines.find((l) => String(l.msg).startsWith('process shutdown complete'));
  assert.ok(processReport, 'the process report is logged');
  assert.equal(processReport.logFailed, 'the mixin broke');
});

test('a hook that throws is logged, the next hook still runs, and the process exits 1', async () => {
  const { lines, exited } = await startAndSignal('hook-fails');
  assert.equal(await exited, 1);
  const failure = lines.find((l) => l.hook === 'closesPool');
  assert.ok(failure, 'the failing hook is logged');
  assert.equal(failure.msg, 'shutdown hook closesPool failed');
  assert.equal((failure.err as { message: string }).message, 'pool already closed');
  assert.deepEqual(lines.find((l) => l.event === 'hook'), { event: 'hook', ran: 4 });
  assert.deepEqual(lines.find((l) => String(l.msg).startsWith('process shutdown complete'))?.hooks, { ran: 2, failed: 1 });
});

test('a second SIGTERM during a hanging drain exits at once and lists, per app, the tasks it abandons', { timeout: 20_000 }, async () => {
  const { child, lines, line, exited } = await startAndSignal('hang');
  await line((l) => String(l.msg).startsWith('shutting down'));
  child.kill('SIGTERM');
  assert.equal(await exited, 1);
  for (const name of ['api', 'metrics']) {
    const report = logged(lines, name, 'second signal');
    assert.ok(report, `the ${name} app lists what it abandons`);
    assert.deepEqual(report.tasksAbandoned, [
      { name: `${name}-work`, requestId: `${name}-1` },
      { name: `${name}-next`, requestId: `${name}-1` },
    ]);
  }
  assert.equal(lines.find((l) => l.event === 'hook'), undefined, 'no hook runs after a second signal');
});

test('an exception nothing catches during the drain (a task\'s timer) exits 1 with a fatal line naming it and listing, per app, the tasks it abandons', { timeout: 20_000 }, async () => {
  const { lines, exited } = await startAndSignal('throws');
  assert.equal(await exited, 1);
  for (const name of ['api', 'metrics']) {
    const report = logged(lines, name, 'an uncaught exception during shutdown (a task\'s timer threw): exiting at once; 2 after-response task(s) abandoned');
    assert.ok(report, `the ${name} app says why it exits and what it abandons: ${JSON.stringify(lines)}`);
    assert.equal(report.level, 60);
    assert.equal((report.tasksAbandoned as unknown[]).length, 2);
  }
  assert.equal((logged(lines, 'api', 'an uncaught exception')!.err as { message: string }).message, 'a task\'s timer threw');
  assert.equal(lines.find((l) => l.event === 'hook'), undefined, 'no hook runs after it');
});

test('an uncaught value without a prototype during the drain exits the same way, the fatal line showing it: reading it for the line threw inside the exception handler, and the process died (code 7) with no report', { timeout: 20_000 }, async () => {
  const { lines, exited } = await startAndSignal('throws-bare');
  assert.equal(await exited, 1);
  const report = logged(lines, 'api', 'an uncaught exception during shutdown ([Object: null prototype] { code: 42 }): exiting at once; 2 after-response task(s) abandoned');
  assert.ok(report, `the app says why it exits and what it abandons: ${JSON.stringify(lines)}`);
  assert.equal(report.level, 60);
});

test('onShutdown takes a function (not a generator function) and returns the function that unregisters it', () => {
  assert.throws(() => onShutdown('close the pool' as never), { name: 'TypeError', message: 'onShutdown() takes a function, got string "close the pool"' });
  // Called, a generator function runs none of its body: the hook "ran", the pool left open.
  assert.throws(() => onShutdown(async function* closePool() { /* never runs */ } as never), {
    name: 'TypeError', message: 'onShutdown() takes a function whose call does the work, got an async generator function (closePool): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }',
  });
  const off = onShutdown(() => {});
  assert.equal(typeof off, 'function');
  off();
  off();
});
