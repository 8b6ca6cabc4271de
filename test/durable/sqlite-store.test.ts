// The SQLite store: the conformance suite on a real file and on ':memory:',
// then what only SQLite has: its settings, its failures as StoreUnavailable,
// and two OS processes sharing one file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs, { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, mock, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StoreUnavailable } from '../../src/durable/errors.js';
import { isUnavailable } from '../../src/durable/sqlite-failure.js';
import { ensureSchema } from '../../src/durable/sqlite-schema.js';
import { SqliteStore, sqliteStore, type SqliteStoreOptions } from '../../src/durable/sqlite-store.js';
import type { NewTask } from '../../src/durable/store.js';
import { kOpenToInspect } from '../../src/symbols.js';
import { storeConformance } from './conformance.js';
import { makeReadOnly } from './read-only.js';

const dir = mkdtempSync(path.join(tmpdir(), 'coda-sqlite-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const newFile = (): string => path.join(dir, `tasks-${++files}.db`);

async function opened(options: SqliteStoreOptions): Promise<SqliteStore> {
  const store = new SqliteStore(options);
  await store.open();
  return store;
}

function removeDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
}

storeConformance('sqlite store on a file', async () => {
  const file = newFile();
  const store = await opened({ path: file });
  return {
    store,
    reopen: () => opened({ path: file }),
    close: async () => {
      await store.close();
      removeDatabase(file);
    },
  };
});

// ':memory:' is what the test client runs durable tasks on: the same cases
// hold there, except those that need a second connection to the same data.
storeConformance("sqlite store on ':memory:'", async () => {
  const store = await opened({ path: ':memory:' });
  return { store, close: () => store.close() };
});

let ids = 0;
function task(overrides: Partial<NewTask> = {}): NewTask {
  ids += 1;
  return {
    id: `sqlite-${ids}`, name: 'race', payload: '{}', key: null, when: 'always', maxAttempts: 3,
    backoff: { type: 'fixed', delayMs: 1000 }, timeoutMs: 30_000, held: false, runAt: 0, request: null, trace: null, ...overrides,
  };
}

/** Rejects with StoreUnavailable, its code, a message naming the file, and the SQLite error as its cause. */
async function rejectsUnavailable(promise: Promise<unknown>, file: string, cause: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StoreUnavailable, `expected StoreUnavailable, got ${String(error)}`);
    assert.equal(error.code, 'CODA_STORE_UNAVAILABLE');
    assert.equal(error.name, 'StoreUnavailable');
    assert.ok(error.message.startsWith(`sqlite store ${file} is unavailable: `), error.message);
    assert.match(error.message, cause);
    assert.ok(error.cause instanceof Error);
    return true;
  });
}

describe('sqlite store settings', () => {
  test('a file is in WAL mode with synchronous NORMAL, the busy timeout, foreign keys off and the schema version', async () => {
    const file = newFile();
    const store = await opened({ path: file });
    try {
      assert.deepEqual(store.settings(), { journalMode: 'wal', synchronous: 'NORMAL', busyTimeoutMs: 5000, foreignKeys: false, schemaVersion: 3 });
      const other = new DatabaseSync(file);
      assert.equal(other.prepare('PRAGMA journal_mode').get()!.journal_mode, 'wal', 'WAL is the file\'s mode, for every connection');
      other.close();
    } finally {
      await store.close();
    }
  });

  test("synchronous: 'FULL' and busyTimeoutMs are applied", async () => {
    const store = await opened({ path: newFile(), synchronous: 'FULL', busyTimeoutMs: 250 });
    try {
      assert.equal(store.settings().synchronous, 'FULL');
      assert.equal(store.settings().busyTimeoutMs, 250);
    } finally {
      await store.close();
    }
  });

  test("':memory:' keeps its journal in memory", async () => {
    const store = await opened({ path: ':memory:' });
    assert.equal(store.settings().journalMode, 'memory');
    await store.close();
  });

  test('options are checked when the store is made, with messages that name the problem', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /sqliteStore\(\) takes an options object, got undefined/],
      [{ path: 'a.db', busyTimeout: 10 }, /unknown option "busyTimeout"; did you mean "busyTimeoutMs"\?/],
      [{ path: 'a.db', sync: 'FULL' }, /unknown option "sync"/],
      [{}, /path must be a file path or ':memory:', got undefined/],
      [{ path: '' }, /path must be a file path or ':memory:', got string ""/],
      [{ path: 'a.db', synchronous: 'OFF' }, /synchronous must be 'NORMAL' or 'FULL', got string "OFF"/],
      [{ path: 'a.db', synchronous: 'full' }, /synchronous must be 'NORMAL' or 'FULL'/],
      [{ path: 'a.db', busyTimeoutMs: -1 }, /busyTimeoutMs must be zero or more milliseconds/],
      [{ path: 'a.db', busyTimeoutMs: Number.NaN }, /busyTimeoutMs must be zero or more milliseconds/],
      [{ path: 'a.db', busyTimeoutMs: '5s' }, /busyTimeoutMs must be zero or more milliseconds, at most \d+, got string "5s"/],
    ];
    for (const [options, message] of cases) assert.throws(() => sqliteStore(options as SqliteStoreOptions), message);
  });
});

