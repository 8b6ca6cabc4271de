/**
 * Express 5 with its defaults. Express middleware has no way back out, so
 * each of the five sets its response header before calling `next()` (headers
 * go out with the response either way); the after task is on the response's
 * 'finish'; a four-argument error handler answers the 500s (Express's
 * fallback would print each error's stack).
 */
import { createServer } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterTask, HELLO, listen, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = express();

if (scenario === 'hello') {
  app.get('/', (_req, res) => {
    res.type('text').send(HELLO);
  });
} else {
  STACK_HEADERS.forEach((name, i) => {
    app.use((req, res, next) => {
      if (i === 0 && task !== undefined) res.on('finish', task);
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
}

const server = createServer(app);
await listen(server, port);
await ready('express', scenario, server);
