// Every ```ts snippet in README.md and docs/ type-checks against the
// public API: a rename or a changed option that the docs still show fails
// here. Snippets are fragments, so names they use without defining are given:
// a public export of coda-http is imported, a few names the docs use for a
// request's objects get their real type (the framework's own in the adapters'
// pages), anything else (the reader's `store`,
// `mailer`) is `any`. Modules not installed here (bull-board) are skipped.
// A snippet that imports from coda-http is one a reader copies whole: it
// must import every coda-http name it uses.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CANNOT_FIND_NAME = new Set([2304, 2552, 18004]);
const CANNOT_FIND_MODULE = 2307;

/** Names the docs use for what a view or middleware holds, typed as they are. */
const TYPED_GIVENS: Record<string, string> = {
  app: "import('coda-http').App",
  request: "import('coda-http').HttpRequest",
  response: "import('coda-http').HttpResponse",
  routes: "import('coda-http').RouteEntry[]",
};

/** In the adapters' pages `app` is the framework's, and some names are the framework's own: given as such, first. */
const DOC_GIVENS: Record<string, Record<string, string>> = {
  'docs/adapters/express.md': { app: "declare const app: import('express').Express;", express: "import express from 'express';" },
  'docs/adapters/fastify.md': { fastify: "declare const fastify: import('fastify').FastifyInstance;" },
  'docs/adapters/hono.md': { app: "declare const app: import('hono').Hono;", serve: "import { serve } from '@hono/node-server';" },
  'docs/adapters/koa.md': { app: "declare const app: import('koa');" },
};

interface Snippet {
  /** The page it is on. */
  doc: string;
  source: string;
  /** Virtual file, inside the package so that `coda-http` resolves to itself. */
  file: string;
  code: string;
}

function snippets(): Snippet[] {
  const docs = readdirSync(path.join(root, 'docs'), { recursive: true }).map(String).filter((f) => f.endsWith('.md')).sort();
  const sources = ['README.md', ...docs.map((f) => `docs/${f.split(path.sep).join('/')}`)];
  const found: Snippet[] = [];
  for (const source of sources) {
    const lines = readFileSync(path.join(root, source), 'utf8').split('\n');
    let start = -1;
    lines.forEach((line, i) => {
      if (start < 0 && line.trim() === '```ts') start = i;
      else if (start >= 0 && line.trim() === '```') {
        const file = path.join(root, 'test', '.snippets', `${source.replace(/\W/g, '_')}_${start + 1}.ts`);
        found.push({ doc: source, source: `${source}:${start + 1}`, file, code: lines.slice(start + 1, i).join('\n') });
        start = -1;
      }
    });
  }
  return found;
}

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  customConditions: ['coda-source'],
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  strict: true,
  // A fragment's callbacks get their parameters' types from names it was given as any.
  noImplicitAny: false,
  skipLibCheck: true,
  noEmit: true,
};

function check(files: Map<string, string>, oldProgram?: ts.Program): ts.Program {
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, onError) => {
    const text = files.get(f);
    return text === undefined ? getSourceFile.call(host, f, language, onError) : ts.createSourceFile(f, text, language);
  };
  return ts.createProgram({ rootNames: [...files.keys()], options, host, ...(oldProgram && { oldProgram }) });
}

function diagnosticsOf(program: ts.Program, file: string): readonly ts.Diagnostic[] {
  const sourceFile = program.getSourceFile(file);
  assert.ok(sourceFile, `${file} was compiled`);
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
}

function missingNames(diagnostics: readonly ts.Diagnostic[]): Set<string> {
  const names = new Set<string>();
  for (const d of diagnostics) {
    if (!CANNOT_FIND_NAME.has(d.code)) continue;
    const match = /(?:Cannot find name|scope for the shorthand property) '([^']+)'/.exec(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    if (match) names.add(match[1]!);
  }
  return names;
}

/** A module's text with the names it lacks given, and `export {}` so that it is a module (top-level await). */
function withGivens({ code, doc }: Snippet, missing: Set<string>, exported: Set<string>): string {
  const own = DOC_GIVENS[doc] ?? {};
  const names = [...missing];
  const imports = names.filter((name) => own[name] === undefined && exported.has(name));
  const declared = names.filter((name) => own[name] === undefined && !exported.has(name))
    .map((name) => `declare const ${name}: ${TYPED_GIVENS[name] ?? 'any'}; type ${name} = any;`);
  const prelude = [...names.flatMap((name) => own[name] ?? []), imports.length > 0 ? `import { ${imports.join(', ')} } from 'coda-http';` : '', ...declared, 'export {};'];
  // One line, so that diagnostics' line numbers stay the snippet's own (plus one).
  return `${prelude.join(' ')}\n${code}`;
}

test('every ts snippet in README.md and docs/ type-checks against the public API', () => {
  const all = snippets();
  assert.ok(all.length >= 20, `found ${all.length} snippets`);
  const first = new Map(all.map((s) => [s.file, `export {};\n${s.code}`]));
  const program = check(first);
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(path.join(root, 'src', 'index.ts'));
  assert.ok(index, 'src/index.ts is part of the program');
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(index)!).map((s) => s.name));

  const problems: string[] = [];
  const missing = new Map(all.map((s) => [s.file, missingNames(diagnosticsOf(program, s.file))]));
  for (const snippet of all) {
    if (!/from 'coda-http[/']/.test(snippet.code)) continue;
    const own = DOC_GIVENS[snippet.doc] ?? {};
    const unimported = [...missing.get(snippet.file)!].filter((name) => exported.has(name) && own[name] === undefined);
    if (unimported.length > 0) problems.push(`${snippet.source}: imports from coda-http but not ${unimported.join(', ')}, which it uses`);
  }
  const second = new Map(all.map((s) => [s.file, withGivens(s, missing.get(s.file)!, exported)]));
  const checked = check(second, program);
  for (const snippet of all) {
    for (const d of diagnosticsOf(checked, snippet.file)) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.code === CANNOT_FIND_MODULE && !message.includes('coda-http')) continue;
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
      problems.push(`${snippet.source} (+${line - 1}): TS${d.code} ${message}`);
    }
  }
  assert.deepEqual(problems, []);
});