describe('sqlite store failures are StoreUnavailable, and change nothing', () => {
  test('a read-only file: add() fails naming the path, nothing is added, reads still work', async (t) => {
    const file = newFile();
    const writer = await opened({ path: file });
    await writer.add([task({ id: 'before' })], 'p', 1);
    await writer.close();
    const undo = makeReadOnly(t, file);
    if (undo === null) return;
    try {
      const store = await opened({ path: file });
      try {
        await rejectsUnavailable(store.add([task({ id: 'after' })], 'p', 1), file, /readonly/);
        assert.equal(await store.get('after'), null);
        assert.deepEqual((await store.list({})).map(({ id }) => id), ['before']);
      } finally {
        await store.close();
      }
    } finally {
      undo();
    }
  });

  test('another process holding the write lock past busyTimeoutMs: SQLITE_BUSY, then the store works again', async () => {
    const file = newFile();
    const store = await opened({ path: file, busyTimeoutMs: 50 });
    const other = new DatabaseSync(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      await rejectsUnavailable(store.add([task({ id: 'blocked' })], 'p', 1), file, /locked/);
      other.exec('ROLLBACK');
      assert.equal(await store.get('blocked'), null);
      await store.add([task({ id: 'later' })], 'p', 1);
      assert.notEqual(await store.get('later'), null);
    } finally {
      other.close();
      await store.close();
    }
  });

  test('waiting for another process\'s write lock does not block the event loop: timers run while the write waits, and it lands once the lock is let go', { timeout: 30_000 }, async (t) => {
    const file = newFile();
    const store = await opened({ path: file, busyTimeoutMs: 10_000 });
    t.after(() => store.close());
    const locker = spawn(process.execPath, [fileURLToPath(new URL('fixtures/locker.ts', import.meta.url)), file], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => locker.kill('SIGKILL'));
    const exited = once(locker, 'exit');
    const lines = createInterface({ input: locker.stdout! })[Symbol.asyncIterator]();
    assert.equal((await lines.next()).value, 'locked');
    let settled = false;
    const adding = store.add([task({ id: 'waited' })], 'p', 1).finally(() => {
      settled = true;
    });
    // A timer due long before the busy timeout: a store that waited synchronously ran it only once the add had failed.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(settled, false, 'the timer ran while the add waited for the lock');
    assert.equal(await store.get('waited'), null, 'reads go on meanwhile');
    locker.stdin!.write('release\n');
    await adding;
    assert.equal((await store.get('waited'))?.state, 'ready');
    const [code] = await exited;
    assert.equal(code, 0);
  });

  test('a release refused (the file locked) and written again: its tasks are released ready, with their outcome, and a claim runs them; none is lost or claimed twice', async () => {
    const file = newFile();
    const store = await opened({ path: file, busyTimeoutMs: 50 });
    const other = new DatabaseSync(file);
    const outcome = { status: 201, completed: true, aborted: false, bytesSent: 2, startedAt: 1, finishedAt: 2 };
    const claim = { names: ['race'], concurrency: {}, limit: 10, now: 100, leaseUntil: 1_000 };
    try {
      await store.add([task({ id: 'held-1', held: true }), task({ id: 'held-2', held: true })], 'p', 1_000);
      const releases = ['held-1', 'held-2'].map((id) => ({ id, outcome, run: true, runAt: 50 }));
      other.exec('BEGIN IMMEDIATE');
      await rejectsUnavailable(store.release(releases, 'p', claim), file, /locked/);
      other.exec('ROLLBACK');
      // Written again, the release no longer claims what it first could (it reads no row back): it leaves the tasks ready.
      assert.deepEqual(await store.release(releases, 'p', claim), { ready: ['held-1', 'held-2'], claimed: [] });
      const claimed = await store.claim({ ...claim, owner: 'p' });
      assert.deepEqual(claimed.map(({ id, state, attempt, outcome: kept }) => [id, state, attempt, kept]), [
        ['held-1', 'running', 1, outcome], ['held-2', 'running', 1, outcome],
      ]);
      assert.deepEqual(await store.claim({ ...claim, owner: 'q' }), []);
    } finally {
      other.close();
      await store.close();
    }
  });

  test('a file that is not a database, in a directory that does not exist, or a path that is a directory: open() fails naming the path (and the missing folder, or that it is a folder; SQLite said only "unable to open database file")', async () => {
    const garbage = newFile();
    writeFileSync(garbage, 'this is not a database, just text long enough to fill a header page. '.repeat(20));
    await rejectsUnavailable(sqliteStore({ path: garbage }).open(), garbage, /not a database/);
    const nowhere = path.join(dir, 'no-such-dir', 'tasks.db');
    await rejectsUnavailable(sqliteStore({ path: nowhere }).open(), nowhere, new RegExp(`cannot open ${nowhere}: its folder ${path.dirname(nowhere)} does not exist`));
    const folder = path.join(dir, 'a-folder.db');
    fs.mkdirSync(folder);
    await assert.rejects(sqliteStore({ path: folder }).open(), { name: 'StoreUnavailable', message: `sqlite store ${folder} is unavailable: cannot open ${folder}: it is a folder, not a file: give sqliteStore() the path of a file in it` });
  });

  test('a file written by a newer schema is refused, not misread', async () => {
    const file = newFile();
    await (await opened({ path: file })).close();
    const db = new DatabaseSync(file);
    db.exec('PRAGMA user_version = 99');
    db.close();
    await assert.rejects(sqliteStore({ path: file }).open(), new RegExp(`^StoreUnavailable: sqlite store ${file} is unavailable: it has schema version 99; this version of Coda knows up to 3: upgrade Coda$`));
  });

  test('another program\'s database, which keeps a version of its own in user_version, is refused as not a Coda task store, not migrated or asked of a newer Coda', async () => {
    for (const version of [1, 2, 3, 99]) {
      const file = newFile();
      const db = new DatabaseSync(file);
      db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT); PRAGMA user_version = ${version}`);
      db.close();
      await assert.rejects(sqliteStore({ path: file }).open(), new RegExp(`^StoreUnavailable: sqlite store ${file} is unavailable: it is not a Coda task store: its schema version \\(PRAGMA user_version\\) is ${version}, and it has no coda_tasks table: it is another program's database; give sqliteStore\\(\\) a file of its own$`));
      const after = new DatabaseSync(file, { readOnly: true });
      assert.deepEqual(after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map(({ name }) => name), ['users'], 'nothing written to it');
      after.close();
    }
  });

  test('another program\'s database that keeps no version (user_version 0) but has tables of its own is refused, nothing written to it (WAL mode neither); an empty file (0 bytes) is made a store', async () => {
    const file = newFile();
    const db = new DatabaseSync(file);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT); CREATE TABLE posts (id INTEGER PRIMARY KEY)');
    db.close();
    const before = readFileSync(file);
    await assert.rejects(sqliteStore({ path: file }).open(), {
      name: 'StoreUnavailable',
      message: `sqlite store ${file} is unavailable: it is not a Coda task store: it has tables of its own (posts, users) and no Coda schema version (PRAGMA user_version is 0): it is another program's database; give sqliteStore() a file of its own`,
    });
    assert.deepEqual(readFileSync(file), before, 'the file is as it was: no table, no index, no WAL mode written into it');
    assert.equal(fs.existsSync(`${file}-wal`), false);

    const empty = newFile();
    writeFileSync(empty, '');
    const store = await opened({ path: empty });
    assert.equal(store.settings().schemaVersion, 3);
    assert.equal(store.settings().journalMode, 'wal');
    await store.close();
  });

  test('a new file whose schema another process makes while the store reads what the file holds opens: its version (none yet) and its tables (the other\'s, just made) were read apart, and two workers of a cluster opening a new file at once saw it as another program\'s database', async () => {
    const file = newFile();
    const prepare = DatabaseSync.prototype.prepare;
    let made = false;
    // The other process's schema is committed just before the store's first look at the file's tables (after its version, when read apart).
    mock.method(DatabaseSync.prototype, 'prepare', function (this: DatabaseSync, sql: string) {
      if (!made && sql.includes('sqlite_master')) {
        made = true;
        const other = new DatabaseSync(file);
        other.exec('PRAGMA journal_mode = WAL');
        ensureSchema(other, 'the other process');
        other.close();
      }
      return prepare.call(this, sql);
    });
    try {
      const store = await opened({ path: file });
      assert.equal(store.settings().schemaVersion, 3);
      await store.close();
    } finally {
      mock.restoreAll();
    }
    assert.ok(made, 'the other process made the schema while the store opened');
  });

  test('a store opened to inspect (coda tasks) writes no schema: an empty file, an older store and another program\'s database are refused, each left as it was; a store of this version opens', async () => {
    const empty = newFile();
    writeFileSync(empty, '');
    const older = newFile();
    const v1 = new DatabaseSync(older);
    v1.exec(readFileSync(new URL('fixtures/sqlite-schema-v1.sql', import.meta.url), 'utf8'));
    v1.close();
    const foreign = newFile();
    const other = new DatabaseSync(foreign);
    other.exec('CREATE TABLE users (id INTEGER PRIMARY KEY)');
    other.close();
    for (const [file, says] of [
      [empty, "it is an empty database, not yet a Coda task store, and a store opened to inspect creates none (the app's web process or coda worker does)"],
      [older, "it has schema version 1, which the app's web process or coda worker migrates to 3 when it opens it; a store opened to inspect writes no schema"],
      [foreign, 'it is not a Coda task store: it has tables of its own (users) and no Coda schema version'],
    ] as const) {
      const before = readFileSync(file);
      const store = new SqliteStore({ path: file });
      await assert.rejects(store[kOpenToInspect](), (error: Error) => error instanceof StoreUnavailable && error.message.startsWith(`sqlite store ${file} is unavailable: ${says}`), says);
      assert.deepEqual(readFileSync(file), before, `${file} is as it was`);
    }
    const current = newFile();
    await (await opened({ path: current })).close();
    const store = new SqliteStore({ path: current });
    await store[kOpenToInspect]();
    assert.deepEqual(await store.list({}), []);
    await store.close();
  });

  test('a file at schema version 1 is migrated when it opens: CHECKs without IN lists, the in-flight index by name, every task kept as it was', async () => {
    const file = newFile();
    const db = new DatabaseSync(file);
    db.exec(readFileSync(new URL('fixtures/sqlite-schema-v1.sql', import.meta.url), 'utf8'));
    db.exec(`INSERT INTO coda_tasks (id, name, state, key, run_when, attempt, max_attempts, timeout_ms, run_at, owner, lease_until,
        created_at, backoff, request, trace, outcome, errors, payload) VALUES
      ('v1-held', 'race', 'held', 'k1', 'always', 0, 3, 30000, 0, 'dead', 10, 1, '{"type":"fixed","delayMs":1000}', NULL, NULL, NULL, '[]', '{"a":1}'),
      ('v1-ready', 'race', 'ready', NULL, 'success', 1, 3, 30000, 5, NULL, NULL, 2, '{"type":"fixed","delayMs":1000}',
        '{"id":"r1","method":"POST","path":"/x"}', NULL, '{"status":500}', '[{"attempt":1,"message":"boom","startedAt":3,"finishedAt":4}]', '{"b":2}')`);
    db.close();
    const store = await opened({ path: file });
    try {
      assert.equal(store.settings().schemaVersion, 3);
      const schema = new DatabaseSync(file).prepare("SELECT name, sql FROM sqlite_master WHERE name LIKE 'coda_tasks%' ORDER BY name").all();
      assert.deepEqual(schema.map(({ name }) => name), ['coda_tasks', 'coda_tasks_claim', 'coda_tasks_ended', 'coda_tasks_owned', 'coda_tasks_pending_key']);
      assert.ok(schema.every(({ sql }) => !/ IN \(/.test(String(sql))), 'no IN list left in the schema');
      const ready = await store.get('v1-ready');
      assert.deepEqual({ ...ready, backoff: undefined }, {
        id: 'v1-ready', name: 'race', payload: '{"b":2}', state: 'ready', key: null, when: 'success', attempt: 1, maxAttempts: 3, backoff: undefined,
        timeoutMs: 30_000, runAt: 5, owner: null, leaseUntil: null, createdAt: 2, startedAt: null, finishedAt: null,
        request: { id: 'r1', method: 'POST', path: '/x' }, outcome: { status: 500 }, trace: null,
        errors: [{ attempt: 1, message: 'boom', startedAt: 3, finishedAt: 4 }],
      });
      // The pending key still holds, and the dead process's hold is recovered.
      assert.deepEqual(await store.add([task({ key: 'k1' })], 'p', 100), [{ id: 'v1-held', duplicate: true }]);
      assert.deepEqual(await store.recover(20, () => 0.5), { held: 1, running: 0 });
      const claimed = await store.claim({ owner: 'next', names: ['race'], concurrency: {}, limit: 10, now: 20, leaseUntil: 100 });
      assert.deepEqual(claimed.map(({ id }) => id).sort(), ['v1-held', 'v1-ready']);
    } finally {
      await store.close();
    }
  });

  test('a file at schema version 2 is migrated when it opens: the key\'s index no longer holds a held task whose when may skip it', async () => {
    const file = newFile();
    await (await opened({ path: file })).close();
    const db = new DatabaseSync(file);
    // Version 2's index, which held every pending task's key.
    db.exec(`DROP INDEX coda_tasks_pending_key;
      CREATE UNIQUE INDEX coda_tasks_pending_key ON coda_tasks (key) WHERE key IS NOT NULL AND (state = 'held' OR state = 'ready' OR state = 'running');
      PRAGMA user_version = 2;`);
    db.close();
    const store = await opened({ path: file });
    try {
      assert.equal(store.settings().schemaVersion, 3);
      await store.add([task({ id: 'hold', held: true, key: 'k', when: 'success' })], 'p', 100);
      assert.deepEqual(await store.add([task({ id: 'meanwhile', key: 'k' })], 'q', 100), [{ id: 'meanwhile', duplicate: false }]);
    } finally {
      await store.close();
    }
  });

  test('writing a task row builds no temporary table: no IN list in a CHECK or a partial index\'s condition (SQLite makes one per row for a list of three or more)', async () => {
    const file = newFile();
    await (await opened({ path: file })).close();
    const db = new DatabaseSync(file);
    try {
      for (const write of [
        `INSERT INTO coda_tasks (id, name, state, key, run_when, attempt, max_attempts, timeout_ms, run_at, owner, lease_until, created_at, backoff, errors, payload)
          VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, '[]', ?)`,
        "UPDATE coda_tasks SET state = ?, key = ?, owner = ?, lease_until = ?, finished_at = ? WHERE seq = ?",
      ]) {
        const opcodes = db.prepare(`EXPLAIN ${write}`).all().map(({ opcode }) => opcode);
        assert.ok(!opcodes.includes('OpenEphemeral'), write);
      }
    } finally {
      db.close();
    }
  });

  test('a store not opened, or closed, refuses calls; close() twice is harmless', async () => {
    const store = sqliteStore({ path: ':memory:' });
    await rejectsUnavailable(store.get('x'), ':memory:', /not open/);
    await store.open();
    await store.close();
    await store.close();
    await rejectsUnavailable(store.add([task()], 'p', 1), ':memory:', /not open/);
  });

  test('SQLite\'s unavailable codes (extended ones too) are told from mistakes in the call', () => {
    const sqliteError = (errcode: number): Error => Object.assign(new Error('x'), { code: 'ERR_SQLITE_ERROR', errcode });
    // BUSY, BUSY_SNAPSHOT, LOCKED, READONLY, IOERR_WRITE, CORRUPT, FULL, CANTOPEN, NOTADB.
    for (const errcode of [5, 517, 6, 8, 778, 11, 13, 14, 26]) assert.equal(isUnavailable(sqliteError(errcode)), true, String(errcode));
    // CONSTRAINT_UNIQUE, MISUSE, a plain error.
    for (const error of [sqliteError(2067), sqliteError(21), new TypeError('x'), null]) assert.equal(isUnavailable(error), false);
  });
});

