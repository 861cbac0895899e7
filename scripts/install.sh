#!/usr/bin/env bash
# Installs every tool the run and test commands need, pinned, skipping what is
# already there at the right version. Safe to run again and again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

TRUNK_VERSION=0.21.14
GECKODRIVER_VERSION=0.37.1
PY_WEBSOCKETS_VERSION=17.4

have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: browsers and their drivers; redis-server and haproxy for the tests of
# several instances sharing rooms (server/tests/redis.rs starts its own, on free ports).
need_apt=()
have redis-server || [ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
have haproxy || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
have chromium || need_apt+=(chromium)
have chromedriver || need_apt+=(chromium-driver)
have firefox-esr || need_apt+=(firefox-esr)
have python3 || need_apt+=(python3 python3-pip)
have node || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(cargo pkgid --locked wasm-bindgen | sed 's/.*[#@]//')"
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  say "cargo install trunk $TRUNK_VERSION"
  cargo install trunk --version "$TRUNK_VERSION" --locked --force
fi

if ! geckodriver --version 2>/dev/null | head -n 1 | grep -q "^geckodriver $GECKODRIVER_VERSION"; then
  say "cargo install geckodriver $GECKODRIVER_VERSION"
  cargo install geckodriver --version "$GECKODRIVER_VERSION" --force
fi

# Python `websockets`, for the server test that chats from a client not written in Rust.
if [ "$(python3 -c 'import websockets; print(websockets.__version__)' 2>/dev/null)" != "$PY_WEBSOCKETS_VERSION" ]; then
  say "pip install websockets==$PY_WEBSOCKETS_VERSION"
  python3 -m pip install -q "websockets==$PY_WEBSOCKETS_VERSION" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "websockets==$PY_WEBSOCKETS_VERSION"
fi

# Node packages (Playwright and binaryen's wasm-opt) from the committed lock file.
if ! cmp -s e2e/package-lock.json e2e/node_modules/.package-lock.installed 2>/dev/null; then
  say "npm ci (e2e)"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  cp e2e/package-lock.json e2e/node_modules/.package-lock.installed
fi
if [ "$(wasm-opt --version 2>/dev/null | awk '{print $3}')" != 132 ]; then
  echo "wasm-opt 132 is not on PATH after npm ci (expected e2e/node_modules/.bin/wasm-opt)" >&2
  exit 1
fi
