#!/usr/bin/env bash
# Rebuilds the console from the committed lockfile and fails when the committed `ui/dist` differs
# from what the sources produce (CI calls this; `cargo build` embeds `ui/dist` without Node).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
if ! git diff --exit-code --stat -- dist || [ -n "$(git status --porcelain --untracked-files=all -- dist)" ]; then
  git status --short -- dist
  echo "ui/dist is out of date: run 'npm ci && npm run build' in ui/ and commit ui/dist" >&2
  exit 1
fi
echo "ui/dist matches the sources"