test('a ready task whose row was edited by hand into invalid JSON does not stop claims: it fails for good, the others are claimed, and the next recover() reports it once', async () => {
  const file = newFile();
  const store = await opened({ path: file });
  const [before, bad, after] = [task(), task(), task()];
  await store.add([before, bad, after], 'setup', 0);
  const db = new DatabaseSync(file);
  db.exec(`UPDATE coda_tasks SET request = '{"id": ' WHERE id = '${bad.id}'`);
  db.close();
  // Every claim of the name threw (JSON.parse of the claimed row): no task of it ran again.
  const claimed = await store.claim({ owner: 'me', names: ['race'], concurrency: {}, limit: 10, now: 10, leaseUntil: 100 });
  assert.deepEqual(claimed.map(({ id }) => id), [before.id, after.id]);
  const failed = (await store.get(bad.id))!;
  assert.equal(failed.state, 'failed');
  assert.equal(failed.request, null);
  const reason = `durable task ${bad.id} (row 2) in the sqlite store ${file} failed for good, not retried: its column request ("{\\"id\\": ") is not valid JSON of its shape (edited by hand?), replaced`;
  assert.equal(failed.errors.at(-1)!.message, `me claimed it and could not read its row; ${reason}`);
  assert.deepEqual(await store.recover(20, () => 0.5), { held: 0, running: 0, unreadable: [{ id: bad.id, reason }] });
  assert.deepEqual(await store.recover(20, () => 0.5), { held: 0, running: 0 }, 'reported once');
  await store.close();
});

