import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import express, { type ErrorRequestHandler } from 'express';
import { after, type TaskStore } from 'coda-http';
import { coda } from 'coda-http/express';
import { definitions, emailReceipt } from './tasks.js';

/** An order as the API takes it. */
interface Order {
  id: string;
  email: string;
  total: number;
}

/**
 * The orders API, an ordinary Express app with Coda mounted first. `store`
 * is where the durable tasks are journaled; `run: false` leaves running
 * them to the worker processes (worker.ts).
 */
export function ordersApp(store: TaskStore): { app: express.Express; tasks: ReturnType<typeof coda> } {
  const orders: Order[] = [];
  const tasks = coda({ tasks: { definitions, store, run: false } });
  const app = express();
  app.use(tasks);

  app.post('/orders', express.json(), async (req, res) => {
    const { email, total } = req.body as Partial<Order>;
    if (typeof email !== 'string' || typeof total !== 'number') {
      res.status(400).json({ error: 'an order is { email: string, total: number }' });
      return;
    }
    const order: Order = { id: randomUUID(), email, total };
    orders.push(order);
    // Durable: in Redis before the 201's first byte; the key makes it one pending receipt per order.
    const { id } = await res.after(emailReceipt, { orderId: order.id, email }, { when: 'success', key: `receipt:${order.id}` });
    // In memory: cheap to lose, runs in this process once the response is sent.
    after(({ outcome }) => console.log(`order ${order.id} answered ${outcome.status}`), { name: 'log-order' });
    res.status(201).json({ ...order, receiptTask: id });
  });

  // A CSV streamed row by row; a client that leaves stops the stream.
  app.get('/orders.csv', (_req, res) => {
    res.type('text/csv');
    Readable.from((function* () {
      yield 'id,email,total\n';
      for (const order of orders) yield `${order.id},${order.email},${order.total}\n`;
    })()).pipe(res);
  });

  app.get('/boom', () => {
    throw new Error('boom: the error route');
  });

  const onError: ErrorRequestHandler = (error: Error, _req, res, next) => {
    if (res.headersSent) return next(error);
    res.status(500).json({ error: error.message });
  };
  app.use(onError);
  return { app, tasks };
}
