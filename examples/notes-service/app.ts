import { on } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  after, BadRequest, compress, conditionalGet, cors, createApp, dashboard, del, FileResponse, get, HttpResponse, include,
  JsonResponse, metricsView, NonRetryableError, NotFound, post, put, staticFiles, StreamingResponse, task,
  type App, type HttpRequest, type TaskStore,
} from 'coda-http';
import { z } from 'zod';
import { auth, SESSION_COOKIE } from './auth.js';
import { Notes, toJson, type Change, type Note } from './notes.js';

/** What the service needs from its host: secrets, where webhooks go, and the durable task store. */
export interface NotesServiceOptions {
  /** The bearer token API clients send, and `POST /api/login` checks. */
  token: string;
  /** Signs the session cookie (a list rotates: the first signs, all verify). */
  secret: string | string[];
  /** Where each change is POSTed, as a durable task. */
  webhookUrl: string;
  /** The origin of the browser app allowed to call the API with its cookie. */
  frontendOrigin: string;
  /** `sqliteStore({ path })` when serving; the test client brings its own. */
  tasks?: TaskStore;
}

const noteBody = z.object({ text: z.string().trim().min(1).max(10_000) });

/**
 * Delivers one change to the webhook URL. Journaled before the response, so a
 * crash does not lose it; retried with backoff on a network error or a 5xx; a
 * 4xx is the receiver refusing it, which no retry would change.
 */
export const deliverWebhook = task('deliver-webhook', async (payload: { url: string; change: Change }, ctx) => {
  const response = await fetch(payload.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': ctx.id },
    body: JSON.stringify(payload.change),
    signal: ctx.signal,
  });
  await response.body?.cancel();
  if (response.status >= 400 && response.status < 500) throw new NonRetryableError(`the webhook receiver refused ${payload.change.event} #${payload.change.id}: ${response.status}`);
  if (!response.ok) throw new Error(`the webhook receiver answered ${response.status}`);
}, { attempts: 5, backoff: { type: 'exponential', delayMs: 1_000 }, timeoutMs: 10_000 });

/** The notes service: a JSON API under /api, a front page, metrics and the dashboard. */
export function notesService(options: NotesServiceOptions): App {
  const notes = new Notes();
  const wordCounts = new Map<number, number>();

  function find(request: HttpRequest<{ id: string }>): Note {
    const id = Number(request.params.id);
    if (!Number.isSafeInteger(id) || id < 1) throw new BadRequest(`a note id is a positive integer, not ${JSON.stringify(request.params.id)}`);
    const note = notes.byId.get(id);
    if (note === undefined) throw new NotFound(`no note ${id}`);
    return note;
  }

  /** After a successful write: the webhook (durable) and the word count (in memory, cheap to lose). */
  function afterWrite(note: Note, event: Change['event']): void {
    const change: Change = { event, id: note.id, version: note.version };
    void after(deliverWebhook, { url: options.webhookUrl, change }, { when: 'success', key: `${event}:${note.id}:${note.version}` });
    after(() => {
      if (event === 'deleted') wordCounts.delete(note.id);
      else wordCounts.set(note.id, note.text.split(/\s+/).filter(Boolean).length);
    }, { name: 'count-words', when: 'success' });
  }

  const api = [
    post('/login', async (request) => {
      const { token, user } = await request.json(z.object({ token: z.string(), user: z.string().min(1).max(100) }));
      if (token !== options.token) return new JsonResponse({ error: 'wrong token' }, { status: 403 });
      return new JsonResponse({ user }).setCookie(SESSION_COOKIE, user, { signed: true, maxAge: 86_400 });
    }),
    get('/me', (request) => new JsonResponse({ user: request.state.user })),
    get('/notes', () => new JsonResponse([...notes.byId.values()].map(toJson)), { name: 'notes' }),
    post('/notes', async (request) => {
      const note = notes.create((await request.json(noteBody)).text);
      afterWrite(note, 'created');
      return new JsonResponse(toJson(note), { status: 201, headers: { location: app.reverse('note', { id: note.id }) } });
    }),
    get('/notes/:id', (request) => new JsonResponse(toJson(find(request))), { name: 'note' }),
    put('/notes/:id', async (request) => {
      const note = find(request);
      afterWrite(notes.update(note, await request.json(noteBody)), 'updated');
      return new JsonResponse(toJson(note));
    }),
    del('/notes/:id', (request) => {
      const note = find(request);
      notes.delete(note);
      afterWrite(note, 'deleted');
      return new HttpResponse(null, { status: 204 });
    }),
    put('/notes/:id/attachment', async (request) => {
      const note = find(request);
      const file = (await request.form()).get('file');
      if (!(file instanceof File)) throw new BadRequest('send the attachment as a multipart "file" field');
      notes.update(note, { attachment: { name: file.name, type: file.type || 'application/octet-stream', bytes: await file.bytes() } });
      afterWrite(note, 'updated');
      return new JsonResponse(toJson(note));
    }),
    get('/notes/:id/attachment', (request) => {
      const { attachment } = find(request);
      if (attachment === undefined) throw new NotFound(`note ${request.params.id} has no attachment`);
      return new FileResponse(attachment.bytes, { asAttachment: true, filename: attachment.name, headers: { 'content-type': attachment.type } });
    }),
    get('/stats', () => new JsonResponse({ notes: notes.byId.size, words: [...wordCounts.values()].reduce((a, b) => a + b, 0) })),
    // Server-sent events: one per change; the signal ends the wait when the client goes.
    get('/changes', () => new StreamingResponse(async function* (signal) {
      yield 'retry: 5000\n\n';
      for await (const [change] of on(notes, 'change', { signal })) yield `data: ${JSON.stringify(change)}\n\n`;
    }, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } })),
    get('/metrics', metricsView()),
  ];

  const app = createApp({
    secret: options.secret,
    metrics: true,
    middleware: [cors({ origins: [options.frontendOrigin], credentials: true }), compress(), conditionalGet()],
    routes: [
      include('/api', api, { middleware: [auth(options.token)] }),
      ...dashboard({ path: '/coda', authorize: (request) => request.signedCookies.get(SESSION_COOKIE) === 'admin' }),
      staticFiles('/', { root: fileURLToPath(new URL('public', import.meta.url)) }),
    ],
    tasks: { definitions: [deliverWebhook], ...(options.tasks === undefined ? {} : { store: options.tasks }) },
  });
  return app;
}
