// `npm start`: the notes service on http://127.0.0.1:3000 (PORT and HOST to change it).
import { serve } from 'coda-http';
import { notesApp } from './app.js';

const token = process.env.NOTES_TOKEN ?? 'demo-token';
const app = notesApp({ token });
const server = await serve(app, { port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });

console.log(`notes service listening on ${server.url}   (Ctrl-C drains after-response work, then exits)

try:
  curl ${server.url}/health
  curl -i -X POST ${server.url}/notes -H 'authorization: Bearer ${token}' -H 'content-type: application/json' -d '{"text":"hello"}'
  curl ${server.url}/notes -H 'authorization: Bearer ${token}'
  curl ${server.url}/stats -H 'authorization: Bearer ${token}'
  curl -i ${server.url}/notes                      # 401, and still audited after the response
`);
