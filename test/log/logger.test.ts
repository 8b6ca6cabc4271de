import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultLogger } from '../../src/log/logger.js';

/** The default logger's level with the environment `env` says (undefined: unset), the process's restored after. */
function levelWith(env: Record<string, string | undefined>): string {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  const set = (values: Record<string, string | undefined>): void => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  set(env);
  try {
    return defaultLogger().level;
  } finally {
    set(saved);
  }
}

const NONE = { NODE_TEST_CONTEXT: undefined, VITEST: undefined, JEST_WORKER_ID: undefined, CODA_LOG_LEVEL: undefined };

test('the default logger is silent under a test runner (node --test, vitest, jest) and at info elsewhere; CODA_LOG_LEVEL wins', () => {
  assert.equal(levelWith(NONE), 'info');
  assert.equal(levelWith({ ...NONE, NODE_TEST_CONTEXT: 'child-v8' }), 'silent');
  assert.equal(levelWith({ ...NONE, VITEST: 'true' }), 'silent');
  assert.equal(levelWith({ ...NONE, JEST_WORKER_ID: '1' }), 'silent');
  assert.equal(levelWith({ ...NONE, VITEST: 'true', CODA_LOG_LEVEL: 'debug' }), 'debug');
});

test('CODA_LOG_LEVEL: any case of a level pino knows; empty counts as unset; another word is refused, naming the variable and the levels', () => {
  assert.equal(levelWith({ ...NONE, CODA_LOG_LEVEL: 'WARN' }), 'warn');
  assert.equal(levelWith({ ...NONE, CODA_LOG_LEVEL: 'Silent' }), 'silent');
  // As a compose file's CODA_LOG_LEVEL=${LOG_LEVEL} sets it when LOG_LEVEL is not: pino threw "default level: must be included in custom levels".
  assert.equal(levelWith({ ...NONE, CODA_LOG_LEVEL: '' }), 'info');
  assert.equal(levelWith({ ...NONE, VITEST: 'true', CODA_LOG_LEVEL: '' }), 'silent');
  assert.throws(() => levelWith({ ...NONE, CODA_LOG_LEVEL: 'verbose' }), {
    name: 'TypeError',
    message: 'CODA_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"',
  });
});
