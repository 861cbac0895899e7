// 1. Echo: text throughput and round trips through the four clients, in Chromium and Firefox,
// in interleaved rounds; each browser's ratios are to its own raw WebSocket.
import { fmt, interleaved, median, quantile, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';
import { PEERS, PEER_NAMES } from '../lib/peers.mjs';

export const title = 'Echo: 20,000 × 64 B text frames pipelined; 1,000 sequential round trips';
const FRAMES = 20_000;
const TARGET = 0.97;

async function rounds(ctx, browserName) {
  const browser = await ctx.browser(browserName);
  const url = `${ctx.ws}/echo`;
  const contenders = Object.fromEntries(PEERS.map((peer) => [peer, async () => {
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
  const rows = PEERS.map((peer) => {
    const [c, f] = browsers.map((name) => stats(name, peer));
    return `| ${PEER_NAMES[peer]} | ${fmt(c.rate)} | ${ratio(c.ratio)} | ${fmt(c.p50)} / ${fmt(c.p99)} | ${fmt(f.rate)} | ${ratio(f.ratio)} | ${fmt(f.p50)} / ${fmt(f.p99)} |`;
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
    notes: `Frames/s and RTT: medians over the ${ctx.rounds} kept rounds. Ratio: median of the per-round ratios to that browser's raw \`WebSocket\`, with its 95 % bootstrap interval.`,
    targets,
  };
}
