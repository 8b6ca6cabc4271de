/** Express (see express-app.ts) with the after task on the response's 'finish'. */
import { createServer } from 'node:http';
import { afterTask, listen, ready, serverArgs } from '../shared.js';
import { expressApp } from './express-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = expressApp(scenario, task === undefined ? {} : { first: (res) => void res.on('finish', task) });

const server = createServer(app);
await listen(server, port);
await ready('express', scenario, server);
