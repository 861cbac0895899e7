// Runs every benchmark module, prints one markdown report and writes it to BENCHMARKS.md.
// Started by scripts/bench.sh, which builds everything and starts the Rust server.
//
// One module per benchmark (bench/modules/*.mjs), one table per module. A module exports
// `title` and `run(ctx)`, which resolves with { table, notes?, targets? }; each target is
// { what, target, measured, verdict } and lands in the summary. To add a row of another
// comparison (a store against another, 2 instances against 1, shared tabs against own), add a
// module and its name to MODULES; `ctx` gives it the browsers, the load generator, a way to
// start more servers, and `interleaved` rounds in lib/stats.mjs.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openChromium, openFirefox } from './lib/browsers.mjs';

const MODULES = ['echo', 'binary', 'detection', 'leaks', 'size', 'size-crates', 'fanout', 'store', 'fanout-redis', 'tabs', 'sendcost'];
const only = process.env.BENCH_ONLY?.split(',');

const base = process.env.BENCH_URL; // http://127.0.0.1:PORT, serving bench/site
const root = process.env.BENCH_ROOT;
const log = (...args) => console.error('[bench]', ...args);

const rounds = Number(process.env.BENCH_ROUNDS || 15);
if (!(Number.isInteger(rounds) && rounds >= 15)) throw new Error(`BENCH_ROUNDS must be a whole number of at least 15 (the method's minimum), not ${process.env.BENCH_ROUNDS}`);
// Each run draws its own orders (printed, so a run can be repeated with BENCH_SEED); a fixed
// seed would give every run the same orders, and any effect of a position the same sign.
const seed = Number(process.env.BENCH_SEED || Math.floor(Math.random() * 2 ** 31));
if (!Number.isInteger(seed)) throw new Error(`BENCH_SEED must be a whole number, not ${process.env.BENCH_SEED}`);

const browsers = new Map();
const ctx = {
  base,
  ws: base.replace(/^http/, 'ws'),
  root,
  rounds,
  warmup: 1,
  seed,
  log,
  /** The bench page in 'chromium' or 'firefox', opened once. */
  async browser(name) {
    if (!browsers.has(name)) {
      const opened = name === 'firefox' ? await openFirefox(`${base}/`, root) : await openChromium(`${base}/`, log);
      browsers.set(name, opened);
    }
    return browsers.get(name);
  },
  /** The Rust load generator: `clients` in one room, `messages` from one sender (all at once, or
   * one every `paceMs` ms); its JSON. */
  loadgen(url, clients, messages, paceMs = 0) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.env.LOADGEN, [url, String(clients), String(messages), String(paceMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`loadgen exited ${code}`))));
    });
  },
  /** Another server (release build) with these flags, on a free port: { url, ws, stop() }. */
  async startServer(args = []) {
    const child = spawn(process.env.SERVER_BIN, ['--addr', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const match = out.match(/listening on (http:\/\/\S+)/);
        if (match) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    return { url, ws: url.replace(/^http/, 'ws'), stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }) };
  },
};

const sections = [];
const targets = [];
try {
  for (const [index, name] of MODULES.entries()) {
    if (only && !only.includes(name)) continue;
    const module = await import(`./modules/${name}.mjs`);
    log(`${index + 1}. ${name}`);
    const result = await module.run(ctx);
    sections.push(`### ${index + 1}. ${module.title}\n\n${result.table}${result.notes ? `\n\n${result.notes}` : ''}`);
    targets.push(...(result.targets ?? []));
  }
} finally {
  for (const browser of browsers.values()) await browser.close().catch(() => {});
}

const summary = `### Targets

A target counts as met only when the whole 95 % interval is at or past it.

| measure | target | measured | verdict |
|---|---|---|---|
${targets.map((t) => `| ${t.what} | ${t.target} | ${t.measured} | **${t.verdict}** |`).join('\n')}`;

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const versions = [...browsers.values()].map((b) => `${b.name} ${b.version}`).join(', ');
const header = `# Benchmarks

Run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · browsers: ${versions || 'none'} · machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}
Produced by \`bash scripts/bench.sh\`.

**Method.** The echo and binary benchmarks run in interleaved rounds: each round runs every client
once, so a slow moment of the machine falls on all of them alike, in balanced orders (in each block
of as many rounds as there are clients, every client runs once in each position, a last shorter
block only partly; the blocks' orders are shuffled, seed ${ctx.seed}). In the echo and binary
benchmarks a client's run in a round is split into bursts on one connection (opened and closed
outside the timed bursts) that take turns with the other clients' bursts (burst k runs the round's
order rotated by k), since on these machines the swings last less than one client's whole run;
the echo's round trips run whole, in interleaved rounds of their own.
${ctx.rounds} rounds are kept after a warm-up round that is discarded. A client's ratio to raw JS is computed per round
(against the raw \`WebSocket\` of the same round and browser), and the report gives the median of
those ratios with a 95 % bootstrap interval (10,000 resamples of the rounds). The echo benchmark runs
in headless Chromium (Playwright) and headless Firefox ESR (WebdriverIO + geckodriver), each against
its own raw \`WebSocket\`, and runs that raw \`WebSocket\` twice in every round: the A/A control, whose
interval shows how wide the method's intervals are when nothing differs. All clients run in one
page against one server. In Chromium every measured
run starts from a collected heap (\`gc()\`), so no client pays for the garbage of the run before
it; Firefox gives a page no such call. Every client's handler reads each message's data, as an
application does and as heartline must (to tell its heartbeat's reply from a message); a JS
handler that never reads \`event.data\` spares Chromium making the string at all.`;
const report = [header, ...sections, summary].join('\n\n') + '\n';
console.log(report);
if (!only) {
  const reading = process.env.BENCH_READING ? `\n${readFileSync(process.env.BENCH_READING, 'utf8')}` : '';
  writeFileSync(path.join(root, 'BENCHMARKS.md'), report + reading);
}
