// 7. Server fan-out: one room on loopback, one sender, the same Rust load generator against
// the Rust server and a Node.js `ws` broadcast server.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fmt, median } from '../lib/stats.mjs';

export const title = 'Server fan-out: one room on loopback, one sender, same Rust load generator';
const RUNS = 3;

export async function run(ctx) {
  const nodePort = Number(process.env.NODE_PEER_PORT);
  const node = spawn(process.execPath, [path.join(ctx.root, 'bench', 'node-server.mjs'), String(nodePort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => node.stdout.once('data', resolve));
  const fan = [];
  try {
    for (const clients of [100, 1000]) {
      const messages = clients === 100 ? 200 : 50;
      const runs = { rust: [], node: [] };
      for (let run = 0; run < RUNS; run++) {
        runs.rust.push(await ctx.loadgen(`${ctx.ws}/ws`, clients, messages));
        runs.node.push(await ctx.loadgen(`ws://127.0.0.1:${nodePort}/`, clients, messages));
      }
      fan.push({ clients, messages, runs });
    }
  } finally {
    node.kill();
  }
  const cell = (xs) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const row = (label, list) => {
    const delivered = list.every((r) => r.delivered === r.expected) ? 'all' : `${Math.min(...list.map((r) => r.delivered))}/${list[0].expected}`;
    return `| ${label} | ${cell(list.map((r) => r.per_second))} | ${cell(list.map((r) => r.p50_ms))} | ${cell(list.map((r) => r.p99_ms))} | ${delivered} |`;
  };
  const ratioAt = ({ runs }) => median(runs.rust.map((r) => r.per_second)) / median(runs.node.map((r) => r.per_second));
  const at1000 = fan.find((f) => f.clients === 1000);
  const p99 = (list) => median(list.map((r) => r.p99_ms));
  return {
    table: `| server, clients × messages | deliveries/s | latency p50 ms | latency p99 ms | delivered |
|---|---|---|---|---|
${fan.map((f) => [
  row(`Heartline (Rust), ${f.clients} × ${f.messages}`, f.runs.rust),
  row(`Node.js ws, ${f.clients} × ${f.messages}`, f.runs.node),
  `| ratio Rust / Node at ${f.clients} | ${ratioAt(f).toFixed(2)}× | | | |`,
].join('\n')).join('\n')}`,
    notes: `Median (range) of ${RUNS} runs each, alternating servers.`,
    targets: [{
      what: 'server at 1,000 clients: Rust / Node deliveries/s, with lower p99',
      target: '≥ 2×, lower p99',
      measured: `${ratioAt(at1000).toFixed(2)}×, p99 ${fmt(p99(at1000.runs.rust))} vs ${fmt(p99(at1000.runs.node))} ms`,
      verdict: ratioAt(at1000) >= 2 && p99(at1000.runs.rust) < p99(at1000.runs.node) ? 'met' : 'not met',
    }],
  };
}
