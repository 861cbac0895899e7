// 8. Fan-out over several instances: 1,000 clients in one room spread over 2 servers sharing it
// through one Redis (--store redis://), next to 1 server with the memory store, in the same run
// and with the same Rust load generator (one sender; every message reaches every client).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fmt, median } from '../lib/stats.mjs';

export const title = 'Fan-out over 2 instances on one Redis vs 1 instance in memory (1,000 clients)';
const RUNS = 3;
const CLIENTS = 1000;
const MESSAGES = 50;
const FLAGS = ['--flood-burst', '1000000', '--flood-per-second', '1000000', '--max-connections', '100000', '--flood-ip-share', '0'];

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of the bench's own (no persistence: this measures fan-out), killed after. */
async function startRedis() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heartline-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited ${code} (is it installed? bash scripts/install.sh)`)));
  });
  return {
    url: `redis://127.0.0.1:${port}/0`,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => {
        fs.rmSync(dir, { recursive: true, force: true });
        resolve();
      });
      child.kill('SIGKILL');
    }),
  };
}

export async function run(ctx) {
  const redis = await startRedis();
  const started = [];
  const runs = { redis: [], memory: [] };
  try {
    const one = await ctx.startServer(['--store', redis.url, ...FLAGS]);
    started.push(one);
    const two = await ctx.startServer(['--store', redis.url, ...FLAGS]);
    started.push(two);
    const memory = await ctx.startServer(['--store', 'memory', ...FLAGS]);
    started.push(memory);
    for (let run = 0; run < RUNS; run++) {
      runs.redis.push(await ctx.loadgen(`${one.ws}/ws,${two.ws}/ws`, CLIENTS, MESSAGES));
      runs.memory.push(await ctx.loadgen(`${memory.ws}/ws`, CLIENTS, MESSAGES));
    }
  } finally {
    for (const server of started) await server.stop();
    await redis.stop();
  }
  const cell = (xs) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const row = (label, list) => {
    const delivered = list.every((r) => r.delivered === r.expected) ? 'all' : `${Math.min(...list.map((r) => r.delivered))}/${list[0].expected}`;
    return `| ${label} | ${cell(list.map((r) => r.per_second))} | ${cell(list.map((r) => r.p50_ms))} | ${cell(list.map((r) => r.p99_ms))} | ${delivered} |`;
  };
  const ratio = median(runs.redis.map((r) => r.per_second)) / median(runs.memory.map((r) => r.per_second));
  return {
    table: `| setup, ${CLIENTS} clients × ${MESSAGES} messages | deliveries/s | latency p50 ms | latency p99 ms | delivered |
|---|---|---|---|---|
${row('2 instances, one Redis (clients alternate between them)', runs.redis)}
${row('1 instance, memory store', runs.memory)}
| ratio 2 × Redis / 1 × memory | ${ratio.toFixed(2)}× | | | |`,
    notes: `Median (range) of ${RUNS} runs each, alternating setups, all processes on one machine (the two instances and Redis share its cores with the load generator). Redis without persistence here: this row measures fan-out, not fsync.`,
    targets: [],
  };
}
