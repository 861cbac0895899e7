// The benchmark's statistics (run by the lint stage of scripts/test.sh: `node --test`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balancedOrders, interleaved, interleavedChunks, median, medianInterval, random, ratioToBaseline, verdict } from './stats.mjs';

test('the median of an odd count is the middle value, of an even count the mean of the two', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('a bootstrap interval holds the median, and the same seed gives the same interval', () => {
  const next = random(3);
  const xs = Array.from({ length: 40 }, () => 0.9 + next() * 0.2);
  const a = medianInterval(xs, { seed: 5 });
  assert.ok(a.low <= a.median && a.median <= a.high, JSON.stringify(a));
  // 40 draws spread over 0.2: the median's interval is about 0.06 wide.
  assert.ok(a.high - a.low > 0 && a.high - a.low < 0.1, `about 0.06 wide: ${JSON.stringify(a)}`);
  assert.deepEqual(medianInterval(xs, { seed: 5 }), a);
});

test('ratios pair the same rounds', () => {
  const { ratios, median: m } = ratioToBaseline([2, 3, 8], [4, 3, 4]);
  assert.deepEqual(ratios, [0.5, 1, 2]);
  assert.equal(m, 1);
});

test('a target is met only when the whole interval is past it', () => {
  assert.equal(verdict({ low: 0.97, high: 1.02 }, 0.97), 'met');
  assert.equal(verdict({ low: 0.891, high: 0.971 }, 0.97), 'not shown (interval spans the target)');
  assert.equal(verdict({ low: 0.9, high: 0.969 }, 0.97), 'not met');
  assert.equal(verdict({ low: 10, high: 20 }, 20, { atMost: true }), 'met');
  assert.equal(verdict({ low: 21, high: 30 }, 20, { atMost: true }), 'not met');
});

test('balanced orders put every name once in each position in each block', () => {
  const names = ['raw', 'heartline', 'rws', 'vueuse'];
  const orders = balancedOrders(names, 40, random(11));
  assert.equal(orders.length, 40);
  for (const order of orders) assert.deepEqual([...order].sort(), [...names].sort());
  for (let block = 0; block < 40; block += names.length) {
    for (let position = 0; position < names.length; position++) {
      const there = orders.slice(block, block + names.length).map((order) => order[position]);
      assert.deepEqual([...there].sort(), [...names].sort(), `block ${block}, position ${position}`);
    }
  }
});

test('interleaved rounds run every contender once a round and discard the warm-up', async () => {
  const runs = { a: 0, b: 0 };
  const results = await interleaved(
    { a: async () => ++runs.a, b: async () => ++runs.b },
    { rounds: 15, warmup: 1, seed: 2 },
  );
  assert.deepEqual(runs, { a: 16, b: 16 });
  assert.deepEqual(results.a, Array.from({ length: 15 }, (_, i) => i + 2), 'the first run is the discarded warm-up');
  assert.equal(results.b.length, 15);
});

test('bursts in turn: a round sums each contender\'s parts, and every contender takes every place', async () => {
  const calls = [];
  const measure = (name, ms) => async (part) => {
    calls.push([name, part]);
    return ms;
  };
  const results = await interleavedChunks(
    { a: measure('a', 1), b: measure('b', 10), c: measure('c', 100) },
    { chunks: 3, rounds: 15, warmup: 1, seed: 4 },
  );
  assert.deepEqual(results, { a: Array(15).fill(3), b: Array(15).fill(30), c: Array(15).fill(300) });
  assert.equal(calls.length, 16 * 3 * 3);
  // Within a round the parts go in order for each contender, and part k's turn is the round's
  // order rotated by k: each contender is first once.
  for (let round = 0; round < 16; round++) {
    const turns = calls.slice(round * 9, round * 9 + 9);
    for (const name of ['a', 'b', 'c']) {
      assert.deepEqual(turns.filter(([n]) => n === name).map(([, part]) => part), [0, 1, 2]);
    }
    assert.deepEqual(new Set([0, 3, 6].map((i) => turns[i][0])), new Set(['a', 'b', 'c']));
  }
});
