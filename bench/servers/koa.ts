/** Koa (see koa-app.ts) with the after task on the raw response's 'finish'. */
import { createServer } from 'node:http';
import { afterTask, listen, ready, serverArgs } from '../shared.js';
import { koaApp } from './koa-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = koaApp(scenario, task === undefined ? {} : { first: (ctx) => void ctx.res.on('finish', task) });

const server = createServer(app.callback());
await listen(server, port);
await ready('koa', scenario, server);
