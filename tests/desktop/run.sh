#!/usr/bin/env bash
# Smoke test of the desktop app (src-tauri) on Linux: builds it, starts it under Xvfb in a private
# D-Bus session and drives it from tests/desktop/smoke.py (what is checked is listed there).
#
#   tests/desktop/run.sh
#
# Needs: cargo (the repo's toolchain), python3, node 18+ and npm (for the Codex CLI of
# tests/clients), and the webkit/GTK development packages, Xvfb and dbus. Run as root with apt, it
# installs the missing packages itself (DEPENDENCIES.md's list). Debug build: cold it took 23 min
# on a shared 2-core machine, warm seconds; the test itself runs in ~30 s.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
log() { printf '[desktop] %s\n' "$*" >&2; }

# --- system packages ---------------------------------------------------------------------------
PACKAGES=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev
    libjavascriptcoregtk-4.1-dev build-essential libssl-dev libxdo-dev patchelf file pkg-config
    libdbus-1-dev xvfb xauth dbus dbus-x11)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        t0=$SECONDS
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        log "packages installed in $((SECONDS - t0)) s"
    else
        log "missing packages: ${missing[*]} (install them as root)"; exit 2
    fi
fi

# --- the Codex CLI (the same npm install as tests/clients) ----------------------------------------
CLIENTS="$ROOT/tests/clients"
want="$(sha256sum "$CLIENTS/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$CLIENTS/node_modules/.realms-stamp" 2>/dev/null)" != "$want" ]; then
    (cd "$CLIENTS" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$CLIENTS/node_modules/.realms-stamp"
fi
export CODEX_BIN="$CLIENTS/node_modules/.bin/codex"

# --- binaries ----------------------------------------------------------------------------------
t0=$SECONDS
(cd "$ROOT" && cargo build --locked --quiet -p realms-desktop -p realms -p fake-upstream)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
log "built in $((SECONDS - t0)) s ($TARGET/debug)"
export DESKTOP_BIN="$TARGET/debug/realms-desktop" SERVER_BIN="$TARGET/debug/realms" \
    FAKE_BIN="$TARGET/debug/fake-upstream"

# --- a private X display -----------------------------------------------------------------------
DISPLAY_FILE="$(mktemp)"
exec 3>"$DISPLAY_FILE"
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp >/dev/null 2>&1 &
XVFB_PID=$!
exec 3>&-
trap 'kill "$XVFB_PID" 2>/dev/null || true; rm -f "$DISPLAY_FILE"' EXIT
for _ in $(seq 100); do [ -s "$DISPLAY_FILE" ] && break; sleep 0.05; done
[ -s "$DISPLAY_FILE" ] || { log "Xvfb did not start"; exit 1; }
export DISPLAY_FOR_TEST=":$(head -1 "$DISPLAY_FILE")"
log "Xvfb on $DISPLAY_FOR_TEST"

# Loopback only: never through a proxy a machine may have configured.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
python3 "$HERE/smoke.py"
