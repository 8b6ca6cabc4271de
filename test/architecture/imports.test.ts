// The architecture, checked: src/ has no import cycle (type-only imports
// included), and imports point one way, from the folders that build on others
// to the folders they build on.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Each folder (or root file) of src/ and its layer: a module may import from
 * its own folder and from folders of lower layers only.
 */
const LAYERS: Record<string, number> = {
  'util': 0, 'symbols.ts': 0,
  // Loggers and outage lines: they use util's helpers (errorMessage); everything above logs.
  'log': 0.5,
  'http': 1,
  'after': 2, 'pipeline': 2,
  // Spans, metrics, access log: read requests and tasks (http, after, pipeline); durable and app wire them in.
  'observe': 2.5,
  'routing': 3, 'transport': 3, 'durable': 3, 'middleware': 3,
  // bullmq: a store (durable's TaskStore on BullMQ), published as coda-http/bullmq; nothing imports it.
  'app': 4, 'bullmq': 4,
  // The dashboard is routes that observe an app; the command line loads an app and serves it.
  'server': 5, 'dashboard': 5,
  // The framework adapters drive the app and its server's shutdown from another framework's middleware.
  'testing': 6, 'adapters': 6, 'cli': 6,
  'index.ts': 7,
};

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return modules(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every module of src/ (relative to src/) and the src/ modules it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of modules(src)) {
    const targets: string[] = [];
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith('.')) continue;
      targets.push(path.relative(src, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts'));
    }
    graph.set(path.relative(src, file), targets);
  }
  return graph;
}

/** The strongly connected components with more than one module, or one that imports itself (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

const folderOf = (module: string): string => module.split(path.sep)[0]!;

test('the cycle finder finds a cycle, and only a cycle', () => {
  const graph = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']], ['e.ts', ['e.ts']]]);
  assert.deepEqual(cycles(graph), [['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
  assert.deepEqual(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', []]])), []);
});

test('src/ has no import cycle, type-only imports included', () => {
  const graph = importGraph();
  assert.ok(graph.size > 30, `expected the whole of src/, found ${graph.size} modules`);
  assert.deepEqual(cycles(graph), []);
});

test('imports point one way: from a folder to its own or to lower layers', () => {
  const wrong: string[] = [];
  for (const [module, targets] of importGraph()) {
    const layer = LAYERS[folderOf(module)];
    assert.notEqual(layer, undefined, `src/${module}: its folder has no layer in this test; add it to LAYERS`);
    for (const target of targets) {
      if (folderOf(target) === folderOf(module)) continue;
      if (LAYERS[folderOf(target)]! >= layer!) wrong.push(`${module} -> ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});
