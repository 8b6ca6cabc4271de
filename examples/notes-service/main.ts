// The notes service on http://127.0.0.1:3001 (PORT to change it): node --import tsx examples/notes-service/main.ts
import { mkdirSync } from 'node:fs';
import { serve, sqliteStore } from 'coda-http';
import { notesService } from './app.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the notes service needs it`);
  return value;
}

mkdirSync('var', { recursive: true });
const app = notesService({
  token: required('NOTES_TOKEN'),
  secret: required('CODA_SECRET'),
  webhookUrl: required('WEBHOOK_URL'),
  frontendOrigin: process.env.FRONTEND_ORIGIN ?? 'http://localhost:5173',
  tasks: sqliteStore({ path: 'var/notes-service-tasks.db' }),
});
const server = await serve(app, { port: Number(process.env.PORT ?? 3001), host: '127.0.0.1' });
console.log(`notes service on ${server.url} (SIGTERM drains requests, then the tasks)`);
