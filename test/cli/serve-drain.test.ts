// `coda serve` told to stop (SIGTERM) while keep-alive clients load it, as
// one process and as a cluster of two: in-flight requests are answered (with
// Connection: close), new connections refused, every answered request's
// after() task runs and its durable task runs or stays in the store (the
// next process on the file runs it), the shutdown report is printed, exit 0.
// Fastify's close semantics (test/close.test.js) are what a client sees.
import assert from 'node:assert/strict';
import http from 'node:http';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { coda, type Cli, killedAtEnd, tempDb } from './coda.js';

const fixture = fileURLToPath(new URL('./fixtures/drain-app.ts', import.meta.url));

type Answer = { status: number; body: string; connection: string | undefined } | { error: string };

function request(url: string, agent: http.Agent, method: string, target: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request(`${url}${target}`, { method, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: `response ${error.code ?? error.message}` }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: `${error.code ?? error.message}${req.reusedSocket ? ' reused' : ' new'}` })).end();
  });
}

/** The `n`s of the `lines` that read `<word> n`. */
function numbers(lines: string[], word: string): Set<number> {
  return new Set(lines.flatMap((line) => (line.startsWith(`${word} `) ? [Number(line.slice(word.length + 1))] : [])));
}

for (const [label, args, processes] of [['one process', [], 1], ['--workers 2', ['--workers', '2'], 2]] as const) {
  test(`coda serve (${label}) SIGTERMed under keep-alive load: every answered request's tasks run or stay in the store, the request in flight is answered with Connection: close, exit 0 with the report`, { timeout: 60_000 }, async (t) => {
    const db = tempDb(t);
    const cli = coda(['serve', fixture, '--port', '0', ...args], { CODA_TEST_DB: db, CODA_LOG_LEVEL: 'info' });
    t.after(() => cli.child.kill('SIGKILL'));
    const [url] = (await cli.line(/coda: serving .* on http:\/\/127\.0\.0\.1:\d+/)).match(/http:\/\/127\.0\.0\.1:\d+/)!;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 17 });
    t.after(() => agent.destroy());

    // A request held in its view until the process is told to stop: in flight during the drain.
    const held = request(url!, agent, 'GET', '/hold');
    await cli.outLine(/^holding$/);
    // Sixteen connections send back to back; SIGTERM once 300 are answered. A connection stops once refused.
    const answered = new Set<number>();
    const failures: string[] = [];
    const dropped = new Set<number>();
    let next = 0;
    let signalled = false;
    const client = async (): Promise<void> => {
      for (;;) {
        const n = next++;
        const answer = await request(url!, agent, 'POST', `/work/${n}`);
        if ('error' in answer) {
          // A new connection the kernel (or, in a cluster, the primary) had accepted for a listener that then closed is reset unread.
          if (answer.error === 'ECONNRESET new') dropped.add(n);
          else if (answer.error !== 'ECONNREFUSED new') failures.push(`${n}: ${answer.error}`);
          return;
        }
        if (answer.status === 200 && answer.body === `done ${n}`) answered.add(n);
        else failures.push(`${n}: ${answer.status} ${answer.body}`);
        if (!signalled && answered.size >= 300) {
          signalled = true;
          cli.child.kill('SIGTERM');
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 16 }, client));
    const hold = await held;
    assert.deepEqual(hold, { status: 200, body: 'drained', connection: 'close' }, 'the request in flight is answered, and told the connection closes');
    await clients;
    assert.equal(await cli.exited, 0);
    assert.deepEqual(failures, [], `${failures.length} requests failed (${answered.size} answered, ${dropped.size} dropped unread with their new connection): none on a connection in use is reset or cut`);
    assert.deepEqual(await request(url!, new http.Agent(), 'POST', '/work/-1'), { error: 'ECONNREFUSED new' }, 'a new connection is refused');

    const ranAfter = numbers(cli.stdout, 'after');
    assert.deepEqual([...answered].filter((n) => !ranAfter.has(n)), [], 'every answered request\'s after() task ran');
    assert.deepEqual([...dropped].filter((n) => ranAfter.has(n)), [], 'a request on a connection reset at the close never reached the app');
    const reports = cli.stdout.filter((line) => line.includes('"msg":"shutdown complete'));
    assert.equal(reports.length, processes, `a shutdown report per process:\n${reports.join('\n')}`);
    for (const report of reports) assert.deepEqual((JSON.parse(report) as { tasksAbandoned: unknown[] }).tasksAbandoned, []);

    // Durable: each ran, or is in the store for the next process on the file.
    const ranDurable = numbers(cli.stdout, 'durable');
    const file = new DatabaseSync(db, { readOnly: true });
    const waiting = new Set((file.prepare("SELECT payload FROM coda_tasks WHERE state IN ('held', 'ready')").all() as { payload: string }[]).map((row) => (JSON.parse(row.payload) as { n: number }).n));
    file.close();
    assert.deepEqual([...answered].filter((n) => !ranDurable.has(n) && !waiting.has(n)), [], 'every answered request\'s durable task ran or is in the store');
    if (waiting.size > 0) await runLeftOvers(t, db, waiting);
  });
}

