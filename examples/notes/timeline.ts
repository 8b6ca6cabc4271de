import { after, type AfterContext, type HttpRequest, type MiddlewareHooks, type TaskContext } from 'coda-http';

/**
 * The demo's console: per request, when the response finished, then each
 * after-response task as it runs, timed from that finish.
 */
const finishedAt = new WeakMap<HttpRequest, number>();

function printFinished({ request, outcome }: AfterContext): void {
  finishedAt.set(request, outcome.finishedAt);
  finishedAtById.set(request.id, outcome.finishedAt);
  // Most requests have no durable task to print: keep the last thousand only.
  if (finishedAtById.size > 1_000) finishedAtById.delete(finishedAtById.keys().next().value!);
  const took = (outcome.finishedAt - outcome.startedAt).toFixed(1);
  const how = outcome.completed ? 'sent' : 'ABORTED by the client';
  console.log(`[${request.id.slice(0, 8)}] ${request.method} ${request.path} -> ${outcome.status}: response ${how} in ${took} ms (${outcome.bytesSent} bytes)`);
}

export const timeline = {
  /** Outermost middleware: its after() task is the first of every request, so the finish line prints first. */
  middleware: {
    name: 'timeline',
    processRequest() {
      after(printFinished, { name: 'timeline' });
    },
  } satisfies MiddlewareHooks,

  task(request: HttpRequest, name: string, detail: string): void {
    print(request.id, finishedAt.get(request), name, detail);
  },

  /** A durable task knows its request by a snapshot: timed from its finish when this process saw it, else (after a restart) not. */
  durable(ctx: TaskContext, name: string, detail: string): void {
    const id = ctx.request?.id ?? ctx.id;
    print(id, finishedAtById.get(id), name, detail);
    finishedAtById.delete(id);
  },
};

/** By request id, for durable tasks: deleted as each task prints. */
const finishedAtById = new Map<string, number>();

function print(requestId: string, finished: number | undefined, name: string, detail: string): void {
  const when = finished === undefined ? 'after a restart' : `+${(performance.now() - finished).toFixed(1).padStart(6)} ms after the response`;
  console.log(`[${requestId.slice(0, 8)}]   ${when}: ${name.padEnd(10)} ${detail}`);
}
