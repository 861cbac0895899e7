#!/usr/bin/env bash
# The test command: installs what is missing, then runs formatting, lints, host
# tests, the browser suites in headless Chromium and Firefox against a real
# server, and the end-to-end tests (Chromium and Firefox). Exits non-zero on any failure.
#
#   bash scripts/test.sh            everything
#   ONLY=browser bash scripts/test.sh   one stage: lint, host, build, browser, e2e
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# The disk is reported first and last: a machine whose disk fills fails in
# whichever step writes next, and this says why.
disk_report() { df -h "$ROOT" | tail -1 | awk '{print "disk: " $4 " free of " $2}'; }
disk_report

bash scripts/install.sh || { echo "install failed" >&2; exit 1; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=()
FAILED=0
step() {
  local name=$1
  shift
  say "$name"
  local started=$SECONDS
  if "$@"; then
    RESULTS+=("ok    $name ($((SECONDS - started))s)")
  else
    RESULTS+=("FAIL  $name ($((SECONDS - started))s)")
    FAILED=$((FAILED + 1))
  fi
}
wants() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }

# Every test a README names as proof of a guarantee exists: a renamed test must not leave the
# claim pointing at nothing. Names are backticked snake_case with four or more words.
readme_tests_exist() {
  local missing=0 name
  for name in $(grep -oh '`[a-z0-9]\+\(_[a-z0-9]\+\)\{3,\}`' README.md crates/*/README.md server/README.md 2>/dev/null | tr -d '`' | sort -u); do
    if ! grep -rqE "fn ${name}\b" --include='*.rs' src crates server tests bench examples 2>/dev/null; then
      echo "a README names test \`$name\`, which does not exist" >&2
      missing=1
    fi
  done
  return "$missing"
}

WASM_PACKAGES=(-p heartline -p heartline-chat -p heartline-protocol -p heartline-bench -p yew-counter -p heartline-minimal -p heartline-example-plain)

if wants lint; then
  step "cargo fmt --check" cargo fmt --all -- --check
  step "clippy (host)" cargo clippy --locked --workspace --all-targets -- -D warnings
  step "clippy (wasm32)" cargo clippy --locked --target wasm32-unknown-unknown "${WASM_PACKAGES[@]}" --all-targets -- -D warnings
  step "cargo doc (heartline, no warnings)" env RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps -p heartline
  step "README test names exist" readme_tests_exist
  step "benchmark statistics (node --test)" node --test bench/lib/stats.test.mjs
fi

if wants host; then
  # Includes the library's doctests (every public item's example).
  step "host tests" cargo test --locked -p heartline -p heartline-protocol -p heartline-server
  step "host tests (app state, playground log)" cargo test --locked -p heartline-chat
fi

# The browser suites' pages come from the test runner's own origin, hence --allow-origin '*'.
# The durable store on a fresh data dir of this run, so runs never share a history.
start_server() {
  PORT="$(free_port)"
  ./target/debug/heartline-server --addr "127.0.0.1:$PORT" --dist dist --test-mode \
    --allow-origin '*' --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  if ! wait_for_line "$WORK/server.log" "listening on" 30; then
    cat "$WORK/server.log"
    return 1
  fi
  export HEARTLINE_TEST_SERVER="127.0.0.1:$PORT"
  echo "test server at http://$HEARTLINE_TEST_SERVER (log: $WORK/server.log)"
}

browser_suite() {
  local browser=$1
  local driver_env
  case $browser in
    chromium) driver_env=(CHROMEDRIVER=/usr/bin/chromedriver) ;;
    firefox) driver_env=(GECKODRIVER="$(command -v geckodriver)") ;;
  esac
  echo "browser: $browser"
  env "${driver_env[@]}" WASM_BINDGEN_TEST_TIMEOUT=600 \
    cargo test --locked --target wasm32-unknown-unknown \
      -p heartline --test browser --test restart --test shared -p heartline-chat --test app
}

if wants build; then
  # The library without Yew (and each feature alone), warnings refused as in the full build's
  # clippy, and the plain wasm-bindgen page that uses it with no framework.
  step "build heartline --no-default-features (wasm32)" cargo clippy --locked --target wasm32-unknown-unknown -p heartline --no-default-features -- -D warnings
  step "build heartline, one feature at a time (wasm32)" bash -c 'for feature in shared yew; do cargo clippy --locked --target wasm32-unknown-unknown -p heartline --no-default-features --features "$feature" -- -D warnings || exit 1; done'
  step "build examples/plain (wasm32, no framework)" cargo build --locked --target wasm32-unknown-unknown -p heartline-example-plain
fi

if wants build || wants browser || wants e2e; then
  step "build app (trunk --release)" trunk build --release --offline
  step "build server" cargo build --locked -p heartline-server
fi

if wants browser || wants e2e; then
  if start_server; then
    if wants browser; then
      step "browser tests (headless Chromium)" browser_suite chromium
      step "browser tests (headless Firefox)" browser_suite firefox
    fi
    if wants e2e; then
      step "end-to-end (Chromium via Playwright, Firefox via WebdriverIO)" env HEARTLINE_URL="http://$HEARTLINE_TEST_SERVER" GECKODRIVER="$(command -v geckodriver)" \
        bash -c 'cd e2e && npm test --silent'
    fi
  else
    RESULTS+=("FAIL  start test server")
    FAILED=$((FAILED + 1))
  fi
fi

printf '\n==> summary\n'
disk_report
[ -d target ] && du -sh target | awk '{print "target/: " $1}'
printf '  %s\n' "${RESULTS[@]}"
if [ "$FAILED" -gt 0 ]; then
  echo "FAILED: $FAILED step(s)"
  exit 1
fi
echo "all steps passed"