for (const [label, args] of [['one process', []], ['--workers 1', ['--workers', '1']]] as const) {
  test(`coda serve (${label}) --shutdown-timeout: a view still running when SIGTERM comes is given up at the given timeout, not the default 10 s, and the report says it was in flight`, { timeout: 60_000 }, async (t) => {
    const timeoutMs = 1500;
    const cli = coda(['serve', fixture, '--port', '0', '--shutdown-timeout', String(timeoutMs), ...args], { CODA_LOG_LEVEL: 'info' });
    t.after(() => cli.child.kill('SIGKILL'));
    const [url] = (await cli.line(/coda: serving .* on http:\/\/127\.0\.0\.1:\d+/)).match(/http:\/\/127\.0\.0\.1:\d+/)!;
    const agent = new http.Agent();
    t.after(() => agent.destroy());
    const stuck = request(url!, agent, 'GET', '/stuck');
    await cli.outLine(/^stuck$/);
    const signalled = performance.now();
    cli.child.kill('SIGTERM');
    const report = JSON.parse(await cli.outLine(/"msg":"shutdown complete/)) as { requestsInFlightAtClose: number };
    const tookMs = performance.now() - signalled;
    // The deadline is the child's, from its SIGTERM, after ours: the wait seen here is at least the timeout (a timer's ms rounding aside).
    assert.ok(tookMs >= timeoutMs - 20 && tookMs < 10_000, `the report came ${Math.round(tookMs)} ms after SIGTERM: the given ${timeoutMs} ms, not the default 10,000`);
    assert.equal(report.requestsInFlightAtClose, 1);
    assert.deepEqual(await stuck, { error: 'ECONNRESET new' }, 'the view never answered: its connection is closed at the deadline');
    assert.equal(await cli.exited, 0);
  });
}

test('coda serve --workers 2 whose primary is SIGKILLed (the OOM killer): each worker drains as on SIGTERM, the request in flight answered and the report logged, then exits; node:cluster exited them at once, the request cut', { timeout: 60_000 }, async (t) => {
  const { cli, url, workers, agent } = await twoWorkers(t, [], { CODA_TEST_DB: tempDb(t) });
  const held = request(url, agent, 'GET', '/hold');
  await cli.outLine(/^holding$/);
  cli.child.kill('SIGKILL');
  assert.deepEqual(await held, { status: 200, body: 'drained', connection: 'close' }, 'the request in flight is answered');
  // The primary's output pipes close once the workers, which share them, have exited.
  await cli.exited;
  for (const pid of workers) assert.ok(cli.stderr.includes(`coda: worker ${pid}: the primary is gone; shutting down gracefully`), cli.stderr.join('\n'));
  assert.equal(cli.stdout.filter((line) => line.includes('"msg":"shutdown complete')).length, 2, cli.stdout.join('\n'));
});

test('coda serve --workers 2 whose worker\'s event loop is blocked for good (a view that never yields): SIGTERM ends the cluster once the shutdown timeout and a grace have passed, that worker killed and named, exit 1; the primary waited for it for good', { timeout: 60_000 }, async (t) => {
  const { cli, url, workers, agent } = await twoWorkers(t, ['--shutdown-timeout', '500'], {});
  const spinning = request(url, agent, 'GET', '/spin');
  await cli.outLine(/^spinning$/);
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 1);
  const killed = cli.stderr.filter((text) => / has not exited 5\.5 s after the shutdown began \(its event loop blocked, or the process stopped\); killing it$/.test(text));
  assert.equal(killed.length, 1, cli.stderr.join('\n'));
  assert.ok(workers.some((pid) => killed[0]!.startsWith(`coda: worker ${pid} `)), killed[0]);
  assert.equal(cli.stdout.filter((line) => line.includes('"msg":"shutdown complete')).length, 1, 'the other worker drained and reported');
  assert.deepEqual(await spinning, { error: 'ECONNRESET new' });
});

test('coda serve --workers 2 restarted (SIGHUP) while a worker\'s event loop is blocked for good: that worker is killed once the shutdown timeout and a grace have passed, named, and the restart ends; it waited for it for good, and took no restart after', { timeout: 60_000 }, async (t) => {
  const { cli, url, workers, agent } = await twoWorkers(t, ['--shutdown-timeout', '500'], {});
  const spinning = request(url, agent, 'GET', '/spin');
  await cli.outLine(/^spinning$/);
  const mark = cli.stderr.length;
  cli.child.kill('SIGHUP');
  await cli.line(/coda: 2 workers restarted/, mark);
  const killed = cli.stderr.slice(mark).filter((text) => / has not exited 5\.5 s after it was told to shut down \(its event loop blocked, or the process stopped\); killing it$/.test(text));
  assert.equal(killed.length, 1, cli.stderr.join('\n'));
  assert.ok(workers.some((pid) => killed[0]!.startsWith(`coda: worker ${pid} `)), killed[0]);
  assert.deepEqual(await spinning, { error: 'ECONNRESET new' });
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0);
});

