// Statistics for interleaved rounds: medians, per-round ratios and a bootstrap interval.

export const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * q)];

// A small seeded generator (mulberry32), so a report's intervals can be recomputed exactly.
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle(items, next) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The median of `xs` and its 95 % percentile-bootstrap interval (10,000 resamples). */
export function medianInterval(xs, { resamples = 10_000, seed = 1 } = {}) {
  const next = random(seed);
  const medians = new Float64Array(resamples);
  const sample = new Array(xs.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < xs.length; i++) sample[i] = xs[Math.floor(next() * xs.length)];
    medians[r] = median(sample);
  }
  medians.sort();
  return { median: median(xs), low: medians[Math.floor(resamples * 0.025)], high: medians[Math.ceil(resamples * 0.975) - 1] };
}

/**
 * The order of each of `count` rounds: balanced, so that in every block of as many rounds as
 * there are names each name runs once in each position (a shuffled order, rotated round by
 * round), and a position's own effect (the first run after a pause, the last before the next
 * round) falls on every name alike; the blocks' orders are shuffled by `next`.
 */
export function balancedOrders(names, count, next) {
  const orders = [];
  let base = names;
  for (let round = 0; round < count; round++) {
    const turn = round % names.length;
    if (turn === 0) base = shuffle(names, next);
    orders.push(base.map((_, i) => base[(i + turn) % base.length]));
  }
  return orders;
}

/**
 * Runs `rounds` + `warmup` rounds in balanced orders ({@link balancedOrders}, the warm-up first,
 * shuffled); `runRound(order)` runs one and resolves with { [name]: value }. The warm-up rounds
 * are discarded. Returns { [name]: [value per kept round] }.
 */
async function inRounds(names, { rounds, warmup = 1, seed = 7, log = () => {} }, runRound, what = (order) => order.join(', ')) {
  const next = random(seed);
  const results = Object.fromEntries(names.map((name) => [name, []]));
  const orders = [...Array.from({ length: warmup }, () => shuffle(names, next)), ...balancedOrders(names, rounds, next)];
  for (let round = 0; round < warmup + rounds; round++) {
    const values = await runRound(orders[round]);
    if (round >= warmup) for (const name of names) results[name].push(values[name]);
    log(`round ${round + 1}/${warmup + rounds}${round < warmup ? ' (warm-up, discarded)' : ''}: ${what(orders[round])}`);
  }
  return results;
}

/**
 * Runs `rounds` + `warmup` rounds; each round runs every contender once, in a balanced order
 * ({@link balancedOrders}, the warm-up first), and records what its `measure` resolves with.
 * The warm-up rounds are discarded. Returns { [name]: [value per kept round] } (values may be
 * objects).
 */
export function interleaved(contenders, options) {
  return inRounds(Object.keys(contenders), options, async (order) => {
    const values = {};
    for (const name of order) values[name] = await contenders[name]();
    return values;
  });
}

/**
 * Like {@link interleaved}, but each contender's run in a round is split into `chunks` parts that
 * take turns with the other contenders' parts: part k of the round runs the round's order
 * rotated by k. A swing of the machine shorter than a round (on these 2-core machines one
 * client's whole run was up to a quarter slower or faster than the next one's, with nothing
 * different) then falls on every contender alike.
 * `contenders` map a name to `measure(part)`, which resolves with a number (ms); a contender's
 * value for a round is the sum of its parts. Returns { [name]: [sum per kept round] }.
 */
export function interleavedChunks(contenders, { chunks, ...options }) {
  const names = Object.keys(contenders);
  return inRounds(names, options, async (order) => {
    const sums = Object.fromEntries(names.map((name) => [name, 0]));
    for (let part = 0; part < chunks; part++) {
      for (let i = 0; i < order.length; i++) {
        const name = order[(i + part) % order.length];
        sums[name] += await contenders[name](part);
      }
    }
    return sums;
  }, (order) => `${chunks} parts each, first order ${order.join(', ')}`);
}

/** Per-round ratios of `values` to `baseline` (same rounds), their median and 95 % interval. */
export function ratioToBaseline(values, baseline, seed = 1) {
  const ratios = values.map((value, i) => value / baseline[i]);
  return { ratios, ...medianInterval(ratios, { seed }) };
}

/** Met only when the whole interval is at or above the target (or at or below, for `atMost`). */
export function verdict({ low, high }, target, { atMost = false } = {}) {
  if (atMost) return high <= target ? 'met' : low > target ? 'not met' : 'not shown (interval spans the target)';
  return low >= target ? 'met' : high < target ? 'not met' : 'not shown (interval spans the target)';
}

export const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
export const ratio = ({ median: m, low, high }) => `${m.toFixed(3)}× [${low.toFixed(3)}–${high.toFixed(3)}]`;
