// `npm start`: the notes service on http://127.0.0.1:3000 (PORT and HOST to change it).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { serve, sqliteStore } from 'coda-http';
import { notesApp } from './app.js';

const token = process.env.NOTES_TOKEN ?? 'demo-token';
// Webhooks are durable tasks journaled in this file: kill the demo while some are pending, start it again, and they run.
const tasksFile = process.env.NOTES_TASKS_DB ?? 'var/notes-tasks.db';
mkdirSync(dirname(tasksFile), { recursive: true });
const tasks = sqliteStore({ path: tasksFile });
const app = notesApp({ token, tasks, webhookDelayMs: Number(process.env.WEBHOOK_DELAY_MS ?? 150) });
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const server = await serve(app, { port, host }).catch((error: NodeJS.ErrnoException) => {
  if (error.code !== 'EADDRINUSE') throw error;
  // The first command a newcomer runs: one line on what to do, not a stack.
  console.error(`the notes demo cannot listen on ${host}:${port}: the port is in use (another server; dev servers often take 3000); start it on another: PORT=${port + 1} npm start`);
  process.exit(1);
});

console.log(`notes service listening on ${server.url}, pid ${process.pid}   (Ctrl-C drains after-response work, then exits)

try:
  curl ${server.url}/health
  curl -i -X POST ${server.url}/notes -H 'authorization: Bearer ${token}' -H 'content-type: application/json' -d '{"text":"hello"}'
  curl ${server.url}/notes -H 'authorization: Bearer ${token}'
  curl ${server.url}/stats -H 'authorization: Bearer ${token}'
  curl -i ${server.url}/notes                      # 401, and still audited after the response
`);
