// The orders example (examples/orders-adapter): an Express app with Coda mounted,
// its durable receipts journaled in a real Redis and run by a worker in a child
// process (traced, counted in its metrics), read back with `coda tasks`.
// CODA_REQUIRE_REDIS=1 fails instead of skipping where redis-server is missing.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ordersApp } from '../../examples/orders-adapter/app.js';
import { ordersStore } from '../../examples/orders-adapter/tasks.js';
import { useRedis } from '../bullmq/redis-server.js';

const { missing, server: redis } = useRedis();
const example = (file: string): string => fileURLToPath(new URL(`../../examples/orders-adapter/${file}`, import.meta.url));
const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** A mailer on loopback: answers each send with the next status given (200 once they run out), and emits 'sent' with its body. */
async function mailer(t: TestContext, statuses: number[]): Promise<{ url: string; sent: EventEmitter }> {
  const sent = new EventEmitter();
  const server: Server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const status = statuses.shift() ?? 200;
    res.writeHead(status).end();
    sent.emit('sent', { key: req.headers['idempotency-key'], body: JSON.parse(body), status });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/send`, sent };
}

/** The child's stdout lines, and a wait for the first that matches (rejected if the child's output ends first). */
function output(child: ChildProcess): (matches: (line: string) => boolean) => Promise<string> {
  const lines: string[] = [];
  const printed = new EventEmitter();
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (line) => { lines.push(line); printed.emit('line'); });
  reader.on('close', () => printed.emit('close'));
  return (matches) => new Promise((resolve, reject) => {
    const look = (): boolean => {
      const found = lines.find(matches);
      if (found !== undefined) resolve(found);
      return found !== undefined;
    };
    if (look()) return;
    const onLine = (): void => { if (look()) stopListening(); };
    const onClose = (): void => { stopListening(); reject(new Error(`the process's output ended without the line awaited; it printed:\n${lines.join('\n')}`)); };
    const stopListening = (): void => { printed.off('line', onLine); printed.off('close', onClose); };
    printed.on('line', onLine);
    printed.on('close', onClose);
  });
}

test('orders on Express: a receipt journaled in Redis and run by a worker process, retried once, traced and counted there, listed by coda tasks; the in-memory log line, the CSV stream and the error route', { skip: missing, timeout: 120_000 }, async (t) => {
  const mail = await mailer(t, [503]);
  const env = { ...process.env, REDIS_PORT: String(redis().port), ORDERS_PREFIX: 'orders-example', MAILER_URL: mail.url };
  const logged: string[] = [];
  t.mock.method(console, 'log', (line: string) => { logged.push(line); });

  const { app, tasks } = ordersApp(ordersStore(env));
  const { server, close } = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(() => close());

  const worker = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', example('worker.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...env, METRICS_PORT: '0', CODA_LOG_LEVEL: 'warn' },
  });
  t.after(() => { if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL'); });
  const printed = output(worker);
  const metricsUrl = (await printed((line) => line.startsWith('worker running'))).replace(/^.* metrics on /, '');

  const firstTwo = new Promise<Array<{ key: string; body: unknown; status: number }>>((resolve) => {
    const seen: Array<{ key: string; body: unknown; status: number }> = [];
    mail.sent.on('sent', (sent) => { if (seen.push(sent) === 2) resolve(seen); });
  });
  const created = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'order-req-1' }, body: JSON.stringify({ email: 'ada@example.com', total: 42 }) });
  assert.equal(created.status, 201);
  const order = await created.json() as { id: string; receiptTask: string };
  const invalid = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":1}' });
  assert.equal(invalid.status, 400);

  const csv = await fetch(`${base}/orders.csv`);
  assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
  assert.equal(await csv.text(), `id,email,total\n${order.id},ada@example.com,42\n`);
  const boom = await fetch(`${base}/boom`);
  assert.equal(boom.status, 500);
  assert.deepEqual(await boom.json(), { error: 'boom: the error route' });

  await tasks.app.settle();
  assert.deepEqual(logged, [`order ${order.id} answered 201`], 'the in-memory after() task ran once, for the order accepted');
  const stored = await tasks.app.tasks.get(order.receiptTask);
  assert.equal(stored?.request?.id, 'order-req-1', 'the receipt keeps the request it came from');
  assert.equal(stored?.request?.ip, '127.0.0.1');

  // The worker: the mailer's 503 failed attempt 1, attempt 2 sent it, with the same idempotency key.
  const [first, second] = await firstTwo;
  assert.deepEqual([first!.status, second!.status], [503, 200]);
  assert.equal(first!.key, order.receiptTask);
  assert.equal(second!.key, order.receiptTask);
  assert.deepEqual(second!.body, { to: 'ada@example.com', template: 'receipt', orderId: order.id });
  const span = JSON.parse(await printed((line) => line.includes('"span":"process email-receipt"') && line.includes('"coda.task.attempt":2'))) as { attributes: Record<string, unknown> };
  assert.equal(span.attributes['coda.request.id'], 'order-req-1', 'the attempt\'s span names the request that registered it');
  const metrics = await (await fetch(metricsUrl)).text();
  assert.match(metrics, /^coda_tasks_total\{kind="durable",task="email-receipt",state="retrying"\} 1$/m);

  // SIGTERM: the worker finishes what it runs (the completion written), then exits.
  const exited = once(worker, 'exit');
  worker.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);

  const listed = await promisify(execFile)(process.execPath, ['--conditions=coda-source', '--import', 'tsx', cli, 'tasks', 'list', example('coda.ts'), '--json'], { env });
  const [task] = JSON.parse(listed.stdout) as Array<{ id: string; name: string; state: string; attempt: number; key: string; errors: Array<{ attempt: number; message: string }> }>;
  assert.deepEqual({ id: task?.id, name: task?.name, state: task?.state, attempt: task?.attempt, key: task?.key }, { id: order.receiptTask, name: 'email-receipt', state: 'completed', attempt: 2, key: `receipt:${order.id}` });
  assert.deepEqual(task?.errors.map(({ attempt, message }) => ({ attempt, message })), [{ attempt: 1, message: 'Error: the mailer answered 503' }]);
});
