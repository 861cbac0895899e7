// 2. Binary: 256 KiB ArrayBuffer echoes through the four clients, in interleaved rounds.
import { fmt, interleaved, median, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';
import { PEERS, PEER_NAMES } from '../lib/peers.mjs';

export const title = 'Binary: 200 × 256 KiB ArrayBuffer echoes (Chromium)';
const COUNT = 200;
const BYTES = 256 * 1024;
const TARGET = 0.95;

export async function run(ctx) {
  const browser = await ctx.browser('chromium');
  const url = `${ctx.ws}/echo`;
  const contenders = Object.fromEntries(PEERS.map((peer) => [peer, async () => {
    const ms = await browser.eval(([p, u, n, b]) => window.bench.binary(p, u, n, b), [peer, url, COUNT, BYTES]);
    return (COUNT * BYTES) / 1e6 / (ms / 1000);
  }]));
  const runs = await interleaved(contenders, { rounds: ctx.rounds, warmup: ctx.warmup, seed: ctx.seed + 13, log: ctx.log });
  const ratios = Object.fromEntries(PEERS.map((peer) => [peer, ratioToBaseline(runs[peer], runs.raw)]));
  return {
    table: `| client | MB/s | ratio to raw [95 % CI] |
|---|---|---|
${PEERS.map((peer) => `| ${PEER_NAMES[peer]} | ${fmt(median(runs[peer]))} | ${ratio(ratios[peer])} |`).join('\n')}`,
    notes: `MB/s: median over the ${ctx.rounds} kept rounds. Ratio: median of the per-round ratios to the raw \`WebSocket\`, with its 95 % bootstrap interval.`,
    targets: [{ what: 'binary echo, heartline / raw JS (Chromium)', target: `≥ ${TARGET}×`, measured: ratio(ratios.heartline), verdict: verdict(ratios.heartline, TARGET) }],
  };
}
