/** Express serving `<root>` at /static with express.static; the ready line is `{ "port": N }`. */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { readyLine, staticRoot } from './args.js';

const app = express();
app.use('/static', express.static(staticRoot()));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
readyLine((server.address() as AddressInfo).port);