/** A store on a new file holding `tasks`, with `edit` (SQL) run on the file by another connection, as a hand edit is. */
async function edited(tasks: NewTask[], edit: (file: string) => Promise<void> | void): Promise<{ store: SqliteStore; file: string }> {
  const file = newFile();
  const store = await opened({ path: file });
  await store.add(tasks, 'setup', 0);
  await edit(file);
  return { store, file };
}

/** Every task of the file claimed by another process, 'dead', whose lease ends at 5; then `then` on its store. */
async function claimedElsewhere(file: string, then?: (other: SqliteStore) => Promise<unknown>): Promise<void> {
  const other = await opened({ path: file });
  await other.claim({ owner: 'dead', names: ['race'], concurrency: {}, limit: 10, now: 1, leaseUntil: 5 });
  await then?.(other);
  await other.close();
}

function sql(file: string, text: string): void {
  const db = new DatabaseSync(file);
  db.exec(text);
  db.close();
}

// Valid JSON of another shape: the backoff read as null made every recover() throw (retryDelay read its type), "x" or []
// failed the task with a NaN time; errors read as {} or 5 lost the attempt's error (json_insert leaves a non-array alone).
const misshapen = [['backoff', 'null'], ['backoff', '"x"'], ['backoff', '[]'], ['backoff', '{"type":"fixed"}'], ['errors', '{}'], ['errors', '5']] as const;

