/** Coda serving `<root>` at /static with staticFiles(); the ready line is `{ "port": N }`. */
import { pino } from 'pino';
import { createApp, serve, staticFiles } from '../../src/index.js';
import { readyLine, staticRoot } from './args.js';

const app = createApp({ routes: [staticFiles('/static', { root: staticRoot() })], logger: pino({ level: 'silent' }) });
const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
readyLine(server.port);
