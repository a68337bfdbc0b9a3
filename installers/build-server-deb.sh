#!/usr/bin/env bash
# Builds the headless server's Debian package with cargo-deb and prints its path on the last line:
#   installers/build-server-deb.sh [cargo-deb options...]     e.g. --no-build, --fast
# The package is $CARGO_TARGET_DIR/debian/realms_<workspace version>-1_<arch>.deb (target/debian/
# without CARGO_TARGET_DIR). It is a release build of `-p realms` (~6 min cold on 2 cores).
# INSTALLERS_PGO=1 packages the profile-guided build of scripts/build-pgo instead (an instrumented
# build, a training run and the optimised build: about twice as long); the package is then
# under $CARGO_TARGET_DIR/pgo/use/debian/. Releases are built this way.
# cargo-deb itself is installed from crates.io on first use into $INSTALLERS_TOOLS (default
# /var/tmp/realms-tools, outside the clone so it survives fresh checkouts).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
INSTALLERS_TOOLS=${INSTALLERS_TOOLS:-/var/tmp/realms-tools}
export PATH="${INSTALLERS_TOOLS}/bin:${PATH}"

if ! cargo deb --version 2>/dev/null | grep -q " ${CARGO_DEB_VERSION}\$"; then
  echo "==> installing cargo-deb ${CARGO_DEB_VERSION} into ${INSTALLERS_TOOLS}" >&2
  cargo install cargo-deb --locked --version "=${CARGO_DEB_VERSION}" --root "${INSTALLERS_TOOLS}" >&2
fi

# dpkg-shlibdeps (dpkg-dev) computes the `$auto` library dependencies; without it cargo-deb
# falls back to a guess.
if ! command -v dpkg-shlibdeps >/dev/null; then
  echo "build-server-deb: dpkg-shlibdeps is missing: apt-get install dpkg-dev" >&2
  exit 1
fi

if [ "${INSTALLERS_PGO:-0}" = 1 ]; then
  realms_bin=$(./scripts/build-pgo | tail -n 1)
  # cargo-deb packages the binary it finds in its target directory: the optimised build's
  export CARGO_TARGET_DIR
  CARGO_TARGET_DIR=$(dirname "$(dirname "${realms_bin}")")
  # build-pgo stripped it with LLVM's strip; GNU strip (cargo-deb's) breaks a BOLTed binary
  set -- --no-build --no-strip "$@"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo deb -p realms --locked "$@" | tee "$log" >&2
deb=$(tail -n 1 "$log")
if [ ! -f "$deb" ]; then
  echo "build-server-deb: cargo-deb did not report a package (last line: ${deb})" >&2
  exit 1
fi
echo "$deb"
