// 1. Echo: text throughput and round trips through heartline (sending Rust text, and one
// JavaScript string), a bare web-sys client, the three JS clients and an A/A control, in
// Chromium and Firefox, in interleaved rounds; each browser's ratios are to its own raw WebSocket.
import { fmt, interleaved, interleavedChunks, median, quantile, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';
import { burstsOnOneConnection } from '../lib/bursts.mjs';
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
// heartline sending one JavaScript string, as the JS clients do (`Outgoing::JsText`); the
// `heartline` row sends a Rust `&str`, made into a new JavaScript string at every send.
const JS_TEXT = 'heartlineJs';
// A bare web-sys `WebSocket` from Rust (no library), sending one JavaScript string: what any
// Rust client pays at least (the page's calls into and out of wasm), to tell that from
// heartline's own cost.
const WEB_SYS = 'webSys';
const ROWS = [PEERS[0], JS_TEXT, WEB_SYS, ...PEERS.slice(1), AGAIN];
// Rows with no round-trip run of their own (their text is made per trip as heartline's is).
const NO_TRIPS = [JS_TEXT, WEB_SYS];
const NAMES = {
  ...PEER_NAMES,
  heartline: 'heartline (Rust/wasm), a Rust `&str` each send',
  [JS_TEXT]: 'heartline (Rust/wasm), one JavaScript string (`Outgoing::JsText`)',
  [WEB_SYS]: 'web-sys `WebSocket` from Rust, no library, one JavaScript string: the floor of a Rust client',
  [AGAIN]: 'raw WebSocket (JS) again: the A/A control',
};

async function rounds(ctx, browserName) {
  const browser = await ctx.browser(browserName);
  const url = `${ctx.ws}/echo`;
  const peerOf = (row) => (row === AGAIN ? 'raw' : row);
  const seed = ctx.seed + (browserName === 'firefox' ? 12 : 11);
  ctx.log(`echo in ${browser.name}`);
  const bursts = burstsOnOneConnection(browser, ROWS, {
    url,
    parts: PARTS,
    peerOf,
    burst: (handle) => browser.eval(([h, n]) => window.bench.textBurst(h, n, 64), [handle, FRAMES / PARTS]),
  });
  const ms = await interleavedChunks(bursts, { chunks: PARTS, rounds: ctx.rounds, warmup: ctx.warmup, seed, log: ctx.log });
  const trips = Object.fromEntries(ROWS.filter((row) => !NO_TRIPS.includes(row)).map((row) => [row, async () => {
    const times = await browser.eval(([p, u]) => window.bench.roundTrips(p, u, 1_000), [peerOf(row), url]);
    return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
  }]));
  const rtt = await interleaved(trips, { rounds: ctx.rounds, warmup: ctx.warmup, seed: seed + 100, log: ctx.log });
  return Object.fromEntries(ROWS.map((row) => [row, ms[row].map((total, i) => ({ rate: FRAMES / (total / 1000), ...rtt[row]?.[i] }))]));
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
      rtt: NO_TRIPS.includes(peer) ? '—' : `${fmt(median(runs[peer].map((r) => r.p50)))} / ${fmt(median(runs[peer].map((r) => r.p99)))}`,
    };
  };
  const rows = ROWS.map((peer) => {
    const [c, f] = browsers.map((name) => stats(name, peer));
    return `| ${NAMES[peer]} | ${fmt(c.rate)} | ${ratio(c.ratio)} | ${c.rtt} | ${fmt(f.rate)} | ${ratio(f.ratio)} | ${f.rtt} |`;
  });
  // Both of heartline's rows, the JavaScript string's first: it sends what the JS clients send.
  const judged = [[JS_TEXT, 'one JavaScript string'], ['heartline', 'a Rust `&str` each send']];
  const targets = judged.flatMap(([row, how]) => browsers.map((name) => {
    const { ratio: r } = stats(name, row);
    const browser = name === 'chromium' ? 'Chromium' : 'Firefox';
    return { what: `text echo, heartline sending ${how} / raw JS (${browser})`, target: `≥ ${TARGET}×`, measured: ratio(r), verdict: verdict(r, TARGET) };
  }));
  return {
    table: `| client | Chromium frames/s | Chromium ratio to raw [95 % CI] | Chromium RTT p50 / p99 ms | Firefox frames/s | Firefox ratio to raw [95 % CI] | Firefox RTT p50 / p99 ms |
|---|---|---|---|---|---|---|
${rows.join('\n')}`,
    notes: `Each round sends every client's ${FRAMES.toLocaleString('en')} frames as ${PARTS} pipelined bursts of ${FRAMES / PARTS} (timed from the first send to the last echo, on one connection per client and round, opened and closed outside the timed bursts), the clients' bursts taking turns (burst k runs the round's order rotated by k); frames/s is ${FRAMES.toLocaleString('en')} over the sum of a client's ${PARTS} bursts, so it includes each burst's start and end (lower than one run of ${FRAMES.toLocaleString('en')} gives). The 1,000 round trips run once per client per round, in interleaved rounds of their own (not for the rows sending one JavaScript string: a round trip's text is made per trip). Frames/s and RTT: medians over the ${ctx.rounds} kept rounds. Ratio: median of the per-round ratios to that browser's raw \`WebSocket\`, with its 95 % bootstrap interval. The A/A control is the raw \`WebSocket\` run a second time in each round (its own place in the round's order): its interval is how wide this method's intervals are when nothing differs.`,
    targets,
  };
}
