// A worker process: node --import tsx examples/orders-adapter/worker.ts, as many as you like, on any
// machine that reaches Redis. It runs the receipts, traces each attempt, and serves their metrics on
// METRICS_PORT (9465). `coda worker ./examples/orders-adapter/coda.ts --metrics-port 9465` runs them too.
import './otel.js';
import { createApp, get, metricsView, runWorker, serve } from 'coda-http';
import { definitions, ordersStore } from './tasks.js';

await runWorker({ definitions, store: ordersStore(), metrics: true, tracing: true });
const metrics = await serve(createApp({ routes: [get('/metrics', metricsView())], accessLog: false }), {
  port: Number(process.env.METRICS_PORT ?? 9465),
  host: '127.0.0.1',
});
console.log(`worker running; metrics on ${metrics.url}/metrics`);