test('a dead process\'s running task whose backoff or errors column was edited by hand into JSON of another shape (null, [], {}) fails for good when recovered, the column repaired; the others are recovered', async () => {
  for (const [column, text] of misshapen) {
    const [good, bad] = [task(), task()];
    const { store, file } = await edited([good, bad], async (file) => {
      await claimedElsewhere(file);
      sql(file, `UPDATE coda_tasks SET ${column} = '${text}' WHERE id = '${bad.id}'`);
    });
    const recovered = await store.recover(20, () => 0.5);
    const reason = `durable task ${bad.id} (row 2) in the sqlite store ${file} failed for good, not retried: its column ${column} (${JSON.stringify(text)}) `
      + `is not valid JSON of its shape (edited by hand?), replaced${column === 'backoff' ? ' (the backoff by the default one)' : ''}`;
    assert.deepEqual(recovered.unreadable, [{ id: bad.id, reason }], `${column} ${text}`);
    assert.equal(recovered.running, 1, 'the task put back only: the one failed for good was counted too');
    assert.equal((await store.get(good.id))!.state, 'ready', `${column} ${text}`);
    const failed = (await store.get(bad.id))!;
    assert.equal(failed.state, 'failed');
    assert.match(failed.errors.at(-1)!.message, /^stalled: dead stopped renewing its lease/);
    assert.ok(failed.errors.at(-1)!.message.endsWith(reason));
    await store.close();
  }
});

test('a ready task whose backoff or errors column was edited by hand into JSON of another shape fails for good when claimed (it was run, to fail its retry later), the others are claimed', async () => {
  for (const [column, text] of misshapen) {
    const [good, bad] = [task(), task()];
    const { store } = await edited([good, bad], (file) => sql(file, `UPDATE coda_tasks SET ${column} = '${text}' WHERE id = '${bad.id}'`));
    const claimed = await store.claim({ owner: 'me', names: ['race'], concurrency: {}, limit: 10, now: 10, leaseUntil: 100 });
    assert.deepEqual(claimed.map(({ id }) => id), [good.id], `${column} ${text}`);
    assert.equal((await store.get(bad.id))!.state, 'failed');
    assert.equal((await store.recover(20, () => 0.5)).unreadable?.[0]?.id, bad.id);
    await store.close();
  }
});

test('a dead process\'s task on its last attempt whose request was edited by hand into invalid JSON fails for good when recovered, its row repaired: get() and list() read it (they threw)', async () => {
  const bad = task({ maxAttempts: 1 });
  const { store } = await edited([bad], async (file) => {
    await claimedElsewhere(file);
    sql(file, `UPDATE coda_tasks SET request = '{"id":' WHERE id = '${bad.id}'`);
  });
  assert.equal((await store.recover(20, () => 0.5)).unreadable?.[0]?.id, bad.id);
  const failed = (await store.get(bad.id))!;
  assert.equal(failed.state, 'failed');
  assert.equal(failed.request, null);
  assert.deepEqual((await store.list({})).map(({ id }) => id), [bad.id]);
  await store.close();
});

test('get() and list() over a row edited by hand (a completed task\'s request not JSON, its backoff null) show it, the columns replaced and its last error naming them, and leave the row as it is; they threw, hiding every task', async () => {
  const [before, bad, after] = [task(), task(), task()];
  const { store, file } = await edited([before, bad, after], async (file) => {
    await claimedElsewhere(file, (other) => other.complete([bad.id], 'dead', 7));
    sql(file, `UPDATE coda_tasks SET request = '{"id":', backoff = 'null' WHERE id = '${bad.id}'`);
  });
  const listed = await store.list({});
  assert.deepEqual(listed.map(({ id }) => id), [after.id, bad.id, before.id]);
  const shown = (await store.get(bad.id))!;
  assert.deepEqual(listed[1], shown);
  assert.equal(shown.state, 'completed');
  assert.equal(shown.request, null);
  assert.deepEqual(shown.backoff, { type: 'exponential', delayMs: 1000 });
  assert.deepEqual(shown.errors, [{
    attempt: 1, startedAt: null, finishedAt: 7,
    message: `durable task ${bad.id} (row 2) in the sqlite store ${file} cannot be read as stored: its column backoff ("null"), its column request ("{\\"id\\":") `
      + 'are not valid JSON of its shape (edited by hand?), shown replaced (the backoff by the default one)',
  }]);
  const db = new DatabaseSync(file);
  assert.deepEqual({ ...db.prepare('SELECT request, backoff FROM coda_tasks WHERE id = ?').get(bad.id) }, { request: '{"id":', backoff: 'null' }, 'left as it is');
  db.close();
  await store.close();
});

test('a backlog of completed tasks is pruned in batches, each its own transaction: the event loop, and another connection\'s writes, get in between; pending tasks stay', { timeout: 30_000 }, async () => {
  const file = newFile();
  const store = await opened({ path: file });
  // Another process's connection, which would fail at once on a lock held across the prune.
  const other = await opened({ path: file, busyTimeoutMs: 0 });
  try {
    for (let batch = 0; batch < 5; batch++) {
      await store.add(Array.from({ length: 1000 }, () => task({ name: 'done' })), 'p', 1);
      const claimed = await store.claim({ owner: 'w', names: ['done'], concurrency: {}, limit: 1000, now: 1, leaseUntil: 100 });
      await store.complete(claimed.map(({ id }) => id), 'w', 10);
    }
    await store.add([task({ id: 'pending' })], 'p', 1);
    let settled = false;
    const pruning = store.prune(20).then((pruned) => {
      settled = true;
      return pruned;
    });
    // Queued after the prune began: it runs between two of its batches, not once they all are done.
    const meanwhile = await new Promise<boolean>((resolve, reject) => {
      setImmediate(() => {
        const underWay = !settled;
        other.add([task({ id: 'written-meanwhile' })], 'p', 1).then(() => resolve(underWay), reject);
      });
    });
    assert.equal(meanwhile, true, 'another write got in while the prune was under way');
    assert.equal(await pruning, 5000);
    const stats = await store.stats(20);
    assert.deepEqual([stats.ready, stats.completed], [2, 0], 'the pending task and the one written meanwhile stay');
  } finally {
    await other.close();
    await store.close();
  }
});

