// The task store conformance suite: every promise of TaskStore
// (src/durable/store.ts) and of the contract (durable.md, "The promises") that
// a store keeps, as node:test cases. Each store's test file calls
// storeConformance() once per way of opening it; every store runs the same
// cases. The clock is always passed in (`now`, leases): no case sleeps.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, test, type TestContext } from 'node:test';
import type { Outcome } from '../../src/http/outcome.js';
import { retryDelay } from '../../src/durable/backoff.js';
import type { AttemptError, NewTask, ReleaseClaim, StoredTask, TaskStore } from '../../src/durable/store.js';

/** What a store's test file gives the suite, for each case. */
export interface OpenedStore {
  /** A new, empty, opened store. */
  store: TaskStore;
  /** Another opened instance on the same data (another process would open the same file or server), when the store has one. The suite closes it. */
  reopen?: () => Promise<TaskStore>;
  /** Closes `store` (it may be closed already) and removes what `open` made. */
  close: () => Promise<void>;
  /**
   * Set when the store's own machinery also times tasks by the system clock,
   * so that a passed time can move a task forward but never back (BullMQ
   * promotes delayed jobs by its clients' Date.now()), saying why: the
   * suite's time then starts a day ahead of the system's, and every case
   * still runs on the times it passes.
   */
  clockAhead?: string;
}

const PASSED_T0 = 1_700_000_000_000;
/** The suite's time: a fixed past instant, or a day ahead of the system's for a store whose clock must not run behind it (set per case). */
let T0 = PASSED_T0;
const OWNER = 'process-a';
const OTHER = 'process-b';
let LEASE = T0 + 30_000;
const NAME = 'send-welcome';
const OUTCOME: Outcome = { status: 201, completed: true, aborted: false, bytesSent: 42, startedAt: 1520.25, finishedAt: 1523.5 };
const notRandom = (): number => 0.5;

let counter = 0;

/** A ready task due at T0, with a fresh id; `overrides` change any field. */
function newTask(overrides: Partial<NewTask> = {}): NewTask {
  counter += 1;
  return {
    id: `task-${counter}`,
    name: NAME,
    payload: `{"n":${counter}}`,
    key: null,
    when: 'always',
    maxAttempts: 3,
    backoff: { type: 'fixed', delayMs: 1000, jitter: 0 },
    timeoutMs: 30_000,
    held: false,
    runAt: T0,
    request: null,
    trace: null,
    ...overrides,
  };
}

function attemptError(attempt: number, finishedAt: number): AttemptError {
  return { attempt, message: `Error: attempt ${attempt} failed`, stack: `Error: attempt ${attempt} failed\n    at work (task.ts:1:1)`, startedAt: finishedAt - 5, finishedAt };
}

const idsOf = (tasks: readonly { id: string }[]): string[] => tasks.map(({ id }) => id);

type ClaimRequest = Parameters<TaskStore['claim']>[0];

/** Claims for OWNER at T0, all names the suite uses, no limits, unless `request` says otherwise. */
function claim(store: TaskStore, request: Partial<ClaimRequest> = {}): Promise<StoredTask[]> {
  return store.claim({ owner: OWNER, names: [NAME, 'other'], concurrency: {}, limit: 100, now: T0, leaseUntil: LEASE, ...request });
}

/** The claim a release carries for OWNER at T0, all names the suite uses, no limits, unless `overrides` say otherwise. */
function releaseClaim(overrides: Partial<ReleaseClaim> = {}): ReleaseClaim {
  return { names: [NAME, 'other'], concurrency: {}, limit: 100, now: T0, leaseUntil: LEASE, ...overrides };
}

/** Adds `task` and brings it to `state`; a failed task has used its every attempt. */
async function inState(store: TaskStore, state: StoredTask['state'], overrides: Partial<NewTask> = {}): Promise<NewTask> {
  const task = newTask({ held: state === 'held', ...overrides });
  await store.add([task], OWNER, LEASE);
  if (state === 'held' || state === 'ready') return task;
  assert.equal((await claim(store, { ids: [task.id], now: task.runAt })).length, 1);
  if (state === 'completed') await store.complete([task.id], OWNER, T0 + 10);
  if (state === 'failed') await store.fail(task.id, OWNER, attemptError(1, T0 + 10), null);
  return task;
}

async function stateOf(store: TaskStore, id: string): Promise<StoredTask['state'] | undefined> {
  return (await store.get(id))?.state;
}

/** Asserts the fields `expected` names (and only those) of the stored task `id`; returns the task. */
async function assertTask(store: TaskStore, id: string, expected: Partial<StoredTask>, message?: string): Promise<StoredTask> {
  const stored = await store.get(id);
  assert.ok(stored, `task ${id} is gone`);
  const actual = Object.fromEntries(Object.keys(expected).map((field) => [field, stored[field as keyof StoredTask]]));
  assert.deepEqual(actual, expected, message);
  return stored;
}

