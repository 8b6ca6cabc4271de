import { afterEntry, type AfterOptions, type AfterTask } from '../http/response.js';
import { taskEntry, type DurableTask, type TaskAfterOptions, type TaskRegistration } from '../http/task-entry.js';
import { currentRequest } from '../util/current-request.js';
import type { Job } from './job.js';

// `inJob(job, asyncContext, fn, arg)` calls `fn(arg)` as code of `job`'s request; `enterJob` the same from a
// listener Node's server calls, leaving Node to put the outer context back (see util/current-request.ts).
export { inRequest as inJob, enterRequest as enterJob } from '../util/current-request.js';

/** The job of the request whose code is running, if any: only jobs are ever set (by `inJob`). */
function currentJob(): Job | undefined {
  return currentRequest() as Job | undefined;
}

/**
 * Runs `task` after the current request's response has been sent, from
 * anywhere in the request's async call tree (like Next.js `after()`): a view,
 * a middleware, a streamed body, or another task.
 *
 * Called before the response is done, the task joins the request's
 * after-response work. Called later (from a task, or from work the view left
 * running), it is queued at once with the outcome already known. The task runs
 * in the async context of this call (AsyncLocalStorage stores included).
 *
 * @example
 * ```ts
 * async function saveNote(request) {
 *   const note = await store.save(await request.json());
 *   after(() => search.index(note), { name: 'index-note' });
 *   return new JsonResponse(note, { status: 201 });
 * }
 * ```
 */
export function after(task: AfterTask, options?: AfterOptions): void;
/**
 * Registers a durable task (see `task()`) for the current request: journaled
 * before the response's first byte, run once the response is done (by `when`),
 * retried by the task's policy, recovered after a crash. Resolves once it is
 * journaled, saying whether its `key` made it a duplicate; the response waits
 * for it anyway, so awaiting is optional.
 *
 * @example
 * ```ts
 * after(sendWelcome, { userId: user.id }, { when: 'success', key: `welcome:${user.id}` });
 * ```
 */
export function after<Payload>(task: DurableTask<Payload>, payload: Payload, options?: TaskAfterOptions): Promise<TaskRegistration>;
export function after(task: AfterTask | DurableTask<unknown>, second?: unknown, third?: TaskAfterOptions): void | Promise<TaskRegistration> {
  const job = currentJob();
  if (job === undefined) {
    // A durable task outside any request (a script, a worker, another durable task) has a way in: enqueue().
    const durable = typeof task === 'object' && task !== null && typeof task.name === 'string'
      ? `; outside a request (a script, a worker, a durable task) journal "${task.name}" with await app.tasks.enqueue(task, payload)`
      : '';
    throw new Error(
      'after() was called outside a request: call it from a view, a middleware, a streamed body or an after-response task, or use response.after() '
      + `(with createApp({ asyncContext: false }), after() finds its request only before the first await)${durable}`,
    );
  }
  return register(job, 'after()', task, second, third);
}

/**
 * Registers a task for `job`'s request as `after()` does: a function in
 * memory, a `task()` with its payload durably. `where` names the call in
 * error messages (`'res.after()'`). The adapters' per-response `after` is this.
 */
export function register(job: Job, where: string, task: AfterTask | DurableTask<unknown>, second?: unknown, third?: TaskAfterOptions): void | Promise<TaskRegistration> {
  if (typeof task === 'function') {
    job.add(afterEntry(where, task, second as AfterOptions | undefined));
    return;
  }
  const registered = job.addTask(taskEntry(where, task, second, third, job.payloadLimit));
  // The response fails (503) if the store cannot take it: a caller that does not await must not see an unhandled rejection.
  registered.catch(() => {});
  return registered;
}
