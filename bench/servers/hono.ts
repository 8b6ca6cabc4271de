/** Hono (see hono-app.ts) with the after task on the raw Node response (`c.env.outgoing`)'s 'finish'. */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { afterTask, listen, ready, serverArgs } from '../shared.js';
import { honoApp } from './hono-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = honoApp(scenario, task === undefined ? {} : { first: (c) => void c.env.outgoing.on('finish', task) });

const server = createAdaptorServer({ fetch: app.fetch }) as Server;
await listen(server, port);
await ready('hono', scenario, server);
