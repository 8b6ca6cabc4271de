import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowedHistogram } from '../../src/dashboard/histogram.js';

test('a windowed histogram reads counts, rates and quantiles (within its 15% buckets) over the slots of a window, and forgets a slot once time has moved past it', () => {
  const histogram = new WindowedHistogram(1_000, 10);
  // 100 durations of 1 to 100 ms in the slot of t = 0 s, and 10 counted without a duration (NaN) at t = 1.5 s.
  for (let ms = 1; ms <= 100; ms++) histogram.record(ms, 500);
  for (let i = 0; i < 10; i++) histogram.record(Number.NaN, 1_500);
  assert.equal(histogram.count(1_500, 2_000), 110);
  assert.equal(histogram.count(1_500, 1_000), 10, 'a one-second window holds the newest slot only');
  assert.equal(histogram.rate(1_500, 2_000), 55);
  const p95 = histogram.quantile(0.95, 1_500, 2_000)!;
  assert.ok(p95 >= 95 && p95 <= 95 * 1.15, `p95 ${p95} is the upper bound of 95 ms's bucket`);
  assert.equal(histogram.quantile(0.5, 1_500, 1_000), null, 'durations-less counts give no quantile');
  // Ten seconds on, the slot of t = 1 s is reused, and that of t = 0 s is out of the window: neither is summed in.
  histogram.record(7, 11_500);
  assert.equal(histogram.count(11_500, 10_000), 1);
  const p50 = histogram.quantile(0.5, 11_500, 10_000)!;
  assert.ok(p50 >= 7 && p50 <= 7 * 1.15, `p50 ${p50} is the upper bound of 7 ms's bucket`);
});
