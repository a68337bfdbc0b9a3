#!/usr/bin/env bash
# Browser tests of the console: builds `realms`, `fake-upstream` and `desktop-gateway` (Realms in
# desktop mode, as the desktop app runs it), starts them on free ports of 127.0.0.1 with
# throw-away data directories, runs the Playwright tests (Debian's chromium, headless) and stops
# them. Screenshots land in tests/browser/artifacts/ (git-ignored).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM_PATH" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "chromium not found at $CHROMIUM_PATH (apt-get install -y chromium)" >&2
  exit 1
fi

echo "==> building realms and fake-upstream"
cargo build --locked -p realms -p fake-upstream
cargo build --locked -p e2e --bin desktop-gateway

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

DATA_DIR="$(mktemp -d)"
DESKTOP_DATA_DIR="$(mktemp -d)"
LOG_DIR="$HERE/artifacts"
mkdir -p "$LOG_DIR"
FAKE_PORT="$(free_port)"
REALMS_PORT="$(free_port)"
DESKTOP_PORT="$(free_port)"
ADMIN_KEY="browser-test-admin-key-$(date +%s)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$DATA_DIR" "$DESKTOP_DATA_DIR"
}
trap cleanup EXIT

"$CARGO_TARGET_DIR/debug/fake-upstream" --addr "127.0.0.1:$FAKE_PORT" >"$LOG_DIR/fake-upstream.log" 2>&1 &
PIDS+=($!)
# Codex sign-ins and token refreshes go to the fake's OAuth issuer; no listener on port 1455.
REALMS_CODEX_OAUTH_ISSUER="http://127.0.0.1:$FAKE_PORT" REALMS_CODEX_OAUTH_LISTENER=false \
  REALMS_DATA_DIR="$DATA_DIR" REALMS_ADDR="127.0.0.1:$REALMS_PORT" REALMS_ADMIN_API_KEY="$ADMIN_KEY" \
  REALMS_LOG="${REALMS_LOG:-info}" "$CARGO_TARGET_DIR/debug/realms" >"$LOG_DIR/realms.log" 2>&1 &
PIDS+=($!)
# Self mode, as the desktop app runs; the secret file lives in its own throw-away data dir.
DESKTOP_SECRET_FILE="$DESKTOP_DATA_DIR/console-secret"
REALMS_DATA_DIR="$DESKTOP_DATA_DIR" REALMS_ADDR="127.0.0.1:$DESKTOP_PORT" REALMS_SELF_MODE=true \
  REALMS_CODEX_OAUTH_LISTENER=false REALMS_LOG="${REALMS_LOG:-info}" \
  "$CARGO_TARGET_DIR/debug/desktop-gateway" "$DESKTOP_SECRET_FILE" >"$LOG_DIR/desktop-gateway.log" 2>&1 &
PIDS+=($!)

echo "==> waiting for realms on 127.0.0.1:$REALMS_PORT and fake-upstream on 127.0.0.1:$FAKE_PORT"
for _ in $(seq 1 100); do
  if node -e "fetch('http://127.0.0.1:$REALMS_PORT/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
for _ in $(seq 1 100); do
  if [ -s "$DESKTOP_SECRET_FILE" ] && node -e "fetch('http://127.0.0.1:$DESKTOP_PORT/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

cd "$HERE"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
export REALMS_URL="http://127.0.0.1:$REALMS_PORT"
export FAKE_URL="http://127.0.0.1:$FAKE_PORT"
export REALMS_ADMIN_API_KEY="$ADMIN_KEY"
export REALMS_DB="$DATA_DIR/realms.db"
export DESKTOP_URL="http://127.0.0.1:$DESKTOP_PORT"
export DESKTOP_SECRET_FILE
echo "==> browser tests"
node --test --test-concurrency=1 --test-reporter=spec console.test.mjs desktop.test.mjs
