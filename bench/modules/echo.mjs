// 1. Echo: text throughput and round trips through the four clients (and an A/A control), in
// Chromium and Firefox, in interleaved rounds; each browser's ratios are to its own raw WebSocket.
import { fmt, interleaved, median, quantile, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';
import { PEERS, PEER_NAMES } from '../lib/peers.mjs';

export const title = 'Echo: 20,000 × 64 B text frames pipelined; 1,000 sequential round trips';
const FRAMES = 20_000;
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
  const contenders = Object.fromEntries(ROWS.map((row) => [row, async () => {
    const peer = row === AGAIN ? 'raw' : row;
    const ms = await browser.eval(([p, u, n]) => window.bench.textThroughput(p, u, n, 64), [peer, url, FRAMES]);
    const times = await browser.eval(([p, u]) => window.bench.roundTrips(p, u, 1_000), [peer, url]);
    return { rate: FRAMES / (ms / 1000), p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
  }]));
  ctx.log(`echo in ${browser.name}`);
  return interleaved(contenders, { rounds: ctx.rounds, warmup: ctx.warmup, seed: ctx.seed + (browserName === 'firefox' ? 12 : 11), log: ctx.log });
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
    notes: `Frames/s and RTT: medians over the ${ctx.rounds} kept rounds. Ratio: median of the per-round ratios to that browser's raw \`WebSocket\`, with its 95 % bootstrap interval. The A/A control is the raw \`WebSocket\` run a second time in each round (its own place in the round's order): its interval is how wide this method's intervals are when nothing differs.`,
    targets,
  };
}
