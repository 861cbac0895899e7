// Runs every benchmark, prints one markdown report and writes it to BENCHMARKS.md.
// Started by scripts/bench.sh, which builds everything and starts the Rust server.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';

const base = process.env.BENCH_URL; // http://127.0.0.1:PORT, serving bench/site
const ws = base.replace(/^http/, 'ws');
const RUNS = Number(process.env.BENCH_RUNS || 5);
const root = process.env.BENCH_ROOT;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * q)];
const spread = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const cell = (xs) => `${fmt(median(xs))} (${spread(xs)})`;
const log = (...args) => console.error('[bench]', ...args);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--js-flags=--expose-gc'],
});
const page = await browser.newPage();
page.on('pageerror', (error) => log('page error', error));
await page.goto(`${base}/`);
await page.waitForFunction(() => document.getElementById('ready')?.textContent === 'ready', null, { timeout: 30_000 });
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');

const peers = ['heartline', 'raw', 'rws', 'vueuse'];
const names = { heartline: 'heartline (Rust/wasm)', raw: 'raw WebSocket (JS)', rws: 'reconnecting-websocket', vueuse: 'VueUse useWebSocket' };
const sections = [];

// 1. Text throughput and round trips.
log('echo throughput and latency');
const text = Object.fromEntries(peers.map((p) => [p, { rate: [], p50: [], p99: [] }]));
for (let run = 0; run < RUNS; run++) {
  for (const peer of peers) {
    const ms = await page.evaluate(([p, u]) => window.bench.textThroughput(p, u, 20_000, 64), [peer, `${ws}/echo`]);
    text[peer].rate.push(20_000 / (ms / 1000));
    const times = await page.evaluate(([p, u]) => window.bench.roundTrips(p, u, 1_000), [peer, `${ws}/echo`]);
    text[peer].p50.push(quantile(times, 0.5));
    text[peer].p99.push(quantile(times, 0.99));
  }
}
const rawRate = median(text.raw.rate);
sections.push(`### 1. Echo: 20,000 × 64 B text frames pipelined; 1,000 sequential round trips

| client | frames/s | ratio to raw JS | RTT p50 ms | RTT p99 ms |
|---|---|---|---|---|
${peers.map((p) => `| ${names[p]} | ${cell(text[p].rate)} | ${(median(text[p].rate) / rawRate).toFixed(2)}× | ${cell(text[p].p50)} | ${cell(text[p].p99)} |`).join('\n')}`);

// 2. Binary.
log('binary');
const bin = Object.fromEntries(peers.map((p) => [p, []]));
for (let run = 0; run < RUNS; run++) {
  for (const peer of peers) {
    const ms = await page.evaluate(([p, u]) => window.bench.binary(p, u, 200, 256 * 1024), [peer, `${ws}/echo`]);
    bin[peer].push((200 * 256 * 1024) / 1e6 / (ms / 1000));
  }
}
sections.push(`### 2. Binary: 200 × 256 KiB ArrayBuffer echoes

| client | MB/s | ratio to raw JS |
|---|---|---|
${peers.map((p) => `| ${names[p]} | ${cell(bin[p])} | ${(median(bin[p]) / median(bin.raw)).toFixed(2)}× |`).join('\n')}`);

// 3. Failure detection and reconnect.
log('failure detection');
const detect = [];
const reconnect = [];
for (let run = 0; run < RUNS; run++) {
  const key = `bench-silent-${Date.now()}-${run}`;
  detect.push(await page.evaluate((u) => window.bench.detection(u, 1000, 1000), `${ws}/test/ws?key=${key}&mode=silent`));
  const dropKey = `bench-drop-${Date.now()}-${run}`;
  const [scheduled, actual] = await page.evaluate((u) => window.bench.reconnect(u), `${ws}/test/ws?key=${dropKey}&mode=drop&after_ms=100&then=echo`);
  reconnect.push(actual - scheduled);
}
sections.push(`### 3. Failure detection (heartline; interval 1,000 ms + pong timeout 1,000 ms)

| measure | median (range) | target |
|---|---|---|
| silent server → loss reported | ${cell(detect)} ms | ≤ 2,050 ms |
| dropped connection → OPEN again, beyond the scheduled 200 ms backoff | ${cell(reconnect)} ms | ≤ 50 ms |`);

// 4. Leaks over 1,000 connect/close cycles.
log('leaks');
const metrics = async () => {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const get = (name) => metrics.find((m) => m.name === name)?.value ?? NaN;
  return { heap: get('JSHeapUsedSize'), listeners: get('JSEventListeners'), wasm: await page.evaluate(() => window.bench.wasmMemory()) };
};
const cycleKey = `bench-cycles-${Date.now()}`;
const cycleUrl = `${ws}/test/ws?key=${cycleKey}&mode=echo`;
await page.evaluate((u) => window.bench.cycles(u, 20), cycleUrl); // warm-up
const before = await metrics();
await page.evaluate((u) => window.bench.cycles(u, 1_000), cycleUrl);
const after = await metrics();
const stats = await (await fetch(`${base}/test/stats?key=${cycleKey}`)).json();
const kb = (x) => `${(x / 1024).toFixed(0)} KiB`;
sections.push(`### 4. Leaks: 1,000 connect/close cycles through heartline

| measure | before | after | growth |
|---|---|---|---|
| JS heap used (after GC) | ${kb(before.heap)} | ${kb(after.heap)} | ${kb(after.heap - before.heap)} |
| wasm memory | ${kb(before.wasm)} | ${kb(after.wasm)} | ${kb(after.wasm - before.wasm)} |
| JS event listeners | ${before.listeners} | ${after.listeners} | ${after.listeners - before.listeners} |
| sockets the server still holds | — | ${stats.open_now} of ${stats.opened} opened | — |`);

