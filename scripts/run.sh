#!/usr/bin/env bash
# The run command: installs what is missing, builds the app in release, and
# serves it with the chat server at http://127.0.0.1:8080 (PORT=... to change), keeping the
# rooms' history in ./data across restarts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

bash scripts/install.sh
say "trunk build --release"
trunk build --release --offline
say "cargo build --profile server -p heartline-server"
cargo build --locked --profile server -p heartline-server
# History lives in ./data/heartline.db (HEARTLINE_DATA_DIR to move it) and survives restarts.
exec ./target/server/heartline-server --addr "${HOST:-127.0.0.1}:${PORT:-8080}" --dist dist \
  --data-dir "${HEARTLINE_DATA_DIR:-data}"
