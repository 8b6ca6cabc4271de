// The SQLite store on a disk that fills up: a real small filesystem (tmpfs,
// mounted for the test; skipped, saying why, where mounting is not allowed),
// filled by another file until the kernel says ENOSPC, then freed; and a
// limit on the size of a process's files (`ulimit -f`).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createApp, HttpResponse, post, serve, sqliteStore, task } from 'coda-http';
import { deferred, LEVEL, memoryLogger } from '../helpers.js';

/** A 2 MiB tmpfs of its own, unmounted after the test; undefined, with the reason, where it cannot be mounted. */
function smallDisk(t: TestContext): string | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(`a small filesystem cannot be mounted here (needs root and mount(8)): ${String((error as Error).message).split('\n')[0]}`);
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes `file` until the filesystem has no room left (ENOSPC). */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

test('a full disk under the SQLite store: registrations get 503 with Retry-After naming the store, nothing is half written, and once space is freed service resumes by itself and every accepted task runs', { timeout: 60_000 }, async (t) => {
  const dir = smallDisk(t);
  if (dir === undefined) return;
  const file = path.join(dir, 'tasks.db');
  const ran = new Set<number>();
  const accepted = new Set<number>();
  let expected = Infinity;
  const allRan = deferred();
  const noted = task('noted', ({ n }: { n: number }) => {
    ran.add(n);
    if (ran.size === expected) allRan.resolve();
  });
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    tasks: { definitions: [noted], store: sqliteStore({ path: file }) },
    routes: [post('/notes/:n', (request) => new HttpResponse('saved').after(noted, { n: Number(request.params.n) }))],
  });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const postNote = (n: number) => fetch(`${server.url}/notes/${n}`, { method: 'POST', headers: { accept: 'application/json' } });

  assert.equal((await postNote(0)).status, 200);
  accepted.add(0);
  const filler = path.join(dir, 'filler');
  fill(filler);
  // The WAL may still have room in pages it already holds: post until the store says it is full (bounded).
  let refused: Response | undefined;
  let n = 1;
  for (; n < 2_000 && refused === undefined; n++) {
    const response = await postNote(n);
    if (response.status === 200) accepted.add(n);
    else refused = response;
  }
  assert.ok(refused !== undefined, 'a registration was refused within 2,000 requests');
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '1');
  const { error } = (await refused.json()) as { error: { message: string } };
  assert.match(error.message, /durable tasks could not be journaled/);
  assert.ok(error.message.includes(file), `the message names the store: ${error.message}`);
  assert.match(error.message, /database or disk is full/, `the message says why: ${error.message}`);
  assert.ok(lines.some((line) => line.level >= LEVEL.error && String(line.msg).includes(file)), 'the outage is logged, naming the store');

  rmSync(filler);
  const resumed = await postNote(n);
  assert.equal(resumed.status, 200, 'space freed: the next registration is taken, with no restart');
  accepted.add(n);
  expected = accepted.size;
  if (ran.size === expected) allRan.resolve();
  await allRan.promise;
  assert.deepEqual([...ran].sort((a, b) => a - b), [...accepted].sort((a, b) => a - b), 'every accepted task ran, the refused one did not');
  await server.close({ timeoutMs: 1_000 });

  const db = new DatabaseSync(file, { readOnly: true });
  t.after(() => db.close());
  const states = db.prepare('SELECT state, count(*) AS n FROM coda_tasks GROUP BY state').all();
  assert.deepEqual(states.map((row) => ({ ...row })), [{ state: 'completed', n: accepted.size }], 'the accepted tasks completed; of the refused registration, nothing');
  assert.equal((db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
});

test('a limit on the size of the process\'s files (ulimit -f 1024 KiB) reached by the WAL: the WAL is emptied into the file and the write tried again, so that the store takes what the file has room for; it used to refuse every write for good once the WAL reached the limit (SQLite checkpoints at 1,000 pages, 4 MiB)', { timeout: 60_000 }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-fsize-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const { accepted, refused } = underSizeLimit('size-limited.ts', [file]) as { accepted: number; refused: string | null };
  assert.match(String(refused), new RegExp(`^StoreUnavailable: sqlite store ${file} is unavailable: (disk I/O error|database or disk is full)`), 'refused at last, by the limit');
  // Before: 49 tasks accepted, the WAL full at 1 MiB, and about 230 KiB in the file once the store closed.
  const { size } = statSync(file);
  assert.ok(size > 512 * 1024, `the file took ${size} bytes of the limit's 1 MiB (${accepted} tasks accepted): the WAL's commits were moved into it`);
  const reader = new DatabaseSync(file, { readOnly: true });
  t.after(() => reader.close());
  assert.equal((reader.prepare('SELECT count(*) AS n FROM coda_tasks').get() as { n: number }).n, accepted, 'every accepted task is in the file, no refused one');
});

test('a file replaced while its WAL holds commits the old file has no room for (ulimit -f): the refusal names the replacement and the checkpoint that failed; SQLite\'s bare "disk I/O error" escaped', { timeout: 60_000 }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-fsize-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  assert.deepEqual(underSizeLimit('replaced-under-limit.ts', [file, path.join(dir, 'other.db')]), {
    name: 'StoreUnavailable',
    message: `sqlite store ${file} is unavailable: its file ${file} was replaced by another since the store opened it, and its WAL cannot be emptied: disk I/O error: ${couldNotGrow(file)}`,
  });
});

test('a write refused by a limit on the size of the process\'s files (ulimit -f) names the likely cause: the file could not grow, the disk having room; it said only SQLite\'s "disk I/O error"', { timeout: 60_000 }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-fsize-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const { refused } = underSizeLimit('size-limited.ts', [file]) as { refused: string | null };
  assert.equal(refused, `StoreUnavailable: sqlite store ${file} is unavailable: disk I/O error: ${couldNotGrow(file)}`);
});

/** What a write that failed (SQLite's "disk I/O error") says of its cause, on a disk with room. */
const couldNotGrow = (file: string): string =>
  `a write to ${file} or its WAL failed, most likely because the file could not grow: the disk has room, so a limit on the size of files (ulimit -f) or a disk quota stops it (else the disk itself failed)`;

/** Runs a fixture script in a process whose files may not grow past 1 MiB (`ulimit -f 1024`); its stdout's JSON. */
function underSizeLimit(script: string, args: string[]): unknown {
  const fixture = fileURLToPath(new URL(`fixtures/${script}`, import.meta.url));
  // Node ignores SIGXFSZ: a write past the limit fails (EFBIG), which SQLite reports as a disk I/O error.
  const run = spawnSync('bash', ['-c', 'ulimit -f 1024 && exec "$0" "$@"', process.execPath, '--conditions=coda-source', '--import', 'tsx', fixture, ...args], { encoding: 'utf8', timeout: 50_000 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}
