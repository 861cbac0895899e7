// 1. Echo: text throughput and round trips through the four clients (and an A/A control), in
// Chromium and Firefox, in interleaved rounds; each browser's ratios are to its own raw WebSocket.
import { fmt, interleaved, interleavedChunks, median, quantile, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';
import { PEERS, PEER_NAMES } from '../lib/peers.mjs';

export const title = 'Echo: 20,000 × 64 B text frames pipelined; 1,000 sequential round trips';
const FRAMES = 20_000;
// A client's 20,000 frames in a round go as 40 bursts of 500 that take turns with the other
// clients' bursts: with whole runs (2 s each in Chromium), raw JS against itself gave per-round
// ratios from 0.75 to 1.29 from the machine alone, and 0.91 to 1.08 with bursts in turn (a
// 16-round trial); the A/A interval went from 0.094 to 0.037 wide in Chromium, 0.129 to 0.024
// in Firefox (BENCHMARKS.md's runs, 40 rounds whole against 30 in bursts).
const PARTS = 40;
if (FRAMES % PARTS) throw new Error('PARTS must divide FRAMES');
const TARGET = 0.97;

// The raw `WebSocket` runs twice in every round, each run in its own place in the round's order:
// the ratio of one to the other (an A/A comparison) shows how far this method's intervals reach
// when nothing differs, so how close to a target a client's true ratio must be before a run can
// show it met.
const AGAIN = 'rawAgain';
const ROWS = [...PEERS, AGAIN];
const NAMES = { ...PEER_NAMES, [AGAIN]: 'raw WebSocket (JS) again: the A/A control' };

async function rounds(ctx, browserName) {
  const browser = await ctx.browser(browserName);
  const url = `${ctx.ws}/echo`;
  const peerOf = (row) => (row === AGAIN ? 'raw' : row);
  const seed = ctx.seed + (browserName === 'firefox' ? 12 : 11);
  ctx.log(`echo in ${browser.name}`);
  // One connection per client and round, opened before its first burst and closed (the
  // handshake awaited) after its last, outside every timed burst.
  const handles = {};
  const bursts = Object.fromEntries(ROWS.map((row) => [row, async (part) => {
    if (part === 0) handles[row] = await browser.eval(([p, u]) => window.bench.openBursts(p, u), [peerOf(row), url]);
    const ms = await browser.eval(([h, n]) => window.bench.textBurst(h, n, 64), [handles[row], FRAMES / PARTS]);
    if (part === PARTS - 1) await browser.eval((h) => window.bench.closeBursts(h), handles[row]);
    return ms;
  }]));
  const ms = await interleavedChunks(bursts, { chunks: PARTS, rounds: ctx.rounds, warmup: ctx.warmup, seed, log: ctx.log });
  const trips = Object.fromEntries(ROWS.map((row) => [row, async () => {
    const times = await browser.eval(([p, u]) => window.bench.roundTrips(p, u, 1_000), [peerOf(row), url]);
    return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
  }]));
  const rtt = await interleaved(trips, { rounds: ctx.rounds, warmup: ctx.warmup, seed: seed + 100, log: ctx.log });
  return Object.fromEntries(ROWS.map((row) => [row, ms[row].map((total, i) => ({ rate: FRAMES / (total / 1000), ...rtt[row][i] }))]));
}

export async function run(ctx) {
  const browsers = ['chromium', 'firefox'];
  const results = {};
  for (const name of browsers) results[name] = await rounds(ctx, name);
  const stats = (name, peer) => {
    const runs = results[name];
    const rates = runs[peer].map((r) => r.rate);
    return {
      rate: median(rates),
      ratio: ratioToBaseline(rates, runs.raw.map((r) => r.rate)),
      p50: median(runs[peer].map((r) => r.p50)),
      p99: median(runs[peer].map((r) => r.p99)),
    };
  };
  const rows = ROWS.map((peer) => {
    const [c, f] = browsers.map((name) => stats(name, peer));
    return `| ${NAMES[peer]} | ${fmt(c.rate)} | ${ratio(c.ratio)} | ${fmt(c.p50)} / ${fmt(c.p99)} | ${fmt(f.rate)} | ${ratio(f.ratio)} | ${fmt(f.p50)} / ${fmt(f.p99)} |`;
  });
  const targets = browsers.map((name) => {
    const { ratio: r } = stats(name, 'heartline');
    const browser = name === 'chromium' ? 'Chromium' : 'Firefox';
    return { what: `text echo, heartline / raw JS (${browser})`, target: `≥ ${TARGET}×`, measured: ratio(r), verdict: verdict(r, TARGET) };
  });
  return {
    table: `| client | Chromium frames/s | Chromium ratio to raw [95 % CI] | Chromium RTT p50 / p99 ms | Firefox frames/s | Firefox ratio to raw [95 % CI] | Firefox RTT p50 / p99 ms |
|---|---|---|---|---|---|---|
${rows.join('\n')}`,
    notes: `Each round sends every client's ${FRAMES.toLocaleString('en')} frames as ${PARTS} pipelined bursts of ${FRAMES / PARTS} (timed from the first send to the last echo, on one connection per client and round, opened and closed outside the timed bursts), the clients' bursts taking turns (burst k runs the round's order rotated by k); frames/s is ${FRAMES.toLocaleString('en')} over the sum of a client's ${PARTS} bursts, so it includes each burst's start and end (lower than one run of ${FRAMES.toLocaleString('en')} gives). The 1,000 round trips run once per client per round, in interleaved rounds of their own. Frames/s and RTT: medians over the ${ctx.rounds} kept rounds. Ratio: median of the per-round ratios to that browser's raw \`WebSocket\`, with its 95 % bootstrap interval. The A/A control is the raw \`WebSocket\` run a second time in each round (its own place in the round's order): its interval is how wide this method's intervals are when nothing differs.`,
    targets,
  };
}