test('coda serve --workers 2 --shutdown-timeout at its maximum (2147483647): a restart (SIGHUP) and a SIGTERM let the workers drain, none killed; the primary\'s kill timers overflowed (Node fires such a timer at once) and killed every worker', { timeout: 60_000 }, async (t) => {
  const { cli } = await twoWorkers(t, ['--shutdown-timeout', '2147483647'], {});
  cli.child.kill('SIGHUP');
  await cli.line(/coda: 2 workers restarted/);
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0, cli.stderr.join('\n'));
  assert.doesNotMatch(cli.stderr.join('\n'), /killing it/);
  assert.equal(cli.stdout.filter((line) => line.includes('"msg":"shutdown complete')).length, 4, 'every worker drained and reported, the restarted ones too');
});

test('coda serve --workers 1 stopped by Ctrl-C whose primary\'s word reaches the worker before the worker\'s own SIGINT (the process group\'s copy, sent here in that order): the copy is no second signal, the worker drains its request in flight until the deadline and exits 0; it exited at once, the request cut. A second SIGINT to the primary then still exits the worker at once', { timeout: 60_000 }, async (t) => {
  const copied = await oneWorker(t);
  const stuck = request(copied.url, copied.agent, 'GET', '/stuck');
  await copied.cli.outLine(/^stuck$/);
  copied.cli.child.kill('SIGINT');
  await copied.cli.outLine(/"msg":"shutting down: draining/);
  process.kill(copied.worker, 'SIGINT');
  await copied.cli.outLine(/"msg":"SIGINT, the process group's copy of the signal the primary's word came with: already shutting down, not a second signal"/);
  assert.equal(await copied.cli.exited, 0, copied.cli.stdout.join('\n'));
  const report = JSON.parse(copied.cli.stdout.find((line) => line.includes('"msg":"shutdown complete'))!) as { requestsInFlightAtClose: number };
  assert.equal(report.requestsInFlightAtClose, 1, 'the request in flight was given up at the deadline, not at once');
  assert.deepEqual(await stuck, { error: 'ECONNRESET new' });
  assert.doesNotMatch(copied.cli.stdout.join('\n'), /second signal: exiting at once/);

  // Within the same window, the primary's second signal (no copy reached the worker) is passed on as one: the worker exits at once.
  const twice = await oneWorker(t);
  const held = request(twice.url, twice.agent, 'GET', '/stuck');
  await twice.cli.outLine(/^stuck$/);
  twice.cli.child.kill('SIGINT');
  await twice.cli.outLine(/"msg":"shutting down: draining/);
  twice.cli.child.kill('SIGINT');
  await twice.cli.outLine(/second signal: exiting at once/);
  assert.equal(await twice.cli.exited, 1);
  assert.deepEqual(await held, { error: 'ECONNRESET new' });
});

/** `coda serve --workers 1` on the drain app (a shutdown timeout of 2 s) once it serves: its URL, its worker's pid (killed when the test ends) and an agent for requests. */
async function oneWorker(t: TestContext): Promise<{ cli: Cli; url: string; worker: number; agent: http.Agent }> {
  const cli = coda(['serve', fixture, '--port', '0', '--workers', '1', '--shutdown-timeout', '2000'], { CODA_LOG_LEVEL: 'info' });
  t.after(() => cli.child.kill('SIGKILL'));
  const [url] = (await cli.line(/with 1 workers/)).match(/http:\/\/127\.0\.0\.1:\d+/)!;
  const worker = Number(/worker (\d+) listening/.exec(await cli.line(/worker \d+ listening/))![1]);
  killedAtEnd(t, [worker]);
  const agent = new http.Agent();
  t.after(() => agent.destroy());
  return { cli, url: url!, worker, agent };
}

/** `coda serve --workers 2` on the drain app once it serves: its URL, its workers' pids (each killed when the test ends: a worker may outlive its primary) and an agent for requests. */
async function twoWorkers(t: TestContext, args: string[], env: Record<string, string>): Promise<{ cli: Cli; url: string; workers: number[]; agent: http.Agent }> {
  const cli = coda(['serve', fixture, '--port', '0', '--workers', '2', ...args], { CODA_LOG_LEVEL: 'info', ...env });
  t.after(() => cli.child.kill('SIGKILL'));
  const [url] = (await cli.line(/with 2 workers/)).match(/http:\/\/127\.0\.0\.1:\d+/)!;
  const workers = cli.stderr.flatMap((text) => /worker (\d+) listening/.exec(text)?.slice(1).map(Number) ?? []);
  killedAtEnd(t, workers);
  const agent = new http.Agent();
  t.after(() => agent.destroy());
  return { cli, url: url!, workers, agent };
}

/** A `coda worker` on the same file runs the durable tasks the stopped server left in the store. */
async function runLeftOvers(t: TestContext, db: string, waiting: Set<number>): Promise<void> {
  const worker: Cli = coda(['worker', fixture], { CODA_TEST_DB: db });
  t.after(() => worker.child.kill('SIGKILL'));
  for (const n of waiting) await worker.outLine(new RegExp(`^durable ${n}$`));
  worker.child.kill('SIGTERM');
  assert.equal(await worker.exited, 0);
}
