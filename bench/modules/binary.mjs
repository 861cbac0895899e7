// 2. Binary: 256 KiB ArrayBuffer echoes through the four clients, in interleaved rounds.
import { fmt, interleavedChunks, median, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';
import { burstsOnOneConnection } from '../lib/bursts.mjs';
import { PEERS, PEER_NAMES } from '../lib/peers.mjs';

export const title = 'Binary: 200 × 256 KiB ArrayBuffer echoes (Chromium)';
const COUNT = 200;
const BYTES = 256 * 1024;
const TARGET = 0.95;
// As in the echo benchmark: a client's 200 echoes in a round go as bursts that take turns with
// the other clients' bursts, so a swing of the machine falls on all of them alike; a multiple
// of the 4 clients, so each takes each place in the turns equally often within a round.
const PARTS = 8;
if (COUNT % PARTS) throw new Error('PARTS must divide COUNT');

export async function run(ctx) {
  const browser = await ctx.browser('chromium');
  const url = `${ctx.ws}/echo`;
  const bursts = burstsOnOneConnection(browser, PEERS, {
    url,
    parts: PARTS,
    burst: (handle) => browser.eval(([h, n, b]) => window.bench.binaryBurst(h, n, b), [handle, COUNT / PARTS, BYTES]),
  });
  const ms = await interleavedChunks(bursts, { chunks: PARTS, rounds: ctx.rounds, warmup: ctx.warmup, seed: ctx.seed + 13, log: ctx.log });
  const runs = Object.fromEntries(PEERS.map((peer) => [peer, ms[peer].map((total) => (COUNT * BYTES) / 1e6 / (total / 1000))]));
  const ratios = Object.fromEntries(PEERS.map((peer) => [peer, ratioToBaseline(runs[peer], runs.raw)]));
  return {
    table: `| client | MB/s | ratio to raw [95 % CI] |
|---|---|---|
${PEERS.map((peer) => `| ${PEER_NAMES[peer]} | ${fmt(median(runs[peer]))} | ${ratio(ratios[peer])} |`).join('\n')}`,
    notes: `Each round sends every client's ${COUNT} echoes as ${PARTS} pipelined bursts of ${COUNT / PARTS} on one connection per client and round, the clients' bursts taking turns (as in the echo benchmark); MB/s is over the sum of a client's bursts. MB/s: median over the ${ctx.rounds} kept rounds. Ratio: median of the per-round ratios to the raw \`WebSocket\`, with its 95 % bootstrap interval.`,
    targets: [{ what: 'binary echo, heartline / raw JS (Chromium)', target: `≥ ${TARGET}×`, measured: ratio(ratios.heartline), verdict: verdict(ratios.heartline, TARGET) }],
  };
}
