#!/usr/bin/env bash
# A/B of Realms builds: two or more `realms` binaries side by side, in front of one fake upstream,
# with nginx as the yardstick, runs interleaved and rotated so every binary sees the same machine
# state. Prints req/s, CPU µs per request (and the fake upstream's and wrk's), the machine's idle
# share during the run, and peak RSS per binary, and each one's ratios to nginx.
# For judging a change quickly; bench/run.sh is the full report.
#
# usage: bench/ab.sh NAME=PATH [NAME=PATH ...]
#   e.g. bench/ab.sh base=/var/tmp/ab/realms-base new=target/release/realms
# NAME=floor:PATH runs core's `floor_proxy` example (hyper's server and Realms' upstream transport
# with nothing else: `cargo build --release -p realms-core --example floor_proxy`) as a target.
# Knobs (environment): DURATION=5, CONCURRENCY="64 256", ROUNDS=2, SCENARIOS="chat stream",
# EVENTS=20, DELAY_MS=0 (pause between a connection's requests: a rate cap, e.g. CONCURRENCY=24
# DELAY_MS=10 for ~2k req/s), PORT_BASE=19100, FAKE_BIN (default
# $CARGO_TARGET_DIR/release/fake-upstream), AB_ENV="VAR=value ..." (extra environment for every
# Realms). Needs wrk, nginx, python3, curl (bench/run.sh installs them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
(($# >= 1)) || { sed -n 2,16p "$0"; exit 2; }

DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-"64 256"}
ROUNDS=${ROUNDS:-2}
SCENARIOS=${SCENARIOS:-"chat stream"}
EVENTS=${EVENTS:-20}
DELAY_MS=${DELAY_MS:-0}
PORT_BASE=${PORT_BASE:-19100}
FAKE_BIN=${FAKE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/fake-upstream}
FAKE_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 2))

py() { python3 "$BENCH/report.py" "$@"; }
LOG_TAG=ab
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"
for tool in wrk nginx python3 curl; do command -v $tool >/dev/null || die "$tool is missing"; done
[[ -x $FAKE_BIN ]] || die "no fake-upstream at $FAKE_BIN"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d /tmp/realms-ab.XXXXXX)
trap stop_started EXIT

start_fake "$FAKE_BIN" "$FAKE_PORT" 1 "$WORK/fake.log"
mkdir -p "$WORK/nginx"
nginx_conf "$WORK/nginx" "$FAKE_PORT" "$NGINX_PORT" "$(nproc)" "$(ulimit -n)" >"$WORK/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$FAKE_PORT/v1/models"
wait_http "http://127.0.0.1:$NGINX_PORT/v1/models"

