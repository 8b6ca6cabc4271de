// The primary's sum of its workers' metrics (coda serve --workers), with
// workers on a fake channel: what a scrape that reached one worker is
// answered with. The real cluster's scrapes: test/cli/cli.test.ts.
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { test } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { ClusterMetrics } from '../../src/observe/cluster-gather.js';
import type { MetricsMessage } from '../../src/observe/cluster-scrape.js';

type Hear = (worker: Worker, message: MetricsMessage) => void;

/**
 * A worker whose registry has Coda's pending gauge at these counts by kind:
 * it answers the primary's collects with that registry; `hear` gets its
 * answers, and what the primary tells it.
 */
function fakeWorker(pid: number, pending: Record<string, number>, hear: Hear): Worker {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'coda_tasks_pending', help: 'pending', labelNames: ['kind'], registers: [registry] });
  for (const [kind, count] of Object.entries(pending)) gauge.set({ kind }, count);
  const worker = {
    process: { pid },
    isConnected: () => true,
    send(message: MetricsMessage, callback: (error: Error | null) => void): boolean {
      callback(null);
      if (message.coda !== 'metrics-collect') hear(self, message);
      else void registry.getMetricsAsJSON().then((metrics) => hear(self, { coda: 'metrics-collected', id: message.id, metrics }));
      return true;
    },
  };
  const self = worker as unknown as Worker;
  return self;
}

test('the store\'s gauges (kind="durable") are one worker\'s: the first that has them, also when the first to answer has none (its store did not answer this time)', async () => {
  let answer: (message: MetricsMessage) => void = () => {};
  const scraped = new Promise<MetricsMessage>((resolve) => (answer = resolve));
  const hear: Hear = (worker, message) => (message.coda === 'metrics-scraped' ? answer(message) : primary.handle(worker, message));
  // The first worker's store failed its read: its scrape has kind="after" alone.
  const workers = [fakeWorker(101, { after: 1 }, hear), fakeWorker(102, { after: 2, durable: 5 }, hear), fakeWorker(103, { after: 4, durable: 5 }, hear)];
  const primary = new ClusterMetrics(() => workers, () => {});
  primary.handle(workers[0]!, { coda: 'metrics-scrape', id: 7, registry: 0, timeoutMs: 1_000 });
  const message = await scraped;
  assert.ok(message.coda === 'metrics-scraped' && 'text' in message, JSON.stringify(message));
  const lines = message.text.split('\n');
  assert.ok(lines.includes('coda_tasks_pending{kind="after"} 7'), message.text);
  assert.ok(lines.includes('coda_tasks_pending{kind="durable"} 5'), `the store's count once: ${message.text}`);
});
