/** Fastify serving `<root>` at /static with @fastify/static; the ready line is `{ "port": N }`. */
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { readyLine, staticRoot } from './args.js';

const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root: staticRoot(), prefix: '/static/' });
await app.listen({ port: 0, host: '127.0.0.1' });
readyLine((app.server.address() as AddressInfo).port);