declare -A PORT PID TOKEN
NAMES=()
i=3
for spec in "$@"; do
  name=${spec%%=*}
  bin=${spec#*=}
  floor=""
  [[ $bin == floor:* ]] && { floor=1; bin=${bin#floor:}; }
  [[ -x $bin ]] || die "$name: no binary at $bin"
  NAMES+=("$name")
  PORT[$name]=$((PORT_BASE + i))
  i=$((i + 1))
  if [[ -n $floor ]]; then
    "$bin" "127.0.0.1:${PORT[$name]}" "http://127.0.0.1:$FAKE_PORT" >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
    PIDS+=("${PID[$name]}")
    wait_http "http://127.0.0.1:${PORT[$name]}/v1/models"
    TOKEN[$name]=unused
    continue
  fi
  # shellcheck disable=SC2086 # AB_ENV is a list of VAR=value words
  start_realms "$bin" "$WORK/$name" "${PORT[$name]}" "$ADMIN_KEY" "$WORK/$name.log" ${AB_ENV:-}
  PID[$name]=$REALMS_STARTED_PID
  PIDS+=("${PID[$name]}")
  wait_http "http://127.0.0.1:${PORT[$name]}/healthz"
  TOKEN[$name]=$(python3 "$BENCH/seed.py" "http://127.0.0.1:${PORT[$name]}" "$ADMIN_KEY" \
    "http://127.0.0.1:$FAKE_PORT" "$MODEL")
  [[ ${TOKEN[$name]} == sk_* ]] || die "$name: seeding did not return a token"
done
sleep 1 # routing snapshots are rebuilt after the catalogue change

write_bodies "$WORK" "$MODEL"

nginx_pids() { echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"; }

# one target scenario c -> appends "target scenario c req/s cpu_us rss_kb errors p50_us p99_us"
# to $WORK/rows
measure() {
  local tgt=$1 scen=$2 c=$3 url pids token="" out=$WORK/out.json rss_file=$WORK/rss
  if [[ $tgt == nginx ]]; then
    url=http://127.0.0.1:$NGINX_PORT
    pids=$(nginx_pids)
  else
    url=http://127.0.0.1:${PORT[$tgt]}
    pids=${PID[$tgt]}
    token=${TOKEN[$tgt]}
  fi
  local first=${pids%% *}
  (while kill -0 "$first" 2>/dev/null; do
    awk '/^VmRSS:/ {print $2}' "/proc/$first/status" 2>/dev/null
    sleep 0.2
  done) >"$rss_file" &
  local sampler=$! t0 t1 f0 f1 i0 i1 wrk_cpu
  # shellcheck disable=SC2086 # $pids is a list of process ids
  t0=$(py ticks $pids)
  f0=$(py ticks "$FAKE_PID")
  i0=$(py idle)
  # bash's `time` gives wrk's own CPU seconds (user + system)
  wrk_cpu=$( { TIMEFORMAT='%3U %3S'; time (BENCH_BODY=$WORK/$scen.json BENCH_TOKEN=$token \
    BENCH_OUT=$out BENCH_DELAY_MS=$DELAY_MS timeout $((DURATION + 30)) wrk -t1 -c"$c" \
    -d"${DURATION}s" --timeout 10s -s "$BENCH/wrk_post.lua" \
    "$url/v1/chat/completions?events=$EVENTS" >/dev/null 2>&1 ||
    echo "wrk exited non-zero ($tgt $scen c=$c)" >&2); } 2>&1 | tail -1)
  # shellcheck disable=SC2086
  t1=$(py ticks $pids)
  f1=$(py ticks "$FAKE_PID")
  i1=$(py idle)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  python3 - "$out" "$tgt" "$scen" "$c" "$((t1 - t0))" "$(sort -n "$rss_file" | tail -1)" \
    "$((f1 - f0))" "$i0" "$i1" "$wrk_cpu" >>"$WORK/rows" <<'EOF'
import json, os, sys
out, tgt, scen, c, ticks, rss, fake_ticks, i0, i1, wrk_cpu = sys.argv[1:]
idle0, total0 = map(int, i0.split())
idle1, total1 = map(int, i1.split())
idle_pct = 100 * (idle1 - idle0) / max(total1 - total0, 1)
wrk_s = sum(map(float, wrk_cpu.split()))
w = json.load(open(out))
n = w["requests"]
errors = sum(w["errors"].values())
per_request = lambda t: int(t) / os.sysconf("SC_CLK_TCK") * 1e6 / max(n, 1)
lat = w["lat_us"]
print(tgt, scen, c, f"{n / (w['duration_us'] / 1e6):.0f}", f"{per_request(ticks):.1f}", rss or 0,
      errors, lat["p50"], lat["p99"], f"{per_request(fake_ticks):.1f}",
      f"{wrk_s * 1e6 / max(n, 1):.1f}", f"{idle_pct:.1f}")
EOF
  log "$(tail -1 "$WORK/rows")"
}

log "load $(cut -d' ' -f1-3 /proc/loadavg); warming up"
for tgt in nginx "${NAMES[@]}"; do
  for scen in $SCENARIOS; do
    DURATION=2 measure "$tgt" "$scen" 32
  done
done
: >"$WORK/rows"
for round in $(seq 1 "$ROUNDS"); do
  targets=(nginx "${NAMES[@]}")
  for scen in $SCENARIOS; do
    for c in $CONCURRENCY; do
      n=${#targets[@]}
      for k in $(seq 0 $((n - 1))); do
        measure "${targets[$(((k + round) % n))]}" "$scen" "$c"
      done
    done
  done
done

python3 - "$WORK/rows" "${NAMES[@]}" <<'EOF'
import statistics, sys
from collections import defaultdict
rows, names = sys.argv[1], sys.argv[2:]
data = defaultdict(list)
for line in open(rows):
    tgt, scen, c, rps, cpu, rss, errors, p50, p99, fake, wrk, idle = line.split()
    data[(tgt, scen, int(c))].append(
        (float(rps), float(cpu), int(rss), int(errors), int(p50), int(p99), float(fake),
         float(wrk), float(idle)))
med = lambda xs: statistics.median(xs)
print("| scenario | c | target | req/s | p50 / p99 ms | CPU µs/req | fake's / wrk's CPU µs/req | machine idle % | peak RSS MB | errors | ÷nginx req/s | ÷nginx CPU |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (tgt, scen, c) in sorted(data, key=lambda k: (k[1], k[2], k[0] != "nginx", k[0])):
    xs = data[(tgt, scen, c)]
    rps, cpu = med([x[0] for x in xs]), med([x[1] for x in xs])
    rss = max(x[2] for x in xs) / 1024
    errs = sum(x[3] for x in xs)
    p50, p99 = med([x[4] for x in xs]) / 1000, med([x[5] for x in xs]) / 1000
    fake = med([x[6] for x in xs])
    wrk, idle = med([x[7] for x in xs]), med([x[8] for x in xs])
    ng = data.get(("nginx", scen, c))
    r_rps = r_cpu = ""
    if ng and tgt != "nginx":
        r_rps = f"{rps / med([x[0] for x in ng]):.2f}"
        r_cpu = f"{cpu / med([x[1] for x in ng]):.2f}"
    rss_s = f"{rss:.1f}" if tgt != "nginx" else "-"
    print(f"| {scen} | {c} | {tgt} | {rps:.0f} | {p50:.3f} / {p99:.3f} | {cpu:.1f} | {fake:.1f} / {wrk:.1f} | {idle:.1f} | {rss_s} | {errs} "
          f"| {r_rps} | {r_cpu} |")
EOF
