import { after, type AfterContext, type HttpRequest, type MiddlewareHooks } from 'coda-http';

/**
 * The demo's console: per request, when the response finished, then each
 * after-response task as it runs, timed from that finish.
 */
const finishedAt = new WeakMap<HttpRequest, number>();

function printFinished({ request, outcome }: AfterContext): void {
  finishedAt.set(request, outcome.finishedAt);
  const took = (outcome.finishedAt - outcome.startedAt).toFixed(1);
  const how = outcome.completed ? 'sent' : 'ABORTED by the client';
  console.log(`${tag(request)} ${request.method} ${request.path} -> ${outcome.status}: response ${how} in ${took} ms (${outcome.bytesSent} bytes)`);
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
    const since = performance.now() - (finishedAt.get(request) ?? performance.now());
    console.log(`${tag(request)}   +${since.toFixed(1).padStart(6)} ms after the response: ${name.padEnd(10)} ${detail}`);
  },
};

function tag(request: HttpRequest): string {
  return `[${request.id.slice(0, 8)}]`;
}
