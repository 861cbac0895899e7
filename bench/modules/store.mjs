// 8. The durable store next to memory: two servers of the same build with the same flags, one
// `--store sqlite` (WAL, synced group commit, on a fresh data dir) and one `--store memory`,
// 100 clients in one room, one sender, in interleaved rounds. Two loads: a burst (200 messages
// sent at once: deliveries/s, and what an ack waits behind 199 others) and a paced sender (one
// message every 10 ms, 200 in all: the ack latency of a message that is not queued behind its
// own burst, which is what the ack target is about).
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fmt, interleaved, median, medianInterval, ratio, ratioToBaseline, verdict } from '../lib/stats.mjs';

export const title = 'Durable store: `--store sqlite` next to `--store memory`, 100 clients, one sender';
const CLIENTS = 100;
const MESSAGES = 200;
const PACE_MS = 10;

export async function run(ctx) {
  // On the checkout's disk, as the run command's default data dir is (a tmpfs would make the
  // sync free and the row flattering).
  const dataDir = mkdtempSync(path.join(ctx.root, 'target', 'bench-store-'));
  const flags = ['--flood-burst', '1000000', '--flood-per-second', '1000000', '--max-connections', '100000'];
  const servers = {};
  try {
    servers.sqlite = await ctx.startServer([...flags, '--store', 'sqlite', '--data-dir', dataDir]);
    servers.memory = await ctx.startServer([...flags, '--store', 'memory']);
    const contenders = {};
    for (const store of ['sqlite', 'memory']) {
      const ws = `${servers[store].ws}/ws`;
      contenders[store] = async () => ({
        burst: await ctx.loadgen(ws, CLIENTS, MESSAGES),
        paced: await ctx.loadgen(ws, CLIENTS, MESSAGES, PACE_MS),
      });
    }
    const runs = await interleaved(contenders, { rounds: ctx.rounds, warmup: ctx.warmup, seed: ctx.seed + 17, log: ctx.log });
    return report(runs, ctx.rounds);
  } finally {
    for (const server of Object.values(servers)) await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function report(runs, rounds) {
  const pick = (store, load, key) => runs[store].map((r) => r[load][key]);
  const cell = (xs) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const delivered = (store, load) => {
    const list = runs[store].map((r) => r[load]);
    const acked = list.every((r) => r.acked === r.messages);
    const all = list.every((r) => r.delivered === r.expected);
    return `${all ? 'all' : `${Math.min(...list.map((r) => r.delivered))}/${list[0].expected}`}${acked ? '' : ', acks missing'}`;
  };
  const row = (store, load, label) =>
    `| ${label} | ${load === 'burst' ? cell(pick(store, load, 'per_second')) : '(paced)'} | ${cell(pick(store, load, 'p50_ms'))} | ${cell(pick(store, load, 'p99_ms'))} | ${cell(pick(store, load, 'ack_p50_ms'))} | ${cell(pick(store, load, 'ack_p99_ms'))} | ${delivered(store, load)} |`;
  const throughput = ratioToBaseline(pick('sqlite', 'burst', 'per_second'), pick('memory', 'burst', 'per_second'), 3);
  const pacedAck = medianInterval(pick('sqlite', 'paced', 'ack_p99_ms'), { seed: 5 });
  const burstAck = medianInterval(pick('sqlite', 'burst', 'ack_p99_ms'), { seed: 9 });
  const ms = ({ median: m, low, high }) => `${fmt(m)} ms [${fmt(low)}–${fmt(high)}]`;
  return {
    table: `| store, load | deliveries/s | latency p50 ms | latency p99 ms | ack p50 ms | ack p99 ms | delivered |
|---|---|---|---|---|---|---|
${row('sqlite', 'burst', `SQLite, burst of ${MESSAGES}`)}
${row('memory', 'burst', `memory, burst of ${MESSAGES}`)}
| ratio SQLite / memory (burst) | ${ratio(throughput)} | | | | | |
${row('sqlite', 'paced', `SQLite, one every ${PACE_MS} ms`)}
${row('memory', 'paced', `memory, one every ${PACE_MS} ms`)}`,
    notes: `${CLIENTS} clients in one room, ${MESSAGES} messages from one sender per run; medians (range) over ${rounds} interleaved rounds after a discarded warm-up, the two servers side by side. Ack latency: from sending a \`say\` to its \`ack\`, which the server sends only once the message is stored (for SQLite: committed and synced). In a burst the last message's ack also waits behind the 199 before it, on either store. Ratio: median of the per-round ratios with its 95 % bootstrap interval.`,
    targets: [
      {
        what: `store: SQLite / memory deliveries/s, ${CLIENTS} clients, burst`,
        target: '≥ 0.8×',
        measured: ratio(throughput),
        verdict: verdict(throughput, 0.8),
      },
      {
        what: `store: SQLite ack p99, ${CLIENTS} clients, one message every ${PACE_MS} ms`,
        target: '≤ 20 ms',
        measured: `${ms(pacedAck)} (burst of ${MESSAGES}: ${ms(burstAck)})`,
        verdict: verdict(pacedAck, 20, { atMost: true }),
      },
    ],
  };
}
