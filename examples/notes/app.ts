import { setTimeout as sleep } from 'node:timers/promises';
import {
  after, createApp, del, get, HttpResponse, JsonResponse, NotFound, BadRequest, post, StreamingResponse, task,
  type App, type HttpRequest, type TaskStore,
} from 'coda-http';
import { Auth, timing } from './middleware.js';
import { NoteStore } from './store.js';
import { timeline } from './timeline.js';

/**
 * The notes service: JSON views over an in-memory store, with after-response
 * work a real service does. The webhook is a durable task: journaled in
 * `tasks` (a SQLite file in the demo) before the response, retried, and run
 * after a crash; the cache warm-up and the timeline stay in memory.
 */
export function notesApp(options: { token: string; webhookDelayMs?: number; tasks?: TaskStore }): App {
  const store = new NoteStore();
  let stats = { count: 0, longest: 0 };

  function noteId(request: HttpRequest<{ id: string }>): number {
    const id = Number(request.params.id);
    if (!Number.isSafeInteger(id) || id < 1) throw new BadRequest(`note id must be a positive integer, got ${JSON.stringify(request.params.id)}`);
    return id;
  }

  /** Sends the outgoing webhook, off the request path: the client never waits for it, and a crash does not lose it. */
  const webhook = task('webhook', async (payload: { event: string }, ctx) => {
    await sleep(options.webhookDelayMs ?? 150, undefined, { signal: ctx.signal });
    timeline.durable(ctx, 'webhook', `delivered ${payload.event} (attempt ${ctx.attempt})`);
  }, { attempts: 5, backoff: { type: 'exponential', delayMs: 500 } });

  /** Recomputes the stats the /stats view serves: a cache warm-up after each write. */
  function warmStatsCache(request: HttpRequest): void {
    const notes = store.list();
    stats = { count: notes.length, longest: Math.max(0, ...notes.map((n) => n.text.length)) };
    timeline.task(request, 'cache-warm', `stats now ${JSON.stringify(stats)}`);
  }

  return createApp({
    middleware: [timeline.middleware, timing, new Auth(options.token)],
    // A short lease so that the demo shows a crash recovered within seconds (the default is 15 s).
    tasks: { definitions: [webhook], leaseMs: 3_000, ...(options.tasks === undefined ? {} : { store: options.tasks }) },
    routes: [
      get('/health', () => new JsonResponse({ ok: true })),
      get('/notes', () => new JsonResponse(store.list()), { name: 'notes' }),
      post('/notes', async (request) => {
        const body = await request.json<{ text?: unknown }>();
        if (typeof body?.text !== 'string' || body.text.trim() === '') throw new BadRequest('a note needs a non-empty "text" string');
        const note = store.add(body.text);
        void after(webhook, { event: `note.created #${note.id}` }, { when: 'success' });
        return new JsonResponse(note, { status: 201, headers: { location: `/notes/${note.id}` } })
          .after(() => warmStatsCache(request), { name: 'cache-warm', when: 'success' });
      }),
      get('/notes/:id', (request) => {
        const note = store.get(noteId(request));
        if (note === undefined) throw new NotFound(`no note ${request.params.id}`);
        return new JsonResponse(note);
      }, { name: 'note' }),
      del('/notes/:id', (request) => {
        const id = noteId(request);
        if (!store.delete(id)) throw new NotFound(`no note ${id}`);
        void after(webhook, { event: `note.deleted #${id}` });
        return new HttpResponse(null, { status: 204 }).after(() => warmStatsCache(request), { name: 'cache-warm' });
      }),
      get('/stats', () => new JsonResponse(stats)),
      get('/export', () => new StreamingResponse((async function* () {
        for (const note of store.list()) yield `${JSON.stringify(note)}\n`;
      })(), { headers: { 'content-type': 'application/x-ndjson' } })),
    ],
  });
}
