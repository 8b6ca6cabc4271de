import { NonRetryableError, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';

/** What `POST /orders` journals: enough to send the receipt, not the order itself. */
export interface ReceiptPayload {
  orderId: string;
  email: string;
}

/**
 * Emails the receipt through the mailer's HTTP API. Durable: journaled in
 * Redis before the order's 201 goes out, run by a worker process, retried
 * with backoff on a network error or a 5xx. `ctx.id` is the same for every
 * attempt, so the mailer can drop a retry of a receipt it already sent.
 */
export const emailReceipt = task('email-receipt', async (payload: ReceiptPayload, ctx) => {
  const response = await fetch(process.env.MAILER_URL ?? 'http://127.0.0.1:8025/send', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': ctx.id },
    body: JSON.stringify({ to: payload.email, template: 'receipt', orderId: payload.orderId }),
    signal: ctx.signal,
  });
  await response.body?.cancel();
  if (response.status >= 400 && response.status < 500) throw new NonRetryableError(`the mailer refused the receipt of order ${payload.orderId}: ${response.status}`);
  if (!response.ok) throw new Error(`the mailer answered ${response.status}`);
}, { attempts: 5, backoff: { type: 'exponential', delayMs: 1_000 }, timeoutMs: 10_000 });

/** Every durable task of the service: the web process and the workers must list the same. */
export const definitions = [emailReceipt];

/** The Redis of `REDIS_HOST`/`REDIS_PORT` (127.0.0.1:6379), keys under `ORDERS_PREFIX` (`orders`). */
export function ordersStore(env: NodeJS.ProcessEnv = process.env): ReturnType<typeof bullmqStore> {
  return bullmqStore({
    connection: { host: env.REDIS_HOST ?? '127.0.0.1', port: Number(env.REDIS_PORT ?? 6379) },
    prefix: env.ORDERS_PREFIX ?? 'orders',
  });
}
