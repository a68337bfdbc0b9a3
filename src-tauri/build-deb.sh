#!/usr/bin/env bash
# Builds the desktop .deb with the Tauri bundler and checks it:
#   src-tauri/build-deb.sh            -> prints the path of the .deb
# Release profile (~10 min cold on a 2-core machine, then ~1 min to bundle). Needs the webkit/GTK
# development packages (see README.md), node and npm (the Tauri CLI comes from npm, pinned in
# package-lock.json), and `lintian` for the check. Honours $CARGO_TARGET_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
log() { printf '[deb] %s\n' "$*" >&2; }
cd "$HERE"

want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.realms-stamp 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >node_modules/.realms-stamp
fi

# Debian wants the changelog gzipped under the package's name; the bundler's own `changelog`
# option files it under the product name (with a space), so the package ships this copy.
if ! zcat debian/changelog.gz | cmp -s - debian/changelog; then
    log "debian/changelog.gz is stale: gzip -9n -c debian/changelog > debian/changelog.gz"; exit 1
fi

t0=$SECONDS
npx --no-install tauri build --bundles deb --ci
log "built in $((SECONDS - t0)) s"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
version="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="realms-desktop"))')"
deb="$(ls -t "$TARGET/release/bundle/deb/Realms Desktop_${version}_"*.deb | head -1)"
[ -f "$deb" ] || { log "no .deb under $TARGET/release/bundle/deb"; exit 1; }

dpkg-deb --info "$deb" >&2
dpkg-deb --contents "$deb" >&2
if command -v lintian >/dev/null; then
    # Errors fail the build; warnings are printed for the record.
    lintian --fail-on error --tag-display-limit 0 "$deb" >&2
else
    log "lintian is not installed: apt-get install lintian"; exit 2
fi
log "$(du -h "$deb" | cut -f1) $deb"
echo "$deb"
