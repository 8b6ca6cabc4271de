import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkKeys, checkMs, closest } from '../../src/util/options.js';

test('closest(): the same name in snake_case or another case, else the nearest within a typo, else none', () => {
  const hooks = ['processRequest', 'processView', 'processException', 'processResponse', 'afterResponse'];
  assert.equal(closest('process_request', hooks), 'processRequest');
  assert.equal(closest('PROCESSVIEW', hooks), 'processView');
  assert.equal(closest('procesResponse', hooks), 'processResponse');
  assert.equal(closest('teardown', hooks), undefined);
  assert.equal(closest('route', ['routes', 'middleware']), 'routes');
});

test('checkKeys() names an unknown key and the option meant, or lists the options; a non-object is refused naming what it is', () => {
  assert.throws(() => checkKeys('createApp()', { route: [] }, ['routes', 'middleware']), {
    name: 'TypeError', message: 'createApp(): unknown option "route"; did you mean "routes"?',
  });
  assert.throws(() => checkKeys('cors()', { wildly: true }, ['origins', 'credentials']), {
    message: 'cors(): unknown option "wildly"; the options are origins, credentials',
  });
  assert.throws(() => checkKeys('cors()', [], ['origins']), { message: 'cors() takes an options object, got an instance of Array' });
  checkKeys('cors()', { origins: '*' }, ['origins']);
});

test("checkMs() takes a duration Node's timers can wait out, and zero only when allowed", () => {
  assert.equal(checkMs('timeoutMs', 1_000), 1_000);
  assert.equal(checkMs('delayMs', 0, { zero: true }), 0);
  assert.throws(() => checkMs('timeoutMs', 0), { name: 'RangeError', message: /^timeoutMs must be a positive number of milliseconds, at most 2147483647, got number 0$/ });
  assert.throws(() => checkMs('timeoutMs', 2 ** 31), { name: 'RangeError' });
  assert.throws(() => checkMs('timeoutMs', Number.NaN), { message: /got number NaN$/ });
});
