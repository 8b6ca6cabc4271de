import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import test from 'node:test';

/**
 * docs/ and the README point at the test that proves each guarantee: a test
 * file (its path, or its name where the page's folder makes it plain, or
 * "conformance" for a store suite's case file) followed by test titles in
 * quotes, cut short with "…". A renamed or removed test must not leave a
 * page pointing at nothing: this finds each such pointer and checks it.
 */

const root = new URL('../../', import.meta.url).pathname;

function filesUnder(folder: string, suffix: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}

const testFiles = filesUnder('test', '.ts');

/** Every title given to test(), it() or describe() in test/, its escapes undone. */
const titles = testFiles.flatMap((file) =>
  [...readFileSync(file, 'utf8').matchAll(/\b(?:test|it|describe|suite)\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)]
    .map((match) => match[2]!.replace(/\\(.)/g, '$1')));

/** A file named as docs name it: a path from the repository's root, or a file name found somewhere in test/. */
const testFileExists = (named: string): boolean =>
  named.includes('/') ? existsSync(join(root, named)) : testFiles.some((file) => basename(file) === named);

/** Whether a cited title, its "…" cuts standing for anything, is (in its pieces, in order) one test's title. */
function titled(cited: string): boolean {
  const pieces = cited.split('…').map((piece) => piece.trim()).filter(Boolean);
  return titles.some((title) => {
    let at = 0;
    for (const piece of pieces) {
      const found = title.indexOf(piece, at);
      if (found < 0) return false;
      at = found + piece.length;
    }
    return true;
  });
}

/** A mention of a test file, then the quoted titles that follow it (commas, colons, brackets and asides between). */
const MENTION = /`?((?:test\/)?[\w/.-]+\.test\.ts|conformance)`?/g;
const NEXT_TITLE = /^[\s`,:;(]*"([^"]+)"(?:\s*\([^)]*\))?/;

interface Pointer { page: string; file: string; titles: string[] }

/** A page's pointers, read paragraph by paragraph (a table's rows one by one), code spans with quotes set aside. */
function pointersIn(page: string): Pointer[] {
  const text = readFileSync(join(root, page), 'utf8');
  const blocks = text.split(/\n\s*\n/).flatMap((block) => (block.startsWith('|') ? block.split('\n') : [block.replace(/\n/g, ' ')]));
  return blocks.flatMap((block) => {
    const plain = block.replace(/`[^`]*"[^`]*`/g, '``');
    return [...plain.matchAll(MENTION)].map((mention) => {
      const cited: string[] = [];
      let rest = plain.slice(mention.index + mention[0].length);
      for (let next = NEXT_TITLE.exec(rest); next !== null; next = NEXT_TITLE.exec(rest)) {
        cited.push(next[1]!);
        rest = rest.slice(next[0].length);
      }
      return { page, file: mention[1]!, titles: cited };
    });
  });
}

const pages = ['README.md', ...filesUnder('docs', '.md').map((file) => file.slice(root.length))];
const pointers = pages.flatMap(pointersIn);

test('docs point at test files that exist', () => {
  const files = pointers.filter(({ file }) => file !== 'conformance');
  assert.ok(files.length > 50, `the pages name ${files.length} test files: the finder has stopped finding them`);
  const missing = files.filter(({ file }) => !testFileExists(file)).map(({ page, file }) => `${page}: ${file}`);
  assert.deepEqual(missing, [], 'test files named in the docs that do not exist');
});

test('every test title quoted in the docs is a test', () => {
  const cited = pointers.flatMap(({ page, titles: each }) => each.map((title) => ({ page, title })));
  assert.ok(cited.length > 80, `the pages quote ${cited.length} test titles: the finder has stopped finding them`);
  const unknown = cited.filter(({ title }) => !titled(title)).map(({ page, title }) => `${page}: "${title}"`);
  assert.deepEqual(unknown, [], 'titles quoted in the docs that no test has');
});

test('the title check fails for a title no test has, and passes for one cut short with …', () => {
  assert.equal(titled('a title that no test in this repository has, surely'), false);
  const [first] = titles.filter((title) => title.length > 40);
  assert.ok(first !== undefined);
  assert.equal(titled(`${first.slice(0, 12)} … ${first.slice(20, 32)} …`), true);
});
