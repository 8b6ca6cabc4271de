import { task, type Task } from 'coda-http';

/** What `POST /signup` journals: the new user's id and address, not the user. */
export interface WelcomePayload {
  userId: string;
  email: string;
}

/** Sends one welcome email; rejects when the mail provider fails (the task is then retried). */
export type Mailer = (payload: WelcomePayload, idempotencyKey: string, signal: AbortSignal) => Promise<void>;

/**
 * The durable welcome email: journaled before the signup's 201 goes out, run
 * once the response is done, retried three times, 20 ms apart (short, for the
 * example). `ctx.id` is the same for every attempt: the mailer's idempotency key.
 */
export function welcomeEmail(mailer: Mailer): Task<WelcomePayload> {
  return task('welcome-email', (payload: WelcomePayload, ctx) => mailer(payload, ctx.id, ctx.signal), {
    attempts: 3,
    backoff: { type: 'fixed', delayMs: 20, jitter: 0 },
  });
}
