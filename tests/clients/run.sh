#!/usr/bin/env bash
# Real-client tests: the official `openai`, `anthropic` and `google-genai` Python SDKs and the
# Codex CLI, talking to a real Realms in front of the scripted fake upstream.
#
#   tests/clients/run.sh [pytest args...]      e.g. tests/clients/run.sh -k codex -x
#
# Needs: cargo (the repo's toolchain), python3 (3.10+) with the venv module (Debian:
# `apt-get install python3-venv`; installed here when missing and we are root), node 18+ and npm,
# and the PyPI and npm registries reachable on the first run. Nothing else from the network:
# Realms and the fake listen on free 127.0.0.1 ports, Codex runs with a private offline config.
#
# What it does: creates tests/clients/.venv (git-ignored) and installs requirements.txt unless
# that exact file is already installed there; `npm ci` unless node_modules matches
# package-lock.json; builds `realms` and `fake-upstream` (honours $CARGO_TARGET_DIR); starts
# both with a temp data dir; runs pytest (conftest.py seeds channels, models and a token through
# the admin API); stops both on exit. Exit status is pytest's (non-zero on any failure).
# Server logs are printed when something fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
log() { printf '[clients] %s\n' "$*" >&2; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Python SDKs -------------------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing python3-venv"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        log "python3 has no venv/ensurepip module: install python3-venv"; exit 2
    fi
fi
want="$(stamp_of "$HERE/requirements.txt") $("$PYTHON" -c 'import sys; print(sys.version)' | head -1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.realms-stamp" 2>/dev/null)" != "$want" ]; then
    t0=$SECONDS
    log "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$want" >"$VENV/.realms-stamp"
    log "python SDKs installed in $((SECONDS - t0)) s"
fi

# --- Codex CLI ---------------------------------------------------------------------------------
want="$(stamp_of "$HERE/package-lock.json")"
if [ "$(cat "$HERE/node_modules/.realms-stamp" 2>/dev/null)" != "$want" ]; then
    t0=$SECONDS
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$HERE/node_modules/.realms-stamp"
    log "codex installed in $((SECONDS - t0)) s"
fi
export CODEX_BIN="$HERE/node_modules/.bin/codex"
"$CODEX_BIN" --version </dev/null >/dev/null

# --- Realms and the fake upstream --------------------------------------------------------------
t0=$SECONDS
(cd "$ROOT" && cargo build --quiet -p realms -p fake-upstream)
# The desktop app's client set-up, as a command for test_codex_desktop_setup.py.
(cd "$ROOT" && cargo build --quiet -p e2e --bin client-setup)
TARGET="${CARGO_TARGET_DIR:-$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
log "built in $((SECONDS - t0)) s ($TARGET/debug)"
export CLIENT_SETUP_BIN="$TARGET/debug/client-setup"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/realms-clients.XXXXXX")"
PIDS=()
cleanup() {
    status=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$status" != 0 ]; then
        for f in "$WORK"/*.log; do [ -f "$f" ] && { log "--- tail of $f"; tail -n 40 "$f" >&2; }; done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for a process's log to show its listening address; prints `127.0.0.1:PORT`.
wait_addr() {
    local pid=$1 logf=$2 pattern=$3 addr=""
    for _ in $(seq 300); do
        addr="$(grep -a "$pattern" "$logf" 2>/dev/null | grep -ao '127\.0\.0\.1:[0-9]\+' | head -1 || true)"
        [ -n "$addr" ] && { echo "$addr"; return 0; }
        kill -0 "$pid" 2>/dev/null || { log "process $pid exited early"; return 1; }
        sleep 0.1
    done
    log "no listening address in $logf after 30 s"; return 1
}

"$TARGET/debug/fake-upstream" --addr 127.0.0.1:0 --record >"$WORK/fake.log" 2>&1 &
PIDS+=($!)
FAKE_ADDR="$(wait_addr "${PIDS[0]}" "$WORK/fake.log" "listening")"

mkdir -p "$WORK/data"
ADMIN_KEY="clients-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Run from the temp dir so no stray realms.toml or .env of the checkout is read.
(
    cd "$WORK"
    # Codex token refreshes go to the fake's OAuth issuer; no sign-in listener on port 1455.
    exec env REALMS_CODEX_OAUTH_ISSUER="http://$FAKE_ADDR" REALMS_CODEX_OAUTH_LISTENER=false \
        REALMS_DATA_DIR="$WORK/data" REALMS_ADDR=127.0.0.1:0 REALMS_ADMIN_API_KEY="$ADMIN_KEY" \
        REALMS_SELF_MODE=true REALMS_ROUTING__KEEPALIVE_SECS=1 REALMS_LOG_FORMAT=json \
        REALMS_LOG="${REALMS_LOG:-info}" "$TARGET/debug/realms"
) >"$WORK/realms.log" 2>&1 &
PIDS+=($!)
REALMS_ADDR="$(wait_addr "${PIDS[1]}" "$WORK/realms.log" "realms is listening")"
log "fake upstream on $FAKE_ADDR, realms on $REALMS_ADDR"

# --- the tests ---------------------------------------------------------------------------------
# Loopback only: never through a proxy a machine may have configured.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export REALMS_URL="http://$REALMS_ADDR" FAKE_UPSTREAM_URL="http://$FAKE_ADDR" REALMS_ADMIN_API_KEY="$ADMIN_KEY"
cd "$HERE"
"$VENV/bin/python" -m pytest -p no:cacheprovider -q -ra "$@"
