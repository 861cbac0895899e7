// 3. Failure detection and reconnect through heartline: against a silent server, and a dropped
// connection's reconnect beyond its scheduled backoff.
import { fmt, median } from '../lib/stats.mjs';

export const title = 'Failure detection (heartline, Chromium; interval 1,000 ms + pong timeout 1,000 ms)';
const RUNS = 5;

export async function run(ctx) {
  const browser = await ctx.browser('chromium');
  const detect = [];
  const reconnect = [];
  for (let run = 0; run < RUNS; run++) {
    const key = `bench-silent-${Date.now()}-${run}`;
    detect.push(await browser.eval((u) => window.bench.detection(u, 1000, 1000), `${ctx.ws}/test/ws?key=${key}&mode=silent`));
    const dropKey = `bench-drop-${Date.now()}-${run}`;
    const [scheduled, actual] = await browser.eval((u) => window.bench.reconnect(u), `${ctx.ws}/test/ws?key=${dropKey}&mode=drop&after_ms=100&then=echo`);
    reconnect.push(actual - scheduled);
  }
  const cell = (xs) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const worst = (xs) => Math.max(...xs);
  return {
    table: `| measure | median (range) of ${RUNS} | target |
|---|---|---|
| silent server → loss reported | ${cell(detect)} ms | ≤ 2,050 ms |
| dropped connection → OPEN again, beyond the scheduled 200 ms backoff | ${cell(reconnect)} ms | ≤ 50 ms |`,
    targets: [
      { what: 'silent server detected (every run)', target: '≤ 2,050 ms', measured: `worst ${fmt(worst(detect))} ms`, verdict: worst(detect) <= 2050 ? 'met' : 'not met' },
      { what: 'reconnect beyond the backoff (every run)', target: '≤ 50 ms', measured: `worst ${fmt(worst(reconnect))} ms`, verdict: worst(reconnect) <= 50 ? 'met' : 'not met' },
    ],
  };
}
