#!/usr/bin/env bash
# Instructions per request: Realms under valgrind's callgrind, in front of the fake upstream, for
# a fixed wrk run. Instruction counts do not move with the machine's load (req/s and CPU µs do,
# a lot, on these shared 2-core machines), so this is the number to compare two builds by when
# a change is a few percent. User space only: the kernel's share (about half of Realms' CPU at
# c=64) is not counted.
#
# usage: bench/instructions.sh NAME=PATH [NAME=PATH ...]
#   e.g. bench/instructions.sh base=/var/tmp/ab/realms-base new=target/release/realms
# Knobs (environment): SCENARIO=chat|stream, SECONDS_RUN=20, CONNECTIONS=8, LINGER_MS=100 (the
# recorder's sleep between looks at its queue: under callgrind a request takes ~50x longer, so
# 5 ms would write batches of a few rows in builds before the recorder's batch_min_rows; 100 ms,
# which is also the default batch_max_delay_ms, gives every build batches of ~180 rows),
# PORT_BASE=19500, FAKE_BIN (default $CARGO_TARGET_DIR/release/fake-upstream). Needs valgrind,
# wrk, python3, curl. A build with symbols names the functions in the profile
# (CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only); the counts
# need none. Each run leaves its profiles in $OUT, one per thread (callgrind_annotate reads them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
(($# >= 1)) || { sed -n 2,16p "$0"; exit 2; }

SCENARIO=${SCENARIO:-chat}
SECONDS_RUN=${SECONDS_RUN:-20}
CONNECTIONS=${CONNECTIONS:-8}
LINGER_MS=${LINGER_MS:-100}
PORT_BASE=${PORT_BASE:-19500}
FAKE_BIN=${FAKE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/fake-upstream}
OUT=${OUT:-$(mktemp -d /tmp/realms-instructions.XXXXXX)}
mkdir -p "$OUT"
FAKE_PORT=$((PORT_BASE + 1))
REALMS_PORT=$((PORT_BASE + 2))

LOG_TAG=instructions
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"
for tool in valgrind callgrind_control callgrind_annotate wrk python3 curl; do
  command -v $tool >/dev/null || die "$tool is missing"
done
[[ -x $FAKE_BIN ]] || die "no fake-upstream at $FAKE_BIN"

WORK=$(mktemp -d /tmp/realms-instr-work.XXXXXX)
trap stop_started EXIT

start_fake "$FAKE_BIN" "$FAKE_PORT" 1 "$WORK/fake.log"
wait_http "http://127.0.0.1:$FAKE_PORT/v1/models"
write_bodies "$WORK" "$MODEL"

# load SECONDS OUT_JSON TOKEN: one wrk run against Realms
load() {
  BENCH_BODY=$WORK/$SCENARIO.json BENCH_TOKEN=$3 BENCH_OUT=$2 \
    wrk -t1 -c"$CONNECTIONS" -d"$1s" --timeout 30s -s "$BENCH/wrk_post.lua" \
    "http://127.0.0.1:$REALMS_PORT/v1/chat/completions?events=20" >/dev/null 2>&1 ||
    die "wrk failed"
}

# Inclusive instructions of the first profile line naming $2, from annotated profile $1.
inclusive() {
  awk -v pat="$2" 'index($0, pat) {gsub(",", "", $1); print $1; exit}' "$1"
}

printf '| build | requests | instructions/request | serving threads | rest (usage recorder, main runtime) |\n'
printf '|---|---|---|---|---|\n'
for spec in "$@"; do
  name=${spec%%=*}
  bin=${spec#*=}
  [[ -x $bin ]] || die "$name: no binary at $bin"
  profile=$OUT/$name.callgrind
  rm -f "$profile"*
  mkdir -p "$WORK/$name"
  # start_realms runs `env VARS... EXTRA... BIN`: the words after the variables make env run
  # valgrind, with Realms as its program. One serving thread: callgrind runs one at a time.
  start_realms "$bin" "$WORK/$name" "$REALMS_PORT" "$ADMIN_KEY" "$WORK/$name.log" \
    REALMS_USAGE__BATCH_LINGER_MS="$LINGER_MS" REALMS_SERVE_THREADS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$profile" --dump-line=no --separate-threads=yes
  pid=$REALMS_STARTED_PID
  PIDS+=("$pid")
  # under valgrind a start takes a while
  wait_started "http://127.0.0.1:$REALMS_PORT/healthz" "$pid" "$WORK/$name.log" 120
  token=$(python3 "$BENCH/seed.py" "http://127.0.0.1:$REALMS_PORT" "$ADMIN_KEY" \
    "http://127.0.0.1:$FAKE_PORT" "$MODEL")
  [[ $token == sk_* ]] || die "$name: seeding did not return a token"
  sleep 2 # routing snapshots are rebuilt after the catalogue change
  load 3 "$WORK/warm.json" "$token"
  sleep 1
  callgrind_control -z "$pid" >/dev/null 2>&1 || callgrind_control -z >/dev/null
  load "$SECONDS_RUN" "$WORK/run.json" "$token"
  sleep $((LINGER_MS / 1000 + 2)) # the recorder writes the run's last batch
  callgrind_control -d "$pid" >/dev/null 2>&1 || callgrind_control -d >/dev/null
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  requests=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['requests'])" \
    "$WORK/run.json")
  # one profile per thread (`NAME.callgrind.1-NN`); a thread that ran the serving loop is a
  # serving thread. Counting whole threads keeps the split exact: inclusive counts of functions
  # already running when the counters were zeroed are not.
  total=0
  serving=0
  for part in "$profile".1-*; do
    # every function, not only those above callgrind_annotate's default 99% threshold
    callgrind_annotate --threshold=100 --inclusive=yes --auto=no "$part" >"$part.txt" 2>/dev/null
    count=$(inclusive "$part.txt" "PROGRAM TOTALS")
    total=$((total + ${count:-0}))
    if grep -qF "serving::serve_thread" "$part.txt"; then
      serving=$((serving + ${count:-0}))
    fi
  done
  if ((serving > 0)); then
    serving_per=$((serving / requests))
    rest_per=$(((total - serving) / requests))
  else
    serving_per="– (no symbols)"
    rest_per="–"
  fi
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$requests" "$((total / requests))" \
    "$serving_per" "$rest_per"
done
log "profiles in $OUT, one per thread (callgrind_annotate --threshold=100 --inclusive=yes $OUT/NAME.callgrind.1-NN)"