// 5. Size.
log('size');
const sizes = (dir) => {
  const files = readdirSync(dir);
  const one = (ext) => {
    const name = files.find((f) => f.endsWith(ext));
    const bytes = readFileSync(path.join(dir, name));
    return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  return { wasm: one('.wasm'), js: one('.js') };
};
const app = sizes(path.join(root, 'dist'));
const counter = sizes(path.join(root, 'bench', 'counter', 'dist'));
const minimal = sizes(path.join(root, 'bench', 'minimal', 'dist'));
const minimalGzip = minimal.wasm.gzip + minimal.js.gzip;
const appGzip = app.wasm.gzip + app.js.gzip;
const counterGzip = counter.wasm.gzip + counter.js.gzip;
sections.push(`### 5. Size (release, wasm-opt -Oz; gzip -9)

| build | wasm | wasm gzip | JS | JS gzip | total gzip |
|---|---|---|---|---|---|
| chat app (heartline + chat + playground) | ${kb(app.wasm.raw)} | ${kb(app.wasm.gzip)} | ${kb(app.js.raw)} | ${kb(app.js.gzip)} | ${kb(appGzip)} |
| counter + use_heartline echo (the library alone) | ${kb(minimal.wasm.raw)} | ${kb(minimal.wasm.gzip)} | ${kb(minimal.js.raw)} | ${kb(minimal.js.gzip)} | ${kb(minimalGzip)} |
| bare Yew counter | ${kb(counter.wasm.raw)} | ${kb(counter.wasm.gzip)} | ${kb(counter.js.raw)} | ${kb(counter.js.gzip)} | ${kb(counterGzip)} |
| ratio to the bare counter | | | | | app ${(appGzip / counterGzip).toFixed(2)}× (target ≤ 1.6×); library alone ${(minimalGzip / counterGzip).toFixed(2)}× |`);
await browser.close();

// 6. Server fan-out.
log('fan-out');
const loadgen = (url, clients, messages) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.env.LOADGEN, [url, String(clients), String(messages)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`loadgen exited ${code}`))));
  });
const nodePort = Number(process.env.NODE_PEER_PORT);
const nodeServer = spawn(process.execPath, [path.join(root, 'bench', 'node-server.mjs'), String(nodePort)], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => nodeServer.stdout.once('data', resolve));
const fan = [];
for (const clients of [100, 1000]) {
  const messages = clients === 100 ? 200 : 50;
  const runs = { rust: [], node: [] };
  for (let run = 0; run < Math.min(RUNS, 3); run++) {
    runs.rust.push(await loadgen(`${ws}/ws`, clients, messages));
    runs.node.push(await loadgen(`ws://127.0.0.1:${nodePort}/`, clients, messages));
  }
  fan.push({ clients, messages, runs });
}
nodeServer.kill();
const row = (label, list) => {
  const delivered = list.every((r) => r.delivered === r.expected) ? 'all' : `${Math.min(...list.map((r) => r.delivered))}/${list[0].expected}`;
  return `| ${label} | ${cell(list.map((r) => r.per_second))} | ${cell(list.map((r) => r.p50_ms))} | ${cell(list.map((r) => r.p99_ms))} | ${delivered} |`;
};
sections.push(`### 6. Server fan-out: one room on loopback, one sender, same Rust load generator

| server, clients × messages | deliveries/s | latency p50 ms | latency p99 ms | delivered |
|---|---|---|---|---|
${fan.map(({ clients, messages, runs }) => [
  row(`Heartline (Rust), ${clients} × ${messages}`, runs.rust),
  row(`Node.js ws, ${clients} × ${messages}`, runs.node),
  `| ratio Rust / Node at ${clients} | ${(median(runs.rust.map((r) => r.per_second)) / median(runs.node.map((r) => r.per_second))).toFixed(2)}× | | | |`,
].join('\n')).join('\n')}`);

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = `# Benchmarks

Run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · browser: headless ${browser.version?.() ?? 'Chromium'} · machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}
Each figure is the median of ${RUNS} runs (fan-out: ${Math.min(RUNS, 3)}), with the range in brackets. All clients run in one page against one server, side by side in each round.
Produced by \`bash scripts/bench.sh\`.`;
const report = [header, ...sections].join('\n\n') + '\n';
console.log(report);
writeFileSync(path.join(root, 'BENCHMARKS.md'), report + (process.env.BENCH_READING ? `\n${readFileSync(process.env.BENCH_READING, 'utf8')}` : ''));
