// The published types compile against the @types/node a user has, old or new:
// they name no type of Node's that one of them lacks.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src/', import.meta.url));

/** Types one @types/node declares and another does not: `InspectOptionsStylized` is gone from @types/node 26 (`InspectContext` there), which 22 lacks. */
const NOT_IN_EVERY_TYPES_NODE = ['InspectOptionsStylized', 'InspectContext'];

const NODE_IMPORT = /import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'node:[^']+'/g;

test("src/ imports no type of Node's that some @types/node lacks (InspectOptionsStylized: a user with @types/node 26 got TS2305 in coda-http's own .d.ts)", () => {
  const found: string[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'))) {
    for (const [, names] of readFileSync(path.join(src, file), 'utf8').matchAll(NODE_IMPORT)) {
      const named = names!.split(',').map((name) => name.replace(/^\s*type\s+/, '').trim().split(/\s+as\s+/)[0]!);
      for (const name of named) if (NOT_IN_EVERY_TYPES_NODE.includes(name)) found.push(`${file}: ${name}`);
    }
  }
  assert.deepEqual(found, []);
});
