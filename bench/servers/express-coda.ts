/**
 * servers/express.ts with Coda's adapter: the same five middlewares and
 * route, but the after task is registered with `after()` from the first
 * middleware (as in servers/coda.ts) instead of the response's 'finish'.
 */
import { createServer } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/express.js';
import { afterTask, listen, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`express-coda runs the scenarios with an after task, not ${scenario}`);
const app = express();
app.use(coda({ ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) }));
STACK_HEADERS.forEach((name, i) => {
  app.use((req, res, next) => {
    if (i === 0) after(task);
    res.setHeader(name, req.get(name) ?? MISSING);
    next();
  });
});
if (scenario === 'errors') app.use((_req, _res, next) => {
  maybeFail();
  next();
});
app.get('/users/:id', (req, res) => {
  res.json({ id: req.params.id });
});
app.use((_error: unknown, _req: Request, res: Response, _next: NextFunction) => {
  res.status(500).type('text').send('Internal Server Error');
});

const server = createServer(app);
await listen(server, port);
await ready('express', scenario, server);
