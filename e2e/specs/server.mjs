// Starts a heartline-server of a spec's own, so the spec can stop and restart it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.HEARTLINE_SERVER_BIN || path.join(root, 'target', 'debug', 'heartline-server');
const dist = process.env.HEARTLINE_DIST || path.join(root, 'dist');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// One fresh SQLite data dir per port: a restart on the same port is a restart on the same data,
// as in production, and no two specs (or runs) share a history. Removed when the tests exit.
const dataDirs = new Map();
process.once('exit', () => {
  for (const dir of dataDirs.values()) rmSync(dir, { recursive: true, force: true });
});
function dataDirFor(port) {
  if (!dataDirs.has(port)) dataDirs.set(port, mkdtempSync(path.join(tmpdir(), `heartline-e2e-${port}-`)));
  return dataDirs.get(port);
}

// Starts the server on `port` (with the durable store on the port's data dir, and any extra
// flags) and resolves once it prints that it listens.
export async function startServer(port, extraArgs = []) {
  const args = ['--addr', `127.0.0.1:${port}`, '--dist', dist, '--data-dir', dataDirFor(port), ...extraArgs];
  const child = spawn(binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 15_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    // SIGTERM: the server closes every client with 1012 and exits.
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
    // SIGKILL: a crash; nothing is closed cleanly, only what was committed remains.
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
