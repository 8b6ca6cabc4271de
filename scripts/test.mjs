// `npm test`: type-check, then run every test/**/*.test.ts with Node's test runner.
//
// The tests run on CODA_TEST_NODE when it is set (CI: Node 22 and 26), else on
// the Node running this script: inside npm scripts, the pinned devDependency
// (node_modules/.bin/node). TypeScript runs through tsx, and `coda-http`
// resolves to src/ through the `coda-source` export condition, also in the
// processes the tests spawn (NODE_OPTIONS).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit']);

// readdirSync's `recursive` rather than fs.globSync: the same on every Node this may run on.
const files = readdirSync(new URL('../test', import.meta.url), { recursive: true })
  .filter((file) => file.endsWith('.test.ts'))
  .map((file) => `test/${file.split('\\').join('/')}`)
  .sort();

const node = process.env.CODA_TEST_NODE || process.execPath;
const conditions = '--conditions=coda-source';
const nodeOptions = [process.env.NODE_OPTIONS, conditions].filter(Boolean).join(' ');
// A test that hangs fails after three minutes (the longest take under one) instead of holding CI until its own limit.
run(node, [conditions, '--import', 'tsx', '--test', '--test-timeout=180000', '--test-reporter=spec', ...files], { ...process.env, NODE_OPTIONS: nodeOptions });
