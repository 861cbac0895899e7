// 11. Send cost: the synchronous loop of 20,000 text sends alone, in Chromium and Firefox, in
// interleaved rounds. It splits what a Rust client's send costs the page beyond raw JS: the call
// from wasm, the Rust string made into a JavaScript string (every Rust client pays it), and
// heartline's own bookkeeping. No target: it explains the text echo's ratio (section 1).
import { fmt, interleaved, median, ratio, ratioToBaseline } from '../lib/stats.mjs';

export const title = 'Send cost: 20,000 × 64 B text sends, the synchronous loop alone';
const FRAMES = 20_000;
const ROWS = ['raw', 'webSysJs', 'webSysStr', 'heartline', 'heartlineJs'];
const NAMES = {
  raw: 'raw WebSocket (JS)',
  webSysJs: 'web-sys WebSocket from Rust, one JavaScript string made before the loop',
  webSysStr: 'web-sys WebSocket from Rust, a Rust `&str` each send (decoded by the glue)',
  heartline: 'heartline `send_text(&str)`',
  heartlineJs: 'heartline `send(Outgoing::JsText)`, one JavaScript string made before the loop',
};

async function rounds(ctx, browserName) {
  const browser = await ctx.browser(browserName);
  const url = `${ctx.ws}/echo`;
  const contenders = Object.fromEntries(ROWS.map((row) => [row, () =>
    browser.eval(([p, u, n]) => window.bench.sendLoop(p, u, n, 64), [row, url, FRAMES])]));
  ctx.log(`send cost in ${browser.name}`);
  return interleaved(contenders, { rounds: ctx.rounds, warmup: ctx.warmup, seed: ctx.seed + (browserName === 'firefox' ? 32 : 31), log: ctx.log });
}

export async function run(ctx) {
  const browsers = ['chromium', 'firefox'];
  const results = {};
  for (const name of browsers) results[name] = await rounds(ctx, name);
  const cell = (name, row) => {
    const ms = results[name][row];
    const perSend = (median(ms) * 1000) / FRAMES;
    return `${fmt(perSend)} | ${ratio(ratioToBaseline(ms, results[name].raw))}`;
  };
  const rows = ROWS.map((row) => `| ${NAMES[row]} | ${cell('chromium', row)} | ${cell('firefox', row)} |`);
  return {
    table: `| send | Chromium µs per send | Chromium time × raw JS [95 % CI] | Firefox µs per send | Firefox time × raw JS [95 % CI] |
|---|---|---|---|---|
${rows.join('\n')}`,
    notes: `µs per send: the median loop time over the ${ctx.rounds} kept rounds, divided by the sends. Time × raw JS: median of the per-round ratios of loop times (above 1 is slower), with its 95 % bootstrap interval. The first four rows add one step each: the call from wasm, the string made from Rust's bytes, heartline's own bookkeeping (the machine's send, the copy it keeps until the browser has sent the frame); the last is heartline's bookkeeping on a JavaScript string (\`Outgoing::JsText\`), to compare with the second row. Every row's connection is opened before its loop and closed (the close awaited) after its echoes.`,
  };
}
