/**
 * Express 5 with its defaults. Express middleware has no way back out, so
 * each of the five sets its response header before calling `next()` (headers
 * go out with the response either way); a four-argument error handler answers
 * the 500s (Express's fallback would print each error's stack). The after
 * task is wired by the caller (see wiring.ts).
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { HELLO, maybeFail, MISSING, type Scenario, STACK_HEADERS } from '../shared.js';
import type { AfterWiring } from './wiring.js';

export function expressApp(scenario: Scenario, wiring: AfterWiring<Express, Response>): Express {
  const app = express();
  wiring.install?.(app);
  if (scenario === 'hello') {
    app.get('/', (_req, res) => {
      res.type('text').send(HELLO);
    });
    return app;
  }
  STACK_HEADERS.forEach((name, i) => {
    app.use((req, res, next) => {
      if (i === 0) wiring.first?.(res);
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
  return app;
}
