// 10. Tabs: 5 pages of one browser context (tabs of one origin) sharing one Heartline socket
// (`Config::with_shared`) next to 5 pages with a socket each, in interleaved rounds, against the
// server's test mode (its per-key connection count and its echo). Each round opens fresh pages
// and a fresh key; it reports the connections the server saw, the inbound frames/s each tab
// received while the server echoed a burst, and, for the shared socket, the time from closing
// the leader's page to the socket being open again in another tab. Chromium only (Playwright
// pages); the Firefox driver (WebdriverIO) holds one window and would have to switch between
// windows for every call.
import { fmt, interleaved, median, quantile, ratio, ratioToBaseline } from '../lib/stats.mjs';

export const title = 'Tabs: 5 tabs sharing one socket next to 5 tabs with their own (Chromium)';
const TABS = 5;
const FRAMES = 5_000;
const SIZE = 64;

/** `promise`, or an error naming `what` after `ms`. */
function within(ms, promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`tabs: ${what} not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function serverStats(ctx, key) {
  const response = await fetch(`${ctx.base}/test/stats?key=${encodeURIComponent(key)}`);
  return response.json();
}

/** The server's stats once `ready` holds for them (polled against a deadline). */
async function statsWhen(ctx, key, ready, what) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const stats = await serverStats(ctx, key);
    if (ready(stats)) return stats;
    if (Date.now() > deadline) throw new Error(`tabs: ${what}: ${JSON.stringify({ ...stats, received: stats.received?.length })}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let rounds = 0;

/** One round of 5 tabs, shared or each with its own socket. */
async function round(ctx, browser, shared) {
  const key = `bench-tabs-${shared ? 'shared' : 'own'}-${process.pid}-${rounds++}`;
  const url = `${ctx.ws}/test/ws?key=${key}&mode=echo`;
  const pages = [];
  try {
    for (let i = 0; i < TABS; i++) pages.push(await browser.newTab());
    await within(10_000, Promise.all(pages.map((p) => p.evaluate(([u, k]) => window.bench.tab.open(u, k), [url, shared ? key : null]))), 'every tab open');
    const roles = await Promise.all(pages.map((p) => p.evaluate(() => window.bench.tab.role())));
    const connections = (await serverStats(ctx, key)).open_now;

    // Throughput: the leader (shared) or every tab (own) sends a burst; the server echoes it
    // on each connection, so every tab receives FRAMES frames either way.
    const leader = shared ? roles.indexOf('leader') : -1;
    if (shared && (leader < 0 || roles.filter((r) => r === 'leader').length !== 1)) throw new Error(`tabs: roles ${roles}`);
    const senders = shared ? [pages[leader]] : pages;
    const arrivals = pages.map((p) => p.evaluate((n) => window.bench.tab.received(n), FRAMES));
    const starts = await Promise.all(senders.map((p) => p.evaluate(([n, s]) => window.bench.tab.send(n, s), [FRAMES, SIZE])));
    const ends = await within(60_000, Promise.all(arrivals), `${FRAMES} frames in every tab`);
    const rates = ends.map((end, i) => FRAMES / ((end - starts[shared ? 0 : i]) / 1000));
    const result = { connections, rates, perTab: median(rates), slowest: Math.min(...rates) };
    if (!shared) return { ...result, opened: (await serverStats(ctx, key)).opened };

    // Handover: the leader's page closes; another tab's socket is open again.
    const closedAt = await pages[leader].evaluate(() => window.bench.tab.now());
    await pages[leader].close();
    const rest = pages.filter((_, i) => i !== leader);
    pages.splice(leader, 1);
    const reopened = await within(10_000, Promise.all(rest.map((p) => p.evaluate((at) => window.bench.tab.openedAfter(at), closedAt))), 'open again in every tab');
    const after = await statsWhen(ctx, key, (s) => s.open_now === 1, 'one connection after the handover');
    const newLeaders = (await Promise.all(rest.map((p) => p.evaluate(() => window.bench.tab.role())))).filter((r) => r === 'leader');
    if (newLeaders.length !== 1) throw new Error(`tabs: ${newLeaders.length} leaders after the handover`);
    return {
      ...result,
      opened: after.opened,
      handover: Math.min(...reopened) - closedAt,
      everyTab: Math.max(...reopened) - closedAt,
    };
  } finally {
    for (const page of pages) await page.close().catch(() => {});
  }
}

export async function run(ctx) {
  const browser = await ctx.browser('chromium');
  if (!browser.newTab) throw new Error('tabs: the Chromium driver cannot open more pages');
  ctx.log('tabs in Chromium');
  const runs = await interleaved(
    { shared: () => round(ctx, browser, true), own: () => round(ctx, browser, false) },
    { rounds: ctx.rounds, warmup: ctx.warmup, seed: ctx.seed + 23, log: ctx.log },
  );
  const pick = (name, field) => runs[name].map((r) => r[field]);
  const range = (xs) => (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}–${Math.max(...xs)}`);
  const perTab = ratioToBaseline(pick('shared', 'perTab'), pick('own', 'perTab'), 5);
  const ms = (xs) => `${fmt(median(xs))} / ${fmt(quantile(xs, 0.95))}`;
  return {
    table: `| ${TABS} tabs | server connections open | connections opened per round | inbound frames/s per tab (slowest tab) | per-tab rate, shared / own [95 % CI] | leader closed → open again, ms p50 / p95 | … in every tab, ms p50 / p95 |
|---|---|---|---|---|---|---|
| one shared socket | ${range(pick('shared', 'connections'))} | ${range(pick('shared', 'opened'))} (the 2nd: the handover) | ${fmt(median(pick('shared', 'perTab')))} (${fmt(median(pick('shared', 'slowest')))}) | ${ratio(perTab)} | ${ms(pick('shared', 'handover'))} | ${ms(pick('shared', 'everyTab'))} |
| a socket each | ${range(pick('own', 'connections'))} | ${range(pick('own', 'opened'))} | ${fmt(median(pick('own', 'perTab')))} (${fmt(median(pick('own', 'slowest')))}) | 1 | — (each tab keeps its own) | — |`,
    notes: `${TABS} pages of one Chromium context, fresh pages and a fresh key each round; ${ctx.rounds} interleaved rounds after a discarded warm-up. Connections: the test mode's per-key count once every tab reported Open. Frames/s: ${FRAMES.toLocaleString('en')} × ${SIZE} B text frames sent at once and echoed by the server on each connection — shared, the leader sends them and every tab receives them once (the followers through the \`BroadcastChannel\`); a socket each, every tab sends its own burst at the same time and receives its own echoes. A tab's rate is ${FRAMES.toLocaleString('en')} over the time from the burst's start to its last frame (\`performance.timeOrigin + performance.now()\`, comparable across pages); the row gives the median over rounds of each round's median tab (and of its slowest tab), and the ratio is the median of the per-round ratios with its 95 % bootstrap interval. Handover: from just before Playwright closes the leader's page to the first \`Opened\` (or status \`Open\`) after it in another tab (the new leader's connection), and to the last tab hearing it; the server's count is checked to be back at one open connection.`,
  };
}
