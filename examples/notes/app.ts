import { setTimeout as sleep } from 'node:timers/promises';
import {
  after, createApp, del, get, HttpResponse, JsonResponse, NotFound, BadRequest, post, StreamingResponse,
  type App, type HttpRequest,
} from 'coda-http';
import { Auth, timing } from './middleware.js';
import { NoteStore } from './store.js';
import { timeline } from './timeline.js';

/** The notes service: JSON views over an in-memory store, with after-response work a real service does. */
export function notesApp(options: { token: string; webhookDelayMs?: number }): App {
  const store = new NoteStore();
  let stats = { count: 0, longest: 0 };

  function noteId(request: HttpRequest<{ id: string }>): number {
    const id = Number(request.params.id);
    if (!Number.isSafeInteger(id) || id < 1) throw new BadRequest(`note id must be a positive integer, got ${JSON.stringify(request.params.id)}`);
    return id;
  }

  /** Sends the outgoing webhook, off the request path: the client never waits for it. */
  async function notifyWebhook(request: HttpRequest, event: string, signal: AbortSignal): Promise<void> {
    await sleep(options.webhookDelayMs ?? 150, undefined, { signal });
    timeline.task(request, 'webhook', `delivered ${event}`);
  }

  /** Recomputes the stats the /stats view serves: a cache warm-up after each write. */
  function warmStatsCache(request: HttpRequest): void {
    const notes = store.list();
    stats = { count: notes.length, longest: Math.max(0, ...notes.map((n) => n.text.length)) };
    timeline.task(request, 'cache-warm', `stats now ${JSON.stringify(stats)}`);
  }

  return createApp({
    middleware: [timeline.middleware, timing, new Auth(options.token)],
    routes: [
      get('/health', () => new JsonResponse({ ok: true })),
      get('/notes', () => new JsonResponse(store.list()), { name: 'notes' }),
      post('/notes', async (request) => {
        const body = await request.json<{ text?: unknown }>();
        if (typeof body?.text !== 'string' || body.text.trim() === '') throw new BadRequest('a note needs a non-empty "text" string');
        const note = store.add(body.text);
        after(({ signal }) => notifyWebhook(request, `note.created #${note.id}`, signal), { name: 'webhook', when: 'success' });
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
        after(({ signal }) => notifyWebhook(request, `note.deleted #${id}`, signal), { name: 'webhook' });
        return new HttpResponse(null, { status: 204 }).after(() => warmStatsCache(request), { name: 'cache-warm' });
      }),
      get('/stats', () => new JsonResponse(stats)),
      get('/export', () => new StreamingResponse((async function* () {
        for (const note of store.list()) yield `${JSON.stringify(note)}\n`;
      })(), { headers: { 'content-type': 'application/x-ndjson' } })),
    ],
  });
}