test('two OS processes claiming from one file at once claim every task exactly once', { timeout: 60_000 }, async () => {
  const file = newFile();
  const store = await opened({ path: file });
  const tasks = Array.from({ length: 2000 }, () => task());
  for (let i = 0; i < tasks.length; i += 100) await store.add(tasks.slice(i, i + 100), 'test', 1);
  const claimers = [claimer(file, 'process-1'), claimer(file, 'process-2')];
  await Promise.all(claimers.map(({ ready }) => ready));
  for (const { child } of claimers) child.stdin!.write('go\n');
  const [first, second] = await Promise.all(claimers.map(({ claimed }) => claimed));
  const all = [...first!, ...second!];
  assert.equal(new Set(all).size, all.length, 'a task was claimed by both processes');
  assert.deepEqual(all.sort(), tasks.map(({ id }) => id).sort());
  assert.ok(first!.length > 0 && second!.length > 0, `both processes claimed: ${first!.length} and ${second!.length}`);
  assert.equal((await store.stats(Date.now())).completed, tasks.length);
  await store.close();
});

/** A claimer process on `file`: `ready` once it opened the store, `claimed` the ids it claimed once it exited. */
function claimer(file: string, owner: string) {
  const fixture = fileURLToPath(new URL('fixtures/claimer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture, file, owner], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ready = lines.next().then(({ value }) => assert.equal(value, 'ready'));
  const claimed = (async () => {
    await ready;
    const { value } = await lines.next();
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, `${owner} exited with ${code}`);
    return JSON.parse(value as string) as string[];
  })();
  return { child, ready, claimed };
}

test('a claim of 130,000 due tasks in one call (a runner with that much room) claims them all: their rows were spread as one call\'s arguments, a RangeError past some 125,000', { timeout: 60_000 }, async () => {
  const store = await opened({ path: ':memory:' });
  try {
    const tasks = Array.from({ length: 130_000 }, () => task({ name: 'flood' }));
    for (let i = 0; i < tasks.length; i += 10_000) await store.add(tasks.slice(i, i + 10_000), 'p', 1);
    const claimed = await store.claim({ owner: 'w', names: ['flood'], concurrency: {}, limit: 200_000, now: 1, leaseUntil: 100 });
    assert.equal(claimed.length, tasks.length);
  } finally {
    await store.close();
  }
});

test('the WAL file removed while the store is open: a process opening the file meanwhile is refused naming the removed WAL (SQLite said only "disk I/O error"); the next write moves every commit into the file and goes on with a new WAL; another process (or a restart) opens the file and finds every task', async () => {
  const file = newFile();
  const store = await opened({ path: file });
  try {
    await store.add([task({ id: 'before' })], 'p', 1);
    rmSync(`${file}-wal`);
    // A process starting meanwhile fails to open it (the shared memory names frames of the WAL gone), leaving an empty WAL:
    // refused naming the likely cause and what ends it, where SQLite says only "disk I/O error" (a read that came short).
    const shortRead = `sqlite store ${file} is unavailable: disk I/O error: a read of ${file} or its WAL came short: most likely its WAL (${file}-wal) was removed while another process had the file open, whose next write moves what that WAL held into the file; else the file itself was cut short (restore it from a backup)`;
    await rejectsUnavailable(opened({ path: file }), file, new RegExp(`^${shortRead.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    await store.add([task({ id: 'after' })], 'p', 1);
    const other = await opened({ path: file });
    try {
      assert.deepEqual((await other.list({})).map(({ id }) => id).sort(), ['after', 'before']);
      await other.add([task({ id: 'from-other' })], 'q', 1);
      assert.equal((await store.get('from-other'))?.state, 'ready', 'both processes on one WAL again');
    } finally {
      await other.close();
    }
  } finally {
    await store.close();
  }
  // And once every process is gone, the file alone holds them all.
  const reader = new DatabaseSync(file, { readOnly: true });
  try {
    assert.equal((reader.prepare('SELECT count(*) AS n FROM coda_tasks').get() as { n: number }).n, 3);
  } finally {
    reader.close();
  }
});

/** Another process on `file` (fixtures/adder.ts): `add(id)` has it add a ready task, resolving with its answer; `close()` ends it. */
async function adder(t: { after: (fn: () => void) => void }, file: string) {
  const fixture = fileURLToPath(new URL('fixtures/adder.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'open');
  return {
    add: async (id: string): Promise<string> => {
      child.stdin!.write(`add ${id}\n`);
      return String((await lines.next()).value);
    },
    close: async (): Promise<void> => {
      child.stdin!.end();
      assert.deepEqual(await exited, [0, null]);
    },
  };
}

/** The ids of the tasks `file` holds, read once every process on it is gone. */
function idsIn(file: string): string[] {
  const reader = new DatabaseSync(file, { readOnly: true });
  try {
    return (reader.prepare('SELECT id FROM coda_tasks ORDER BY id').all() as { id: string }[]).map(({ id }) => id);
  } finally {
    reader.close();
  }
}

/** A store on a new file holding task 'before', the WAL's shared-memory file then removed under it. */
async function shmRemoved(t: { after: (fn: () => Promise<void>) => void }): Promise<{ file: string; store: SqliteStore }> {
  const file = newFile();
  const store = await opened({ path: file });
  t.after(() => store.close());
  await store.add([task({ id: 'before' })], 'p', 1);
  rmSync(`${file}-shm`);
  return { file, store };
}

test('the WAL\'s shared memory (-shm) removed while the store is open, and no process opening the file since: the next write opens the connection anew, and a process opening the file then shares its view (each saw only its own commits, which overwrote the other\'s in the WAL)', async (t) => {
  const { file, store } = await shmRemoved(t);
  await store.add([task({ id: 'after' })], 'p', 1);
  const other = await adder(t, file);
  assert.equal(await other.add('from-other'), 'added from-other');
  assert.equal((await store.get('from-other'))?.state, 'ready', 'both processes on one index of the WAL');
  await store.add([task({ id: 'last' })], 'p', 1);
  await other.close();
  await store.close();
  assert.deepEqual(idsIn(file), ['after', 'before', 'from-other', 'last']);
});

test('the WAL\'s shared memory (-shm) removed while the store is open, and another process opening the file since (making its own): every write is refused, saying so, where its commits overwrote the other process\'s in the WAL (two tasks that process had added were lost); closed while that process has the file open, it loses nothing', async (t) => {
  const { file, store } = await shmRemoved(t);
  const other = await adder(t, file);
  assert.equal(await other.add('other-1'), 'added other-1');
  const refused = /its shared-memory file .*-shm was removed while the store had it open, and a process has opened the file since, making a new one: the two no longer share their index of the WAL, and each one's commits would overwrite the other's; nothing more is written by this process: restart it while a process that opened the file since still has it open/;
  await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, refused);
  await rejectsUnavailable(store.claim({ owner: 'w', names: ['race'], concurrency: {}, limit: 10, now: 1, leaseUntil: 100 }), file, refused);
  assert.equal(await other.add('other-2'), 'added other-2');
  // This process restarted, as the refusal says, while the other has the file open: its close empties nothing by its stale index.
  await store.close();
  await other.close();
  assert.deepEqual(idsIn(file), ['before', 'other-1', 'other-2']);
});

test('the WAL\'s shared memory (-shm) removed while another process that opened the file before has it open still (a web process and its worker): the next write is refused, saying to stop every process on the file, and that process, closing last, loses none of the tasks acknowledged (reopened, the store made a new index, splitting the two: the other\'s commits overwrote its own)', async (t) => {
  const file = newFile();
  const store = await opened({ path: file });
  t.after(() => store.close());
  await store.add([task({ id: 'before' })], 'p', 1);
  const other = await adder(t, file);
  assert.equal(await other.add('other-1'), 'added other-1');
  rmSync(`${file}-shm`);
  const refused = /its shared-memory file .*-shm was removed while the store had it open, and another process has the file open still, on the removed one: a new one would split the two, each one's commits overwriting the other's in the WAL; nothing more is written or read by this process: stop every process on the file, then start them$/;
  await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, refused);
  await rejectsUnavailable(store.get('before'), file, refused);
  assert.equal(await other.add('other-2'), 'added other-2');
  await store.close();
  await other.close();
  assert.deepEqual(idsIn(file), ['before', 'other-1', 'other-2']);
});

test('a WAL grown large while another connection read (its snapshot stopping checkpoints) is cut back to 8 MiB once its commits are in the file: it kept its largest size on disk for good', { timeout: 60_000 }, async (t) => {
  const file = newFile();
  const store = await opened({ path: file });
  t.after(() => store.close());
  const reader = new DatabaseSync(file);
  t.after(() => reader.close());
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM coda_tasks').get();
  const batch = (): NewTask[] => Array.from({ length: 1000 }, () => task({ payload: JSON.stringify({ s: 'y'.repeat(300) }) }));
  for (let i = 0; i < 30 && statSync(`${file}-wal`).size <= 12 * 1024 * 1024; i++) await store.add(batch(), 'p', 1);
  assert.ok(statSync(`${file}-wal`).size > 12 * 1024 * 1024, 'the reader kept the WAL from being checkpointed');
  reader.exec('COMMIT');
  // The next commits checkpoint it whole, then start it over.
  for (let i = 0; i < 3; i++) await store.add(batch(), 'p', 1);
  const { size } = statSync(`${file}-wal`);
  assert.ok(size <= 8 * 1024 * 1024, `the WAL is ${size} bytes`);
});

test('a store file in a folder that takes no new file (read-only, or immutable) fails to open naming the folder and the WAL\'s two files; SQLite said only "unable to open database file"', async (t) => {
  const folder = mkdtempSync(path.join(dir, 'closed-folder-'));
  const file = path.join(folder, 'tasks.db');
  await (await opened({ path: file })).close();
  const undo = makeReadOnly(t, folder, { folder: true });
  if (undo === null) return;
  try {
    await assert.rejects(sqliteStore({ path: file }).open(), {
      name: 'StoreUnavailable',
      message: new RegExp(`^sqlite store ${file} is unavailable: cannot open ${file}: its folder ${folder} takes no new file \\(E[A-Z]+\\), and SQLite keeps two beside the database \\(tasks\\.db-wal, tasks\\.db-shm\\): let this process write to the folder$`),
    });
  } finally {
    undo();
  }
});

/** A store on a file in a new folder (named from `prefix`) holding task 'before', closed when the test ends. */
async function inFolderOfItsOwn(t: { after: (fn: () => Promise<void>) => void }, prefix: string): Promise<{ folder: string; file: string; store: SqliteStore }> {
  const folder = mkdtempSync(path.join(dir, prefix));
  const file = path.join(folder, 'tasks.db');
  const store = await opened({ path: file });
  t.after(() => store.close());
  await store.add([task({ id: 'before' })], 'p', 1);
  return { folder, file, store };
}

test('a reconnection that fails (the WAL removed, and its folder refusing a new file for a while) is tried again by the next call: the store is not left closed for good', async (t) => {
  const { folder, file, store } = await inFolderOfItsOwn(t, 'locked-folder-');
  rmSync(`${file}-wal`);
  // A folder that takes no new file (root ignores its mode: made immutable instead).
  const undo = makeReadOnly(t, folder, { folder: true });
  if (undo === null) return;
  try {
    await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, new RegExp(`cannot open ${file}: its folder ${folder} takes no new file`));
  } finally {
    undo();
  }
  // It used to say "the store is not open" from here on, until the process restarted.
  await store.add([task({ id: 'after' })], 'p', 1);
  assert.deepEqual((await store.list({})).map(({ id }) => id).sort(), ['after', 'before']);
});

test('the file replaced while another process reads the old one: the WAL cannot be emptied, and writes are refused saying so (it was taken for emptied); once the reader is done, the next write empties it and the new file opens as it is', async (t) => {
  const file = newFile();
  const store = await opened({ path: file });
  t.after(() => store.close());
  await store.add([task({ id: 'old' })], 'p', 1);
  const reader = spawn(process.execPath, [fileURLToPath(new URL('fixtures/locker.ts', import.meta.url)), file, 'read'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => reader.kill('SIGKILL'));
  const exited = once(reader, 'exit');
  assert.equal((await createInterface({ input: reader.stdout! })[Symbol.asyncIterator]().next()).value, 'locked');
  const backup = newFile();
  const restored = await opened({ path: backup });
  await restored.add([task({ id: 'restored' })], 'p', 1);
  await restored.close();
  renameSync(backup, file);
  await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, /was replaced by another since the store opened it, and its WAL, still at the path, cannot be emptied into the old file while other processes read that file: stop them/);
  reader.stdin!.write('done\n');
  assert.deepEqual(await exited, [0, null]);
  await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, /was replaced by another since the store opened it: nothing more is written to the one it opened/);
  const other = await opened({ path: file });
  try {
    assert.deepEqual((await other.list({})).map(({ id }) => id), ['restored']);
  } finally {
    await other.close();
  }
});

test('every write looks at the file, its WAL and the WAL\'s shared memory once each, a registration too: three stats, where a registration took three for the file and its WAL (the file twice)', async (t) => {
  const file = newFile();
  const store = await opened({ path: file });
  t.after(() => store.close());
  // The store's node:fs import is a live binding: a mock of fs.statSync synced to it counts the store's stats.
  const stat = mock.method(fs, 'statSync');
  syncBuiltinESMExports();
  t.after(() => {
    stat.mock.restore();
    syncBuiltinESMExports();
  });
  const statsOf = async (write: () => Promise<unknown>): Promise<string[]> => {
    stat.mock.resetCalls();
    await write();
    return stat.mock.calls.map(({ arguments: [statted] }) => String(statted));
  };
  assert.deepEqual(await statsOf(() => store.add([task({ id: 'counted' })], 'p', 1)), [file, `${file}-wal`, `${file}-shm`]);
  assert.deepEqual(await statsOf(() => store.complete(['counted'], 'p', 2)), [file, `${file}-wal`, `${file}-shm`]);
  assert.deepEqual(await statsOf(() => store.list({})), [], 'a read looks at neither');
});

test('the file replaced by another while the store is open (a backup moved onto its path): writes are refused saying so, and a process opening the path finds the new file as it is, not the old one\'s pages over it', async (t) => {
  const file = newFile();
  const store = await opened({ path: file });
  t.after(() => store.close());
  await store.add([task({ id: 'old-1' }), task({ id: 'old-2' })], 'p', 1);
  const backup = newFile();
  const restored = await opened({ path: backup });
  await restored.add([task({ id: 'restored' })], 'p', 1);
  await restored.close();
  renameSync(backup, file);
  const replaced = /its file .* was replaced by another since the store opened it: nothing more is written to the one it opened \(restart this process to use the new one\)/;
  await rejectsUnavailable(store.claim({ owner: 'w', names: ['race'], concurrency: {}, limit: 10, now: 1, leaseUntil: 100 }), file, replaced);
  await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, replaced);
  const other = await opened({ path: file });
  try {
    assert.deepEqual((await other.list({})).map(({ id }) => id), ['restored']);
  } finally {
    await other.close();
  }
});

test('the store\'s folder removed (rm -rf) under two processes on the file (a web process and a worker): both refuse registrations while it is gone, naming the file; once it is back the first registration copies the store back, the other process refuses every write from then on (its file is no longer the path\'s), and the file holds every task either acknowledged', async (t) => {
  const { folder, file, store } = await inFolderOfItsOwn(t, 'removed-folder-');
  const other = await adder(t, file);
  assert.equal(await other.add('other-before'), 'added other-before');
  rmSync(folder, { recursive: true });
  const gone = /was removed or replaced since the store opened it, and cannot be copied back yet/;
  const refusal = await other.add('other-refused');
  assert.match(refusal, gone);
  assert.ok(refusal.includes(file), `the refusal names the file: ${refusal}`);
  await rejectsUnavailable(store.add([task({ id: 'refused' })], 'p', 1), file, gone);
  mkdirSync(folder);
  await store.add([task({ id: 'copied-back' })], 'p', 1);
  assert.match(await other.add('other-after'), /was replaced by another since the store opened it: nothing more is written to the one it opened \(restart this process to use the new one\)/);
  await store.add([task({ id: 'after' })], 'p', 1);
  await other.close();
  await store.close();
  assert.deepEqual(idsIn(file), ['after', 'before', 'copied-back', 'other-before']);
});

test('a task whose row kept more errors than that (40, written before the cap) is trimmed to them at its next failure, the entry between counting each error dropped: it stayed at 41, counting one more a failure', async () => {
  const file = newFile();
  const store = await opened({ path: file });
  after(() => store.close());
  const stored = task({ name: 'flaky', maxAttempts: 1_000 });
  await store.add([stored], 'app', 0);
  const db = new DatabaseSync(file);
  db.prepare('UPDATE coda_tasks SET errors = ? WHERE id = ?')
    .run(JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ attempt: i + 1, message: `old ${i + 1}`, startedAt: null, finishedAt: i }))), stored.id);
  db.close();
  const omitted = (count: number, finishedAt: number) => ({
    attempt: 0, omitted: count, startedAt: null, finishedAt,
    message: `the errors of ${count} more attempts are not kept (a task keeps those of its first 5 and its last 20 attempts)`,
  });
  const messages = (from: number, to: number, word: string) => Array.from({ length: to - from + 1 }, (_, i) => `${word} ${from + i}`);
  for (let i = 1; i <= 30; i++) {
    const [claimed] = await store.claim({ owner: 'w', names: ['flaky'], concurrency: {}, limit: 1, now: 1_000_000, leaseUntil: 2_000_000 });
    await store.fail(claimed!.id, 'w', { attempt: claimed!.attempt, message: `new ${i}`, startedAt: null, finishedAt: 1000 + i }, 0);
    const { errors } = (await store.get(stored.id))!;
    if (i === 1) {
      // Errors 6 to 21 of the 40 dropped (the last of them finished at 20), their 19 after and the new one kept.
      assert.deepEqual(errors[5], omitted(16, 20));
      assert.deepEqual(errors.map(({ message }) => message), [...messages(1, 5, 'old'), errors[5]!.message, ...messages(22, 40, 'old'), 'new 1']);
    }
    assert.equal(errors.length, 26, `failure ${i}`);
  }
  const { errors } = (await store.get(stored.id))!;
  assert.deepEqual(errors[5], omitted(45, 1010));
  assert.deepEqual(errors.slice(6).map(({ message }) => message), messages(11, 30, 'new'));
});
