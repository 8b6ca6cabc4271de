// How the Fastify plugin learns a failing stream's error: through Fastify's
// LogController, which it finds by an internal symbol's description (no
// public API reaches it from a plugin). If Fastify renames it, the first case
// says so, where the guarantee case ("a response whose stream fails mid-way")
// would only see outcome.error undefined.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { logControllerKey, noteStreamErrors } from '../../src/adapters/fastify-stream-errors.js';
import { LEVEL, memoryLogger } from '../helpers.js';

test("Fastify keeps its LogController where the plugin looks for it (a symbol described 'fastify.logController'), with a streamError method", async () => {
  const fastify = Fastify();
  const key = logControllerKey(fastify);
  assert.ok(key !== undefined, `Fastify ${fastify.version} has no symbol described 'fastify.logController' (lib/symbols.js renamed it?): src/adapters/fastify-stream-errors.ts must find its LogController another way, or a failing stream's outcome.error is lost`);
  const controller = (fastify as unknown as Record<symbol, { streamError?: unknown }>)[key];
  assert.equal(typeof controller?.streamError, 'function', `Fastify ${fastify.version}'s LogController has no streamError(): src/adapters/fastify-stream-errors.ts wraps a method that is gone`);
  await fastify.close();
});

test('a Fastify that should have a LogController (5.10 and later) where the plugin finds none: a warning says what is lost; before 5.10, nothing', () => {
  const { logger, lines } = memoryLogger();
  for (const version of ['5.9.0', '5.10.0', '6.0.0']) noteStreamErrors({ version } as Parameters<typeof noteStreamErrors>[0], logger);
  assert.deepEqual(lines.map((line) => [line.level, line.msg]), ['5.10.0', '6.0.0'].map((version) => [LEVEL.warn,
    `coda-http/fastify: Fastify ${version} has no 'fastify.logController' symbol, where this adapter finds its LogController: a reply's stream that fails once its head is out will have outcome.aborted, not outcome.error (a coda-http that knows this Fastify is needed)`]));
});