export function storeConformance(label: string, open: () => Promise<OpenedStore>): void {
  describe(`${label}: TaskStore conformance`, () => {
    let opened: OpenedStore;
    let store: TaskStore;
    const others: TaskStore[] = [];

    /** Stores opened and not closed yet: Node 22 runs no afterEach for a case that skips itself, so `after` closes what is left. */
    const unclosed: OpenedStore[] = [];

    beforeEach(async () => {
      opened = await open();
      unclosed.push(opened);
      store = opened.store;
      T0 = opened.clockAhead === undefined ? PASSED_T0 : Date.now() + 24 * 60 * 60_000;
      LEASE = T0 + 30_000;
    });
    afterEach(closeAll);
    after(closeAll);

    async function closeAll(): Promise<void> {
      for (const other of others.splice(0)) await other.close();
      for (const each of unclosed.splice(0)) await each.close();
    }

    /** A second instance on the same data, or null (the case is then skipped: this store has no other instance). */
    async function reopen(t: TestContext): Promise<TaskStore | null> {
      if (opened.reopen === undefined) {
        t.skip('this store has no second instance on the same data');
        return null;
      }
      const other = await opened.reopen();
      others.push(other);
      return other;
    }

    describe('add', () => {
      test('journals a ready task whole, its payload verbatim', async () => {
        const task = newTask({
          payload: '{ "b": 1,\n  "a": "é ☃ \\u0000" }',
          key: 'welcome:42',
          when: 'success',
          backoff: { type: 'exponential', delayMs: 250, maxDelayMs: 10_000, jitter: 0.1 },
          runAt: T0 + 5,
          request: { id: 'req-1', method: 'POST', path: '/users', route: '/users' },
          trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        });
        assert.deepEqual(await store.add([task], OWNER, LEASE), [{ id: task.id, duplicate: false }]);
        const stored = await store.get(task.id);
        assert.equal(typeof stored?.createdAt, 'number');
        assert.deepEqual(stored, {
          id: task.id, name: NAME, payload: task.payload, state: 'ready', key: 'welcome:42', when: 'success',
          attempt: 0, maxAttempts: 3, backoff: task.backoff, timeoutMs: 30_000, runAt: T0 + 5,
          owner: null, leaseUntil: null, createdAt: stored!.createdAt, startedAt: null, finishedAt: null,
          request: task.request, outcome: null, trace: task.trace, errors: [],
        });
      });

      test('a batch of 20,000 tasks (a burst of enqueues in one turn), held and ready, is journaled whole', async () => {
        const tasks = Array.from({ length: 20_000 }, (_, i) => newTask({ held: i % 2 === 0, key: `burst:${i}` }));
        const added = await store.add(tasks, OWNER, LEASE);
        assert.equal(added.filter(({ duplicate }) => !duplicate).length, tasks.length);
        const { held, ready } = (await store.stats(T0)).byName[NAME]!;
        assert.deepEqual({ held, ready }, { held: 10_000, ready: 10_000 });
      });

      test('a batch of 100,000 ready tasks of one name (a flood of enqueues in one turn) is journaled whole, in seconds', { timeout: 120_000 }, async () => {
        const tasks = Array.from({ length: 100_000 }, () => newTask());
        const added = await store.add(tasks, OWNER, LEASE);
        assert.deepEqual(added.at(-1), { id: tasks.at(-1)!.id, duplicate: false });
        assert.equal((await store.stats(T0)).byName[NAME]!.ready, tasks.length);
      });

      test('a held task is owned by the owner until the lease', async () => {
        const task = newTask({ held: true });
        await store.add([task], OWNER, LEASE);
        await assertTask(store, task.id, { state: 'held', owner: OWNER, leaseUntil: LEASE, outcome: null });
      });

      test('an empty batch adds nothing', async () => {
        assert.deepEqual(await store.add([], OWNER, LEASE), []);
        assert.deepEqual(await store.list({}), []);
      });

      test('all or none: a batch with a bad row adds nothing', async () => {
        const stored = newTask();
        await store.add([stored], OWNER, LEASE);
        const batches: [string, NewTask[], RegExp?][] = [
          ['maxAttempts 0', [newTask(), newTask({ maxAttempts: 0 })], /maxAttempts/],
          ['a payload that is not text', [newTask(), newTask({ payload: { n: 1 } as unknown as string })], /payload/],
          ['an unknown when', [newTask(), newTask({ when: 'sometimes' as NewTask['when'] })], /when/],
          ['an id already stored', [newTask(), newTask({ id: stored.id })]],
          ['one id twice', [newTask({ id: 'twice' }), newTask({ id: 'twice' })]],
        ];
        for (const [what, batch, message] of batches) {
          await assert.rejects(store.add(batch, OWNER, LEASE), message ?? Error, what);
          assert.equal(await store.get(batch[0]!.id), null, `${what}: the good row was added`);
        }
        assert.deepEqual(idsOf(await store.list({})), [stored.id]);
      });

      test('one pending task per key: a second add returns the pending task\'s id, duplicate', async () => {
        const first = newTask({ key: 'k' });
        const second = newTask({ key: 'k' });
        assert.deepEqual(await store.add([first], OWNER, LEASE), [{ id: first.id, duplicate: false }]);
        assert.deepEqual(await store.add([second], OTHER, LEASE), [{ id: first.id, duplicate: true }]);
        assert.equal(await store.get(second.id), null);
      });

      test('a key is taken by a held, ready or running task, also within one batch; results come in order', async () => {
        const held = await inState(store, 'held', { key: 'held' });
        const running = await inState(store, 'running', { key: 'running' });
        const [a, b, c, d] = [newTask({ key: 'held' }), newTask({ key: 'new' }), newTask({ key: 'new' }), newTask({ key: 'running' })];
        assert.deepEqual(await store.add([a!, b!, c!, d!], OTHER, LEASE), [
          { id: held.id, duplicate: true },
          { id: b!.id, duplicate: false },
          { id: b!.id, duplicate: true },
          { id: running.id, duplicate: true },
        ]);
      });

      test('a key is free again once its task completed or failed, by its last attempt\'s stall too', async () => {
        await inState(store, 'completed', { key: 'done' });
        await inState(store, 'failed', { key: 'dead' });
        const stalled = newTask({ key: 'stalled', maxAttempts: 1 });
        await store.add([stalled], OWNER, LEASE);
        await claim(store, { ids: [stalled.id], leaseUntil: T0 + 100 });
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 0, running: 1 });
        assert.equal(await stateOf(store, stalled.id), 'failed');
        const again = [newTask({ key: 'done' }), newTask({ key: 'dead' }), newTask({ key: 'stalled' })];
        assert.deepEqual(await store.add(again, OWNER, LEASE), again.map(({ id }) => ({ id, duplicate: false })));
      });
      test('a key is kept through a failed attempt\'s wait for its retry, a stall\'s recovery, a shutdown\'s giveBack and a dead process\'s hold recovered (graphile/worker\'s job_key, BullMQ\'s deduplication id while a job retries); a discarded task frees it', async () => {
        const keyed = async (key: string): Promise<string> => {
          const [added] = await store.add([newTask({ key })], OWNER, LEASE);
          return added!.duplicate ? added!.id : `not a duplicate (${key})`;
        };
        const retrying = await inState(store, 'running', { key: 'retrying' });
        await store.fail(retrying.id, OWNER, attemptError(1, T0 + 1), T0 + 5_000);
        const stalled = newTask({ key: 'stalled' });
        await store.add([stalled], OWNER, LEASE);
        await claim(store, { ids: [stalled.id], leaseUntil: T0 + 100 });
        const held = newTask({ key: 'held', held: true });
        await store.add([held], OWNER, T0 + 100);
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 1, running: 1 });
        const given = await inState(store, 'running', { key: 'given' });
        await store.giveBack([given.id], OWNER);
        assert.deepEqual(
          await Promise.all(['retrying', 'stalled', 'held', 'given'].map(keyed)),
          [retrying.id, stalled.id, held.id, given.id],
        );
        for (const id of [retrying.id, stalled.id, held.id, given.id]) assert.equal(await store.discard(id), true);
        assert.deepEqual(await Promise.all(['retrying', 'stalled', 'held', 'given'].map((key) => store.keyHolder(NAME, key))), [null, null, null, null]);
        const again = ['retrying', 'stalled', 'held', 'given'].map((key) => newTask({ key }));
        assert.deepEqual(await store.add(again, OWNER, LEASE), again.map(({ id }) => ({ id, duplicate: false })));
      });
    });

    describe('a key and a hold whose `when` may skip it (no registration lost)', () => {
      const skip = (task: NewTask) => ({ id: task.id, outcome: { ...OUTCOME, status: 500 }, run: false, runAt: T0 });
      const run = (task: NewTask) => ({ id: task.id, outcome: OUTCOME, run: true, runAt: T0 });

      test('such a hold keeps no key: a registration meanwhile is journaled too, and runs when the hold is skipped', async () => {
        const hold = await inState(store, 'held', { key: 'k', when: 'success' });
        const [another, ready] = [newTask({ key: 'k', held: true, when: 'completed' }), newTask({ key: 'k' })];
        assert.deepEqual(await store.add([another, ready], OTHER, LEASE), [{ id: another.id, duplicate: false }, { id: ready.id, duplicate: false }]);
        assert.deepEqual(await store.add([newTask({ key: 'k' })], OTHER, LEASE), [{ id: ready.id, duplicate: true }], 'the ready one keeps the key');
        await store.release([skip(hold)], OWNER);
        assert.equal(await store.get(hold.id), null);
        assert.deepEqual(idsOf(await claim(store)), [ready.id], 'the registration made meanwhile runs');
      });

      test('a pending task that keeps the key (ready, running, held with when always) takes such a registration as its duplicate', async () => {
        const keeper = await inState(store, 'held', { key: 'k', when: 'always' });
        const later = newTask({ key: 'k', held: true, when: 'success' });
        assert.deepEqual(await store.add([later], OTHER, LEASE), [{ id: keeper.id, duplicate: true }]);
        // Within one batch too: a ready task, then such a hold.
        const [ready, hold] = [newTask({ key: 'b' }), newTask({ key: 'b', held: true, when: 'success' })];
        assert.deepEqual(await store.add([ready, hold], OWNER, LEASE), [{ id: ready.id, duplicate: false }, { id: ready.id, duplicate: true }]);
      });

      test('such a hold run while another pending task keeps its key is removed (that one runs for both); run alone, it takes the key', async () => {
        const [covered, alone] = [await inState(store, 'held', { key: 'k', when: 'success' }), await inState(store, 'held', { key: 'solo', when: 'success' })];
        const keeper = newTask({ key: 'k' });
        await store.add([keeper], OTHER, LEASE);
        assert.deepEqual(await store.release([run(covered), run(alone)], OWNER), { ready: [alone.id], claimed: [] });
        assert.equal(await store.get(covered.id), null, 'covered by the pending task that keeps the key');
        assert.deepEqual(await store.add([newTask({ key: 'solo' })], OTHER, LEASE), [{ id: alone.id, duplicate: true }], 'released to run, it keeps its key');
        assert.deepEqual(idsOf(await claim(store)).sort(), [keeper.id, alone.id].sort());
      });

      test('such holds of one key released to run together, with a claim: one runs, the others are removed; none is claimed twice', async () => {
        const holds = [newTask({ held: true, key: 'k', when: 'success' }), newTask({ held: true, key: 'k', when: 'completed' }), newTask({ held: true, key: 'k', when: 'success' })];
        await store.add(holds, OWNER, LEASE);
        const { ready, claimed } = await store.release(holds.map(run), OWNER, releaseClaim({ limit: 1 }));
        assert.equal(ready.length + claimed.length, 1, `one runs, got ${JSON.stringify({ ready, claimed: idsOf(claimed) })}`);
        const survivors = (await Promise.all(holds.map(({ id }) => store.get(id)))).filter((task) => task !== null);
        assert.deepEqual(idsOf(survivors), [...ready, ...idsOf(claimed)]);
      });

      test('such holds of a dead process are recovered alike: removed when another task keeps the key, else one of them runs and keeps it', async () => {
        const keeper = newTask({ key: 'kept' });
        await store.add([keeper], OTHER, LEASE);
        const lapsed = [newTask({ held: true, key: 'kept', when: 'success' }), newTask({ held: true, key: 'free', when: 'success' }), newTask({ held: true, key: 'free', when: 'completed' })];
        await store.add(lapsed, OWNER, T0 + 100);
        const { held } = await store.recover(T0 + 200, notRandom);
        assert.equal(held, 1);
        assert.equal(await store.get(lapsed[0]!.id), null, 'covered by the task that keeps its key');
        const ready = (await store.list({ state: 'ready' })).filter(({ key }) => key === 'free');
        assert.equal(ready.length, 1, 'one of the two holds of the free key runs');
        assert.deepEqual(await store.add([newTask({ key: 'free' })], OTHER, LEASE), [{ id: ready[0]!.id, duplicate: true }]);
      });
    });

    describe('release', () => {
      test('run: the held task is ready at runAt with the outcome, no longer owned', async () => {
        const task = await inState(store, 'held');
        assert.deepEqual(await store.release([{ id: task.id, outcome: OUTCOME, run: true, runAt: T0 + 500 }], OWNER), { ready: [task.id], claimed: [] });
        await assertTask(store, task.id, { state: 'ready', runAt: T0 + 500, outcome: OUTCOME, owner: null, leaseUntil: null });
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 500 })), [task.id], 'the released task runs with its outcome');
      });

      test('not run (its `when` says skip): the task is removed', async () => {
        const [skipped, kept] = [await inState(store, 'held'), await inState(store, 'held')];
        const released = await store.release([
          { id: skipped.id, outcome: { ...OUTCOME, status: 500 }, run: false, runAt: T0 },
          { id: kept.id, outcome: OUTCOME, run: true, runAt: T0 },
        ], OWNER);
        assert.deepEqual(released, { ready: [kept.id], claimed: [] });
        assert.equal(await store.get(skipped.id), null);
        assert.equal(await stateOf(store, kept.id), 'ready');
      });

      test('an outcome\'s error is kept as its name and message, by a release with a claim too', async () => {
        const [task, claimedTask] = [await inState(store, 'held'), await inState(store, 'held')];
        const outcome = { ...OUTCOME, completed: false, error: new TypeError('stream failed') };
        await store.release([{ id: task.id, outcome, run: true, runAt: T0 }], OWNER);
        assert.deepEqual((await store.get(task.id))?.outcome, { ...outcome, error: 'TypeError: stream failed' });
        const { claimed } = await store.release([{ id: claimedTask.id, outcome, run: true, runAt: T0 }], OWNER, releaseClaim({ now: T0 + 7 }));
        assert.deepEqual(claimed.map((stored) => stored.outcome), [{ ...outcome, error: 'TypeError: stream failed' }]);
        assert.deepEqual((await store.get(claimedTask.id))?.outcome, claimed[0]?.outcome);
      });

      test('an outcome\'s error that is not an Error is kept as what it is, one without a prototype too (String() throws on it)', async () => {
        const [plain, bare] = [await inState(store, 'held'), await inState(store, 'held')];
        await store.release([
          { id: plain.id, outcome: { ...OUTCOME, error: { code: 42 } }, run: true, runAt: T0 },
          { id: bare.id, outcome: { ...OUTCOME, error: Object.create(null) }, run: true, runAt: T0 },
        ], OWNER);
        assert.equal((await store.get(plain.id))?.outcome?.error, '{ code: 42 }');
        assert.equal((await store.get(bare.id))?.outcome?.error, '[Object: null prototype] {}');
      });

      test('a task held by another owner, or not held, is left alone', async () => {
        const theirs = newTask({ held: true });
        await store.add([theirs], OTHER, LEASE);
        const ready = await inState(store, 'ready');
        const released = await store.release([
          { id: theirs.id, outcome: OUTCOME, run: true, runAt: T0 },
          { id: ready.id, outcome: OUTCOME, run: false, runAt: T0 },
          { id: 'no-such-task', outcome: OUTCOME, run: true, runAt: T0 },
        ], OWNER);
        assert.deepEqual(released, { ready: [], claimed: [] });
        await assertTask(store, theirs.id, { state: 'held', owner: OTHER, leaseUntil: LEASE });
        assert.equal(await stateOf(store, ready.id), 'ready');
      });
    });

    describe('release with a claim (the web process running what it releases)', () => {
      test('a released task due now goes from held to running for the owner, as a claim sets it, its outcome kept', async () => {
        // Every field set, so that the claimed task is seen to carry each as stored.
        const task = await inState(store, 'held', {
          key: 'claimed:1', when: 'success', request: { id: 'req-1', method: 'POST', path: '/notes', route: '/notes', ip: '203.0.113.7', protocol: 'https', host: 'a.example' },
          trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        });
        const { ready, claimed } = await store.release([{ id: task.id, outcome: OUTCOME, run: true, runAt: T0 }], OWNER, releaseClaim({ now: T0 + 7 }));
        assert.deepEqual(ready, []);
        assert.deepEqual(idsOf(claimed), [task.id]);
        const stored = await assertTask(store, task.id, {
          state: 'running', owner: OWNER, leaseUntil: LEASE, attempt: 1, startedAt: T0 + 7, runAt: T0, outcome: OUTCOME, payload: task.payload,
        });
        assert.deepEqual(claimed[0], stored, 'the claimed task as stored');
        assert.deepEqual(await claim(store, { now: T0 + 7 }), [], 'nothing is left for a claim');
      });

      test('what the claim does not take is ready, as without one: due later, past the limit, a name not among names; skipped is removed', async () => {
        const [first, second, later, unnamed, skipped, theirs] = [
          newTask({ held: true }), newTask({ held: true }), newTask({ held: true }), newTask({ held: true, name: 'not-here' }), newTask({ held: true }), newTask({ held: true }),
        ];
        await store.add([first, second, later, unnamed, skipped], OWNER, LEASE);
        await store.add([theirs], OTHER, LEASE);
        const release = (task: NewTask, runAt = T0, run = true) => ({ id: task.id, outcome: OUTCOME, run, runAt });
        const { ready, claimed } = await store.release(
          [release(first), release(second), release(later, T0 + 60_000), release(unnamed), release(skipped, T0, false), release(theirs)],
          OWNER, releaseClaim({ limit: 1 }),
        );
        assert.equal(claimed.length, 1, 'one claimed: the limit');
        const [taken] = idsOf(claimed);
        const left = taken === first.id ? second : first;
        assert.ok([first.id, second.id].includes(taken!), 'a due task of a listed name is claimed');
        assert.deepEqual([...ready].sort(), [left.id, later.id, unnamed.id].sort());
        await assertTask(store, taken!, { state: 'running', owner: OWNER, attempt: 1 });
        for (const { id } of [left, later, unnamed]) await assertTask(store, id, { state: 'ready', owner: null, attempt: 0, outcome: OUTCOME });
        await assertTask(store, later.id, { runAt: T0 + 60_000 });
        assert.equal(await store.get(skipped.id), null, 'the skipped task is removed');
        await assertTask(store, theirs.id, { state: 'held', owner: OTHER }, 'another owner\'s hold is left alone');
        assert.deepEqual(await store.release([release(left)], OWNER, releaseClaim()), { ready: [], claimed: [] }, 'a task no longer held is not claimed');
      });

      test('per-name concurrency counts the running tasks of every owner: a name at its cap is left ready (promise 5)', async () => {
        const theirs = newTask({ name: 'hook' });
        await store.add([theirs], OTHER, LEASE);
        assert.equal((await claim(store, { owner: OTHER, names: ['hook'] })).length, 1);
        const held = [newTask({ held: true, name: 'hook' }), newTask({ held: true, name: 'hook' }), newTask({ held: true })];
        await store.add(held, OWNER, LEASE);
        const { ready, claimed } = await store.release(
          held.map(({ id }) => ({ id, outcome: OUTCOME, run: true, runAt: T0 })), OWNER, releaseClaim({ names: ['hook', NAME], concurrency: { hook: 2 } }),
        );
        assert.deepEqual(claimed.map(({ name }) => name).sort(), ['hook', NAME]);
        assert.equal(ready.length, 1);
        await assertTask(store, ready[0]!, { state: 'ready', name: 'hook' });
        assert.equal((await store.stats(T0)).byName.hook?.running, 2, 'hook runs twice, its cap');
      });

      test('limit 0, or no names: nothing is claimed, every task released to run is ready', async () => {
        const held = [newTask({ held: true }), newTask({ held: true })];
        await store.add(held, OWNER, LEASE);
        const [a, b] = held.map(({ id }) => ({ id, outcome: OUTCOME, run: true, runAt: T0 }));
        assert.deepEqual(await store.release([a!], OWNER, releaseClaim({ limit: 0 })), { ready: [a!.id], claimed: [] });
        assert.deepEqual(await store.release([b!], OWNER, releaseClaim({ names: [] })), { ready: [b!.id], claimed: [] });
      });
    });

    describe('claim', () => {
      test('only ready tasks whose time has come: never a held one (promise 2)', async () => {
        await inState(store, 'held');
        await inState(store, 'running');
        await inState(store, 'completed');
        await inState(store, 'failed');
        const later = await inState(store, 'ready', { runAt: T0 + 1000 });
        const due = await inState(store, 'ready');
        assert.deepEqual(idsOf(await claim(store)), [due.id]);
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 999 })), []);
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 1000 })), [later.id]);
      });

      test('oldest runAt first, then the order added, across names', async () => {
        const a = newTask({ runAt: T0 + 2 });
        const b = newTask({ runAt: T0 + 1 });
        const c = newTask({ runAt: T0 + 1 });
        const d = newTask({ runAt: T0 });
        const e = newTask({ runAt: T0 + 1, name: 'other' });
        await store.add([a, b, c], OWNER, LEASE);
        await store.add([d, e], OWNER, LEASE);
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 10 })), idsOf([d, b, c, e, a]));
      });

      test('at most `limit`, oldest first; among `names` only', async () => {
        const tasks = [newTask({ runAt: T0 - 3 }), newTask({ runAt: T0 - 2 }), newTask({ runAt: T0 - 1 })];
        const unnamed = newTask({ name: 'not-here', runAt: T0 - 10 });
        await store.add([...tasks, unnamed], OWNER, LEASE);
        assert.deepEqual(idsOf(await claim(store, { names: [NAME], limit: 2 })), idsOf(tasks.slice(0, 2)));
        assert.deepEqual(idsOf(await claim(store, { names: [NAME], limit: 2 })), idsOf(tasks.slice(2)));
        assert.equal(await stateOf(store, unnamed.id), 'ready');
        assert.deepEqual(await claim(store, { names: [] }), []);
      });

      test('under a limit smaller than what is due, oldest first across names: a name with a backlog does not starve another', async () => {
        const backlog = [newTask({ runAt: T0 - 5 }), newTask({ runAt: T0 - 3 }), newTask({ runAt: T0 - 1 })];
        const others = [newTask({ runAt: T0 - 4, name: 'other' }), newTask({ runAt: T0 - 2, name: 'other' })];
        await store.add([...backlog, ...others], OWNER, LEASE);
        assert.deepEqual(idsOf(await claim(store, { limit: 2 })), idsOf([backlog[0]!, others[0]!]));
        assert.deepEqual(idsOf(await claim(store, { limit: 2 })), idsOf([backlog[1]!, others[1]!]));
        assert.deepEqual(idsOf(await claim(store, { limit: 2 })), idsOf([backlog[2]!]));
      });

      test('`ids` narrows the claim to those tasks, still ready, due and among names', async () => {
        const [a, b, c] = [newTask(), newTask(), newTask()];
        const later = newTask({ runAt: T0 + 1 });
        const unnamed = newTask({ name: 'not-here' });
        await store.add([a, b, c, later, unnamed], OWNER, LEASE);
        const held = await inState(store, 'held');
        const claimed = await claim(store, { ids: [c.id, b.id, later.id, unnamed.id, held.id, 'no-such-task'] });
        assert.deepEqual(idsOf(claimed), [b.id, c.id]);
        assert.equal(await stateOf(store, a.id), 'ready');
        assert.deepEqual(await claim(store, { ids: [] }), []);
      });

      test('a claimed task is running for the owner until the lease, its attempt counted', async () => {
        const task = await inState(store, 'ready');
        const [claimed] = await claim(store, { now: T0 + 7 });
        assert.equal(claimed?.id, task.id);
        const stored = await assertTask(store, task.id, { state: 'running', owner: OWNER, leaseUntil: LEASE, attempt: 1, startedAt: T0 + 7, payload: task.payload });
        assert.deepEqual(claimed, stored, 'claim returns the task as stored');
      });

      test('per-name concurrency counts the running tasks of every owner; a name not listed has no limit (promise 5)', async () => {
        await store.add([1, 2, 3, 4].map(() => newTask({ name: 'hook' })), OWNER, LEASE);
        await store.add([1, 2, 3].map(() => newTask()), OWNER, LEASE);
        const concurrency = { hook: 2 };
        const first = await claim(store, { names: ['hook', NAME], concurrency });
        assert.deepEqual(first.map(({ name }) => name).sort(), ['hook', 'hook', NAME, NAME, NAME]);
        assert.deepEqual(await claim(store, { owner: OTHER, names: ['hook'], concurrency }), [], 'the cap holds for another owner');
        await store.complete([first.find(({ name }) => name === 'hook')!.id], OWNER, T0);
        assert.equal((await claim(store, { owner: OTHER, names: ['hook'], concurrency })).length, 1);
        assert.deepEqual(await claim(store, { names: ['hook'], concurrency: { hook: 0 } }), [], 'a cap of 0 runs none');
      });

      test('per-name concurrency holds across two instances on the same data', async (t) => {
        const second = await reopen(t);
        if (second === null) return;
        await store.add([1, 2, 3, 4, 5].map(() => newTask({ name: 'hook' })), OWNER, LEASE);
        const concurrency = { hook: 3 };
        assert.equal((await claim(store, { names: ['hook'], concurrency, limit: 2 })).length, 2);
        assert.equal((await claim(second, { owner: OTHER, names: ['hook'], concurrency })).length, 1);
        assert.equal((await claim(store, { names: ['hook'], concurrency })).length, 0);
      });

      test('never gives one task to two owners: two instances claiming in a loop at once', async (t) => {
        const second = opened.reopen === undefined ? store : await reopen(t);
        if (second === null) return;
        const tasks = Array.from({ length: 300 }, () => newTask());
        for (let i = 0; i < tasks.length; i += 100) await store.add(tasks.slice(i, i + 100), OWNER, LEASE);
        const drain = async (instance: TaskStore, owner: string): Promise<string[]> => {
          const got: string[] = [];
          for (let round = 0; round < tasks.length; round++) {
            const claimed = idsOf(await claim(instance, { owner, limit: 7 }));
            if (claimed.length === 0) break;
            got.push(...claimed);
            await instance.complete(claimed, owner, T0);
          }
          return got;
        };
        const [mine, theirs] = await Promise.all([drain(store, OWNER), drain(second, OTHER)]);
        const all = [...mine, ...theirs];
        assert.equal(new Set(all).size, all.length, 'a task was claimed twice');
        assert.deepEqual(all.sort(), idsOf(tasks).sort());
      });
    });

    describe('leases', () => {
      test('heartbeat renews the holds and claims of the owner among the ids, and only those (promise 3)', async () => {
        const held = await inState(store, 'held');
        const running = await inState(store, 'running');
        const theirs = newTask();
        await store.add([theirs], OWNER, LEASE);
        await claim(store, { owner: OTHER, ids: [theirs.id] });
        const ready = await inState(store, 'ready', { runAt: T0 + 1 });
        // Let go of by its process (a completion the store refused): not renewed, so that it runs out and is recovered.
        const letGo = await inState(store, 'running');
        await store.heartbeat(OWNER, LEASE + 60_000, [held.id, running.id, theirs.id, ready.id, 'no-such-task']);
        assert.equal((await store.get(held.id))?.leaseUntil, LEASE + 60_000);
        assert.equal((await store.get(running.id))?.leaseUntil, LEASE + 60_000);
        assert.equal((await store.get(theirs.id))?.leaseUntil, LEASE);
        assert.equal((await store.get(ready.id))?.leaseUntil, null);
        assert.equal((await store.get(letGo.id))?.leaseUntil, LEASE);
        assert.deepEqual(await store.recover(LEASE + 1, notRandom), { held: 0, running: 2 }, 'only the leases not renewed have lapsed');
        assert.equal(await stateOf(store, held.id), 'held');
        assert.equal(await stateOf(store, letGo.id), 'ready');
        await store.heartbeat(OWNER, LEASE + 90_000, []);
        assert.equal((await store.get(held.id))?.leaseUntil, LEASE + 60_000, 'no ids: nothing renewed');
      });

      test('heartbeat renews 70,000 holds of one name in one call (a BullMQ renewal spread them as one call\'s arguments: a RangeError past some 62,000)', { timeout: 120_000 }, async () => {
        const tasks = Array.from({ length: 70_000 }, () => newTask({ held: true }));
        for (let from = 0; from < tasks.length; from += 10_000) await store.add(tasks.slice(from, from + 10_000), OWNER, LEASE);
        await store.heartbeat(OWNER, LEASE + 60_000, idsOf(tasks));
        for (const { id } of [tasks[0]!, tasks[35_000]!, tasks.at(-1)!]) assert.equal((await store.get(id))?.leaseUntil, LEASE + 60_000);
        assert.deepEqual(await store.recover(LEASE + 1, notRandom), { held: 0, running: 0 }, 'every hold renewed');
      });
    });

    describe('complete', () => {
      test('ends running tasks of the owner, all at once', async () => {
        const [a, b] = [await inState(store, 'running'), await inState(store, 'running')];
        assert.deepEqual((await store.complete([a.id, b.id], OWNER, T0 + 50)).sort(), [a.id, b.id].sort(), 'resolves with what it completed');
        for (const { id } of [a, b]) await assertTask(store, id, { state: 'completed', finishedAt: T0 + 50, owner: null, leaseUntil: null, attempt: 1 });
      });

      test('leaves alone a task of another owner, or not running', async () => {
        const running = await inState(store, 'running');
        const ready = await inState(store, 'ready', { runAt: T0 + 1 });
        const held = await inState(store, 'held');
        assert.deepEqual(await store.complete([running.id], OTHER, T0 + 50), []);
        assert.deepEqual(await store.complete([ready.id, held.id, 'no-such-task'], OWNER, T0 + 50), [], 'none of them was completed');
        assert.equal(await stateOf(store, running.id), 'running');
        assert.equal(await stateOf(store, ready.id), 'ready');
        assert.equal(await stateOf(store, held.id), 'held');
      });

      test('a task whose lease was lost (recovered elsewhere) is left alone', async () => {
        const task = await inState(store, 'running');
        await store.recover(LEASE + 1, notRandom);
        await store.complete([task.id], OWNER, LEASE + 2);
        assert.equal((await assertTask(store, task.id, { state: 'ready' })).errors.length, 1);
      });
    });

    describe('a paused process (fenced ends)', () => {
      test('an owner paused past its lease, its task recovered and run by another process: its late heartbeat, completion and failure change nothing of the other\'s claim; the end is recorded once', async (t) => {
        const second = await reopen(t);
        if (second === null) return;
        const task = newTask({ backoff: { type: 'fixed', delayMs: 1000, jitter: 0 } });
        await store.add([task], OWNER, LEASE);
        await claim(store, { ids: [task.id] });
        // The other process finds the lease run out, charges the stall, and claims the retry once it is due.
        assert.deepEqual(await second.recover(LEASE + 1, notRandom), { held: 0, running: 1 });
        const retryAt = LEASE + 1001;
        const theirs = await claim(second, { owner: OTHER, now: retryAt, leaseUntil: retryAt + 30_000 });
        assert.deepEqual(idsOf(theirs), [task.id]);
        // The paused owner wakes up: a heartbeat, then its attempt's end, each written as if it still had the task.
        await store.heartbeat(OWNER, retryAt + 90_000, [task.id]);
        // Each says it wrote nothing, so that the paused process reports no end of its own (the other reports the task's).
        assert.deepEqual(await store.complete([task.id], OWNER, retryAt + 5), [], 'the late completion was refused');
        assert.equal(await store.fail(task.id, OWNER, attemptError(1, retryAt + 6), null), false, 'the late failure was refused');
        await assertTask(second, task.id, { state: 'running', owner: OTHER, leaseUntil: retryAt + 30_000, attempt: 2, finishedAt: null });
        assert.deepEqual(await second.complete([task.id], OTHER, retryAt + 10), [task.id]);
        const ended = await assertTask(second, task.id, { state: 'completed', finishedAt: retryAt + 10, owner: null, leaseUntil: null });
        assert.deepEqual(ended.errors.map(({ attempt, message }) => [attempt, message.split(':')[0]]), [[1, 'stalled']], 'the stall only: no error of the paused owner');
      });
    });

    describe('complete with a claim (optional: completeAndClaim)', () => {
      /** The store's completeAndClaim, or null (the case is then skipped: the runner completes, then claims). */
      function combined(t: TestContext): NonNullable<TaskStore['completeAndClaim']> | null {
        if (store.completeAndClaim !== undefined) return store.completeAndClaim.bind(store);
        t.skip('this store has no completeAndClaim');
        return null;
      }

      test('completes the owner\'s running tasks and claims ready ones in the same call, as claim() sets them, oldest first', async (t) => {
        const completeAndClaim = combined(t);
        if (completeAndClaim === null) return;
        const [a, b] = [await inState(store, 'running'), await inState(store, 'running')];
        const [c, d, e] = [await inState(store, 'ready'), await inState(store, 'ready'), await inState(store, 'ready')];
        const { completed, claimed } = await completeAndClaim([a.id, b.id], OWNER, T0 + 50, releaseClaim({ limit: 3, now: T0 + 60 }));
        assert.deepEqual(completed.sort(), [a.id, b.id].sort(), 'both completions were written');
        for (const { id } of [a, b]) await assertTask(store, id, { state: 'completed', finishedAt: T0 + 50, owner: null, leaseUntil: null, attempt: 1 });
        assert.deepEqual(idsOf(claimed), [c.id, d.id, e.id], 'the room of both completions and one more, oldest first');
        for (const task of claimed) assert.deepEqual(task, await assertTask(store, task.id, { state: 'running', owner: OWNER, leaseUntil: LEASE, attempt: 1, startedAt: T0 + 60 }), 'the claimed task as stored');
        assert.deepEqual(await claim(store, { now: T0 + 60 }), [], 'nothing is left for a claim');
      });

      test('claims at most `limit`, within per-name concurrency across owners (promise 5); limit 0 only completes', async (t) => {
        const completeAndClaim = combined(t);
        if (completeAndClaim === null) return;
        const theirs = newTask({ name: 'hook' });
        await store.add([theirs], OTHER, LEASE);
        assert.equal((await claim(store, { owner: OTHER, names: ['hook'] })).length, 1);
        const mine = newTask({ name: 'hook' });
        await store.add([mine], OWNER, LEASE);
        assert.equal((await claim(store, { names: ['hook'] })).length, 1);
        const done = await inState(store, 'running');
        const [hook1, hook2, plain] = [newTask({ name: 'hook' }), newTask({ name: 'hook' }), newTask()];
        await store.add([hook1, hook2, plain], OWNER, LEASE);
        assert.deepEqual(await completeAndClaim([done.id], OWNER, T0 + 50, releaseClaim({ limit: 0 })), { completed: [done.id], claimed: [] }, 'limit 0 claims nothing');
        await assertTask(store, done.id, { state: 'completed' });
        const { completed, claimed } = await completeAndClaim([mine.id, theirs.id], OWNER, T0 + 50, releaseClaim({ names: ['hook', NAME], concurrency: { hook: 2 }, limit: 3 }));
        assert.deepEqual(completed, [mine.id], 'another owner\'s task is not among the completed');
        await assertTask(store, mine.id, { state: 'completed' });
        await assertTask(store, theirs.id, { state: 'running', owner: OTHER }, 'another owner\'s task is left alone');
        assert.deepEqual(idsOf(claimed).sort(), [hook1.id, plain.id].sort(), 'one hook task (theirs and it make its cap) and the other name\'s');
        await assertTask(store, hook2.id, { state: 'ready' });
      });

      test('a bad claim is refused by name, and completes nothing', async (t) => {
        const completeAndClaim = combined(t);
        if (completeAndClaim === null) return;
        const running = await inState(store, 'running');
        await assert.rejects(completeAndClaim([running.id], OWNER, T0, releaseClaim({ limit: -1 })), /complete\(\): claim: limit/);
        await assert.rejects(completeAndClaim([running.id], OWNER, T0, releaseClaim({ leaseUntil: Number.NaN })), /complete\(\): claim.leaseUntil/);
        assert.equal(await stateOf(store, running.id), 'running');
      });
    });

    describe('fail', () => {
      test('keeps each attempt\'s error: ready again at retryAt, then failed for good with every error (promise 4)', async () => {
        const task = await inState(store, 'running');
        const first = attemptError(1, T0 + 20);
        assert.equal(await store.fail(task.id, OWNER, first, T0 + 5000), true);
        await assertTask(store, task.id, { state: 'ready', runAt: T0 + 5000, owner: null, leaseUntil: null, finishedAt: null, errors: [first] });
        assert.deepEqual(await claim(store, { now: T0 + 4999 }), []);
        assert.equal((await claim(store, { now: T0 + 5000 }))[0]?.attempt, 2);
        const second = attemptError(2, T0 + 5100);
        await store.fail(task.id, OWNER, second, null);
        await assertTask(store, task.id, { state: 'failed', finishedAt: T0 + 5100, attempt: 2, payload: task.payload, errors: [first, second] });
        assert.deepEqual(await claim(store, { now: T0 + 10_000 }), [], 'a failed task is not claimed');
      });

      test('keeps the errors of the first 5 and the last 20 attempts, one entry between counting those left out: 100 failed attempts (60 by the policy, 40 more after a retry by hand) keep 26 (promise 4)', async () => {
        const task = newTask({ maxAttempts: 60 });
        await store.add([task], OWNER, LEASE);
        const failAttempts = async (count: number): Promise<void> => {
          for (let i = 0; i < count; i++) {
            const [claimed] = await claim(store, { ids: [task.id] });
            assert.ok(claimed, `attempt ${i + 1} claimed`);
            const error = { attempt: claimed.attempt, message: `failure ${claimed.attempt}`, startedAt: T0 + i, finishedAt: T0 + 1000 + i };
            assert.equal(await store.fail(claimed.id, OWNER, error, claimed.attempt < claimed.maxAttempts ? T0 : null), true);
          }
        };
        await failAttempts(60);
        assert.equal(await stateOf(store, task.id), 'failed');
        assert.equal(await store.retry(task.id, T0), true);
        await failAttempts(40);
        const { errors } = (await store.get(task.id))!;
        assert.equal(errors.length, 26);
        assert.deepEqual(errors.slice(0, 5).map(({ message }) => message), [1, 2, 3, 4, 5].map((n) => `failure ${n}`));
        assert.deepEqual(errors[5], {
          attempt: 0, omitted: 75, startedAt: null, finishedAt: T0 + 1000 + 19,
          message: 'the errors of 75 more attempts are not kept (a task keeps those of its first 5 and its last 20 attempts)',
        });
        // The last 20: attempts 21 to 40 of the retry.
        assert.deepEqual(errors.slice(6).map(({ message }) => message), Array.from({ length: 20 }, (_, i) => `failure ${i + 21}`));
      });

      test('by another owner, or of a task not running, changes nothing', async () => {
        const running = await inState(store, 'running');
        const ready = await inState(store, 'ready', { runAt: T0 + 1 });
        assert.equal(await store.fail(running.id, OTHER, attemptError(1, T0), null), false);
        assert.equal(await store.fail(ready.id, OWNER, attemptError(1, T0), null), false);
        assert.equal(await stateOf(store, running.id), 'running');
        assert.deepEqual((await store.get(ready.id))?.errors, []);
        assert.equal(await stateOf(store, ready.id), 'ready');
      });
    });

    describe('giveBack', () => {
      test('shutdown: running tasks of the owner are ready again, the attempt not counted (promise 6)', async () => {
        const [a, b] = [await inState(store, 'running'), await inState(store, 'running')];
        await store.giveBack([a.id], OWNER);
        await store.giveBack([b.id], OTHER);
        await assertTask(store, a.id, { state: 'ready', attempt: 0, owner: null, leaseUntil: null });
        assert.equal(await stateOf(store, b.id), 'running', 'another owner cannot give it back');
        const [again] = await claim(store, { owner: OTHER });
        assert.equal(again?.id, a.id);
        assert.equal(again?.attempt, 1);
      });
    });

    describe('recover', () => {
      test('a held task past its lease is ready now, its outcome unknown (null); a live hold is left alone (promises 2, 3)', async () => {
        const lapsed = newTask({ held: true, runAt: T0 + 50 });
        await store.add([lapsed], OWNER, T0 + 100);
        const live = await inState(store, 'held');
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 1, running: 0 });
        await assertTask(store, lapsed.id, { state: 'ready', runAt: T0 + 200, outcome: null, owner: null, leaseUntil: null, attempt: 0 });
        assert.equal(await stateOf(store, live.id), 'held');
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 200 })), [lapsed.id]);
      });

      test('a held task past its lease keeps its registration\'s delay: ready at the runAt it was added with when that is later than now (promise 3)', async () => {
        // Registered with delayMs 60 s; its process died during the request, long before the delay was up.
        const delayed = newTask({ held: true, runAt: T0 + 60_000 });
        await store.add([delayed], OWNER, T0 + 100);
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 1, running: 0 });
        await assertTask(store, delayed.id, { state: 'ready', runAt: T0 + 60_000, outcome: null, owner: null, leaseUntil: null, attempt: 0 });
        assert.deepEqual(await claim(store, { now: T0 + 200 }), [], 'not run before its delay');
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 60_000 })), [delayed.id]);
      });

      test('a running task past its lease counts a stalled attempt and waits its backoff (promises 3, 4)', async () => {
        const task = newTask({ backoff: { type: 'fixed', delayMs: 1000, jitter: 0 } });
        await store.add([task], OWNER, LEASE);
        await claim(store, { leaseUntil: T0 + 100 });
        const live = await inState(store, 'running');
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 0, running: 1 });
        const stored = await assertTask(store, task.id, { state: 'ready', runAt: T0 + 1200, attempt: 1, owner: null, leaseUntil: null });
        assert.equal(stored.errors.length, 1);
        const { message, ...stall } = stored.errors[0]!;
        assert.match(message, /^stalled:/);
        assert.deepEqual(stall, { attempt: 1, startedAt: T0, finishedAt: T0 + 200 });
        assert.equal(await stateOf(store, live.id), 'running');
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 0, running: 0 }, 'recovered once');
      });

      test('the stall follows the task\'s backoff: retryDelay(backoff, attempt, random)', async () => {
        const backoff = { type: 'exponential', delayMs: 1000, jitter: 0.5 } as const;
        const task = newTask({ backoff, maxAttempts: 5 });
        await store.add([task], OWNER, LEASE);
        await claim(store);
        await store.fail(task.id, OWNER, attemptError(1, T0 + 1), T0 + 2);
        await claim(store, { now: T0 + 2, leaseUntil: T0 + 100 });
        const random = (): number => 0.25;
        await store.recover(T0 + 200, random);
        const stored = await assertTask(store, task.id, { state: 'ready', runAt: T0 + 200 + retryDelay(backoff, 2, random) });
        assert.equal(stored.errors.length, 2);
      });

      test('two instances recovering at once (BullMQ\'s "process stalled jobs only once", graphile/worker\'s workers all resetting locked jobs): each stalled task and each lapsed hold is recovered once, its stall counted once', async (t) => {
        const second = await reopen(t);
        if (second === null) return;
        const running = [newTask({ maxAttempts: 3 }), newTask({ maxAttempts: 1 })];
        await store.add(running, OWNER, LEASE);
        await claim(store, { leaseUntil: T0 + 100 });
        const hold = newTask({ held: true });
        await store.add([hold], OWNER, T0 + 100);
        const both = await Promise.all([store.recover(T0 + 200, notRandom), second.recover(T0 + 200, notRandom)]);
        assert.deepEqual([both[0].held + both[1].held, both[0].running + both[1].running], [1, 2]);
        await assertTask(store, running[0]!.id, { state: 'ready', attempt: 1 });
        await assertTask(store, running[1]!.id, { state: 'failed', attempt: 1 });
        for (const { id } of running) assert.equal((await store.get(id))!.errors.length, 1, 'one stall');
        await assertTask(store, hold.id, { state: 'ready', attempt: 0 });
      });

      test('a stalled task with no attempt left is failed, the stall kept as its error (promise 4)', async () => {
        const task = newTask({ maxAttempts: 1 });
        await store.add([task], OWNER, LEASE);
        await claim(store, { leaseUntil: T0 + 100 });
        assert.deepEqual(await store.recover(T0 + 200, notRandom), { held: 0, running: 1 });
        const stored = await assertTask(store, task.id, { state: 'failed', finishedAt: T0 + 200, owner: null, leaseUntil: null });
        assert.match(stored.errors[0]!.message, /^stalled:/);
        assert.deepEqual(await claim(store, { now: T0 + 100_000 }), []);
      });
    });

    describe('queries', () => {
      test('nextRunAt: the earliest runAt of a ready task among names, or null', async () => {
        assert.equal(await store.nextRunAt([NAME]), null);
        await inState(store, 'held', { runAt: T0 - 100 });
        await inState(store, 'running', { runAt: T0 - 50 });
        await inState(store, 'ready', { runAt: T0 + 300 });
        await inState(store, 'ready', { runAt: T0 + 200 });
        await inState(store, 'ready', { runAt: T0 + 100, name: 'other' });
        assert.equal(await store.nextRunAt([NAME]), T0 + 200);
        assert.equal(await store.nextRunAt([NAME, 'other']), T0 + 100);
        assert.equal(await store.nextRunAt(['nobody']), null);
        assert.equal(await store.nextRunAt([]), null);
      });

      test('unknownNames: names of ready tasks (delayed ones too) that are not among names', async () => {
        await inState(store, 'ready', { name: 'mystery' });
        await inState(store, 'ready', { name: 'enigma', runAt: T0 + 1000 });
        await inState(store, 'ready', { name: 'mystery' });
        await inState(store, 'ready');
        await inState(store, 'held', { name: 'ghost' });
        assert.deepEqual((await store.unknownNames([NAME])).sort(), ['enigma', 'mystery']);
        assert.deepEqual(await store.unknownNames([NAME, 'mystery', 'enigma']), []);
      });

      test('stats: counts by state, delayed apart from ready, in all and per name (promise 8)', async () => {
        await inState(store, 'held');
        await inState(store, 'ready');
        await inState(store, 'ready', { name: 'other' });
        await inState(store, 'ready', { name: 'other', runAt: T0 + 1000 });
        await inState(store, 'running');
        await inState(store, 'completed', { name: 'other' });
        await inState(store, 'failed');
        const zero = { held: 0, ready: 0, delayed: 0, running: 0, completed: 0, failed: 0 };
        assert.deepEqual(await store.stats(T0), {
          held: 1, ready: 2, delayed: 1, running: 1, completed: 1, failed: 1,
          byName: {
            [NAME]: { ...zero, held: 1, ready: 1, running: 1, failed: 1 },
            other: { ...zero, ready: 1, delayed: 1, completed: 1 },
          },
        });
        assert.equal((await store.stats(T0 + 1000)).delayed, 0, 'a delayed task is ready once its time comes');
        const empty = await open();
        try {
          assert.deepEqual(await empty.store.stats(T0), { ...zero, byName: {} });
        } finally {
          await empty.close();
        }
      });

      test('list: newest first, by state and name, at most limit (default 100)', async () => {
        const a = await inState(store, 'ready');
        const b = await inState(store, 'running');
        const c = await inState(store, 'ready', { name: 'other' });
        assert.deepEqual(idsOf(await store.list({})), idsOf([c, b, a]));
        assert.deepEqual(idsOf(await store.list({ state: 'ready' })), idsOf([c, a]));
        assert.deepEqual(idsOf(await store.list({ name: NAME })), idsOf([b, a]));
        assert.deepEqual(idsOf(await store.list({ state: 'ready', name: 'other' })), idsOf([c]));
        assert.deepEqual(idsOf(await store.list({ limit: 2 })), idsOf([c, b]));
        assert.deepEqual(await store.list({ state: 'failed' }), []);
        const listed = await store.list({ state: 'running' });
        assert.deepEqual(listed, [await store.get(b.id)], 'list gives whole tasks');
        await store.add(Array.from({ length: 100 }, () => newTask()), OWNER, LEASE);
        assert.equal((await store.list({})).length, 100);
      });

      test('listPage: a page at a time, newest first across names, each task once, until next is null; a cursor is a place in the order, not a task: the tasks of the page before retried or discarded meanwhile, the next page is the same', async () => {
        const failed: NewTask[] = [];
        for (let i = 0; i < 7; i++) failed.push(await inState(store, 'failed', { name: i % 2 === 0 ? NAME : 'other' }));
        const ready = await inState(store, 'ready');
        const newestFirst = idsOf(failed).reverse();
        const pages: string[][] = [];
        let after: string | undefined;
        // Bounded: a cursor that never ends fails the case rather than hanging it.
        for (let page = 0; page < 10; page++) {
          const { tasks, next } = await store.listPage({ state: 'failed', limit: 3, ...(after !== undefined && { after }) });
          assert.ok(tasks.every((task) => task.state === 'failed'), 'failed tasks only');
          pages.push(idsOf(tasks));
          if (page === 0) {
            // What `coda tasks retry/discard --all-failed` does to a page before it asks for the next.
            assert.equal(await store.discard(tasks[0]!.id), true);
            assert.equal(await store.retry(tasks[1]!.id, T0), true);
          }
          if (next === null) break;
          assert.equal(typeof next, 'string');
          after = next;
        }
        assert.deepEqual(pages, [newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6)]);
        const whole = await store.listPage({ limit: 100 });
        assert.deepEqual([whole.tasks.length, whole.next], [7, null], 'the listing\'s last page (6 failed or retried, one ready) says there is no next');
        assert.deepEqual(idsOf(whole.tasks)[0], ready.id);
        const exact = await store.listPage({ state: 'failed', limit: 5 });
        assert.deepEqual([exact.tasks.length, exact.next], [5, null], 'a page that ends exactly with the listing has no next');
        assert.deepEqual(await store.list({ state: 'failed', limit: 2, after: (await store.listPage({ state: 'failed', limit: 2 })).next! }), (await store.listPage({ state: 'failed', limit: 4 })).tasks.slice(2), 'list() takes the cursor too');
      });

      test('list({ state: \'failed\' }) and get(): a failed task keeps its payload as journaled, the JSON text verbatim, on every store alike (JSON.parse of it is the value enqueued)', async () => {
        const value = { userId: 'u-1', tags: ['é', '☃'], n: 1.5, nested: { ok: true, none: null } };
        const task = await inState(store, 'failed', { payload: JSON.stringify(value) });
        const [listed] = await store.list({ state: 'failed' });
        assert.equal(listed?.id, task.id);
        assert.equal(listed.payload, task.payload);
        assert.equal((await store.get(task.id))?.payload, task.payload);
        assert.deepEqual(JSON.parse(listed.payload), value);
      });

      test('listPage refuses a cursor it did not give, naming it', async () => {
        await assert.rejects(store.listPage({ after: 'not-a-cursor' }), /list\(\): after "not-a-cursor" is not a cursor this store gave/);
        await assert.rejects(store.listPage({ after: '' }), /list\(\): after must be a page's next cursor/);
      });

      test('list refuses a bad filter with a message that names it', async () => {
        await assert.rejects(store.list({ limit: 0 }), /limit/);
        await assert.rejects(store.list({ limit: 1.5 }), /limit/);
        await assert.rejects(store.list({ state: 'done' as StoredTask['state'] }), /state/);
      });

      test('get: the task, or null for an unknown id', async () => {
        assert.equal(await store.get('no-such-task'), null);
        const task = await inState(store, 'ready');
        assert.equal((await store.get(task.id))?.id, task.id);
      });
    });

    describe('operations', () => {
      test('retry: a failed task is ready now, its attempts counted afresh, its errors kept (promise 8)', async () => {
        const task = newTask({ maxAttempts: 2 });
        await store.add([task], OWNER, LEASE);
        await claim(store);
        await store.fail(task.id, OWNER, attemptError(1, T0 + 1), T0 + 2);
        await claim(store, { now: T0 + 2 });
        await store.fail(task.id, OWNER, attemptError(2, T0 + 3), null);
        assert.equal(await store.retry(task.id, T0 + 9000), true);
        await assertTask(store, task.id, { state: 'ready', runAt: T0 + 9000, attempt: 0, finishedAt: null, errors: [attemptError(1, T0 + 1), attemptError(2, T0 + 3)] });
        assert.equal((await claim(store, { now: T0 + 9000 }))[0]?.attempt, 1);
      });

      test('retry: false for a task that is not failed, or unknown', async () => {
        for (const state of ['held', 'ready', 'running', 'completed'] as const) {
          const task = await inState(store, state);
          assert.equal(await store.retry(task.id, T0), false, state);
          assert.equal(await stateOf(store, task.id), state);
        }
        assert.equal(await store.retry('no-such-task', T0), false);
      });

      test('retry: false while another pending task has its key (two pending tasks never share a key)', async () => {
        const failed = await inState(store, 'failed', { key: 'k' });
        const pending = await inState(store, 'ready', { key: 'k' });
        assert.equal(await store.retry(failed.id, T0), false);
        assert.equal(await stateOf(store, failed.id), 'failed');
        assert.equal(await store.keyHolder(NAME, 'k'), pending.id, 'keyHolder names what stands in the way');
      });

      test('retry: a failed task retried keeps its key again, as any pending task (graphile/worker\'s job_key, BullMQ\'s deduplication id): a registration with it is the retried task\'s duplicate until it ends, however many retries at once', async () => {
        const failed = await inState(store, 'failed', { key: 'k' });
        // Retried twice at once (two operators): one retry, and the one that found it retried lets go of nothing.
        assert.deepEqual((await Promise.all([store.retry(failed.id, T0), store.retry(failed.id, T0)])).sort(), [false, true]);
        assert.equal(await store.keyHolder(NAME, 'k'), failed.id);
        const [added] = await store.add([newTask({ key: 'k' })], OWNER, LEASE);
        assert.deepEqual(added, { id: failed.id, duplicate: true });
        assert.deepEqual(idsOf(await claim(store)), [failed.id], 'one pending task for the key');
        await store.complete([failed.id], OWNER, T0 + 10);
        assert.equal((await store.add([newTask({ key: 'k' })], OWNER, LEASE))[0]?.duplicate, false, 'free again once it ended');
      });

      test('keyHolder: the pending task that keeps the key, or null (none, one that ended, a hold whose when may skip it)', async () => {
        const [ready, running, held] = [
          await inState(store, 'ready', { key: 'r' }), await inState(store, 'running', { key: 'u' }), await inState(store, 'held', { key: 'h' }),
        ];
        await inState(store, 'completed', { key: 'done' });
        await inState(store, 'held', { key: 'maybe', when: 'success' });
        assert.deepEqual(
          await Promise.all(['r', 'u', 'h', 'done', 'maybe', 'none'].map((key) => store.keyHolder(NAME, key))),
          [ready.id, running.id, held.id, null, null, null],
        );
      });

      test('discard: removes a task that is not running', async () => {
        for (const state of ['held', 'ready', 'completed', 'failed'] as const) {
          const task = await inState(store, state);
          assert.equal(await store.discard(task.id), true, state);
          assert.equal(await store.get(task.id), null, state);
        }
      });

      test('discard: a delayed task and one waiting for its retry (BullMQ job.remove of a delayed job, getters counting a backoff as delayed; graphile/worker removeJob): counted delayed until then, removed, never claimed, their keys free', async () => {
        const delayed = await inState(store, 'ready', { key: 'delayed', runAt: T0 + 5_000 });
        const retrying = await inState(store, 'running', { key: 'retrying' });
        assert.equal(await store.fail(retrying.id, OWNER, attemptError(1, T0 + 10), T0 + 5_000), true);
        const { ready, delayed: waiting } = await store.stats(T0 + 10);
        assert.deepEqual({ ready, delayed: waiting }, { ready: 0, delayed: 2 });
        for (const { id } of [delayed, retrying]) assert.equal(await store.discard(id), true, id);
        assert.deepEqual(idsOf(await claim(store, { now: T0 + 10_000 })), [], 'neither is claimed at its time');
        for (const key of ['delayed', 'retrying']) {
          const again = newTask({ key, runAt: T0 + 10_000 });
          assert.deepEqual(await store.add([again], OWNER, LEASE), [{ id: again.id, duplicate: false }], key);
        }
        assert.deepEqual((await store.stats(T0 + 10_000)).ready, 2);
      });

      test('discard: false for a running task (left running) or an unknown one', async () => {
        const running = await inState(store, 'running');
        assert.equal(await store.discard(running.id), false);
        assert.equal(await stateOf(store, running.id), 'running');
        assert.equal(await store.discard('no-such-task'), false);
      });

      test('prune: removes completed tasks that finished before the time, nothing else (promise 5)', async () => {
        const early = await inState(store, 'running');
        const late = await inState(store, 'running');
        await store.complete([early.id], OWNER, T0 + 10);
        await store.complete([late.id], OWNER, T0 + 20);
        const failed = await inState(store, 'failed');
        const ready = await inState(store, 'ready');
        const held = await inState(store, 'held');
        assert.equal(await store.prune(T0 + 20), 1);
        assert.equal(await store.get(early.id), null);
        for (const { id } of [late, failed, ready, held]) assert.notEqual(await store.get(id), null);
        assert.equal(await store.prune(T0 + 21), 1);
        assert.equal(await store.prune(T0 + 1_000_000), 0);
      });
    });

    describe('bad input', () => {
      test('a release without `run`, a bad claim or a bad attempt error is refused by name, and changes nothing', async () => {
        const held = await inState(store, 'held');
        const running = await inState(store, 'running');
        const noRun = { id: held.id, outcome: OUTCOME, runAt: T0 } as unknown as Parameters<TaskStore['release']>[0][number];
        await assert.rejects(store.release([noRun], OWNER), /run must be true or false/);
        assert.equal(await stateOf(store, held.id), 'held', 'a release without run removed the task');
        const release = [{ id: held.id, outcome: OUTCOME, run: true, runAt: T0 }];
        await assert.rejects(store.release(release, OWNER, releaseClaim({ limit: -1 })), /release\(\): claim: limit/);
        await assert.rejects(store.release(release, OWNER, releaseClaim({ leaseUntil: Number.NaN })), /release\(\): claim.leaseUntil/);
        assert.equal(await stateOf(store, held.id), 'held', 'a release with a bad claim released the task');
        await assert.rejects(claim(store, { limit: -1 }), /limit/);
        await assert.rejects(claim(store, { limit: 1.5 }), /limit/);
        await assert.rejects(claim(store, { concurrency: { [NAME]: Number.NaN } }), /concurrency\["send-welcome"\]/);
        await assert.rejects(store.fail(running.id, OWNER, { ...attemptError(1, T0), finishedAt: Number.NaN }, null), /finishedAt/);
        await assert.rejects(store.fail(running.id, OWNER, attemptError(1, T0), Number.POSITIVE_INFINITY), /retryAt/);
        await assertTask(store, running.id, { state: 'running', errors: [] });
        assert.deepEqual(await claim(store, { limit: 0 }), [], 'limit 0 claims nothing');
      });
    });

    describe('durability', () => {
      test('closed and opened again, the store keeps every task as it was (promise 3)', async (t) => {
        if (opened.reopen === undefined) return t.skip('this store cannot be opened again');
        for (const state of ['held', 'ready', 'running', 'completed', 'failed'] as const) await inState(store, state, { key: state });
        await store.release([{ id: (await store.list({ state: 'held' }))[0]!.id, outcome: OUTCOME, run: true, runAt: T0 + 1 }], OWNER);
        await inState(store, 'held');
        const tasks = await store.list({});
        const stats = await store.stats(T0);
        await store.close();
        await store.close();
        const again = await reopen(t);
        assert.deepEqual(await again!.list({}), tasks);
        assert.deepEqual(await again!.stats(T0), stats);
        assert.deepEqual(await again!.add([newTask({ key: 'ready' })], OTHER, LEASE), [{ id: tasks.find(({ key }) => key === 'ready')!.id, duplicate: true }]);
      });
    });
  });
}
