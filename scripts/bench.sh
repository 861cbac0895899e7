#!/usr/bin/env bash
# The benchmark command: builds everything in release, starts the Rust server, runs every
# benchmark module (bench/modules/) in headless Chromium and Firefox and the fan-out load, prints a
# markdown report and writes it to BENCHMARKS.md (bench/reading.md is appended when present).
# BENCH_ROUNDS (15) sets the interleaved rounds; BENCH_ONLY=echo,size runs some modules and
# writes nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

bash scripts/install.sh
if ! cmp -s bench/package-lock.json bench/node_modules/.package-lock.installed 2>/dev/null; then
  say "npm ci (bench)"
  (cd bench && npm ci --no-audit --no-fund --loglevel=error)
  cp bench/package-lock.json bench/node_modules/.package-lock.installed
fi

say "build"
trunk build --release --offline   # the chat and, through Trunk.toml's hook, the playground
(cd bench/counter && trunk build --release --offline)
(cd bench/minimal && trunk build --release --offline)
cargo build --locked --profile server -p heartline-server -p heartline-loadgen
cargo build --locked --release --target wasm32-unknown-unknown -p heartline-bench
# The size breakdown by crate: the chat again, with v0 symbol names (they name the types a generic
# was instantiated for) kept through the same wasm-opt -Oz. Its own target dir, as the flags differ.
NAMES="$ROOT/target/size-names"
RUSTFLAGS="-C symbol-mangling-version=v0" CARGO_TARGET_DIR="$NAMES" \
  cargo build --locked --release --target wasm32-unknown-unknown -p heartline-chat --bin heartline-chat
wasm-bindgen --target web --out-dir "$NAMES/chat" "$NAMES/wasm32-unknown-unknown/release/heartline-chat.wasm"
wasm-opt -Oz -g "$NAMES/chat/heartline-chat_bg.wasm" -o "$NAMES/chat/opt-g.wasm"
SITE="$ROOT/target/bench-site"
rm -rf "$SITE" && mkdir -p "$SITE"
cp bench/site/* "$SITE/"
wasm-bindgen --target web --out-dir "$SITE/pkg" target/wasm32-unknown-unknown/release/heartline_bench.wasm
ln -s "$ROOT/bench/node_modules" "$SITE/node_modules"

PORT="$(free_port)"
LOG="$(mktemp)"
# The in-memory store, as these rows always measured; the sqlite row starts servers of its own.
./target/server/heartline-server --addr "127.0.0.1:$PORT" --dist "$SITE" --test-mode --allow-origin '*' \
  --store memory --flood-burst 1000000 --flood-per-second 1000000 --max-connections 100000 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; rm -f "$LOG"' EXIT
wait_for_line "$LOG" "listening on" 30 || { cat "$LOG"; exit 1; }

say "benchmarks"
# 1,000 clients need file descriptors.
ulimit -n 65536 2>/dev/null || true
BENCH_URL="http://127.0.0.1:$PORT" BENCH_ROOT="$ROOT" LOADGEN="$ROOT/target/server/heartline-loadgen" \
  SERVER_BIN="$ROOT/target/server/heartline-server" \
  NODE_PEER_PORT="$(free_port)" BENCH_READING="$( [ -f bench/reading.md ] && echo "$ROOT/bench/reading.md" || true)" \
  node bench/run.mjs
