#!/usr/bin/env bash
# Realms benchmark: the fake upstream directly, through nginx (plain reverse proxy) and through
# Realms, in one run, interleaved. Loopback only; every load run is bounded in time or count.
# See bench/README.md for what each number means. Writes bench/results/latest.md and keeps the raw
# outputs in bench/results/raw-<date>/ (git-ignored).
#
# Knobs (environment): DURATION=10 (s per load run), CONCURRENCY="1 64 256", ROUNDS=2,
# EVENTS=20, PACE_MS=10, TTFE_N=300, PACED_N=40, RATE_CONNS=24 RATE_DELAY_MS=10 (~2k req/s),
# OPEN_STREAMS=10000 (capped by the fd limit), OPEN_EVENTS=8 OPEN_PACE_MS=2000 OPEN_RAMP=8,
# FAKE_WORKERS=1, NGINX_WORKERS=$(nproc), WRK_THREADS=1, PORT_BASE=18900,
# BENCH_REALMS_BIN / BENCH_FAKE_BIN (binaries to use instead of the fresh build),
# BENCH_REALMS_ENV="VAR=value ..." (extra environment for Realms, e.g. MALLOC_ARENA_MAX=2), SKIP_BUILD=1,
# PGO=1 (measure the profile-guided build the packages ship, from scripts/build-pgo, instead of
# the plain release build), SKIP_INSTALL=1, SKIP_OPEN=1, SKIP_RECORDER=1, PROFILE=1 (syscall counts of nginx and Realms and
# a perf profile of Realms at c=64, if perf works here; PROFILE_SECS=8, KEEP_PERF_DATA=1 keeps
# the perf.data files).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
cd "$ROOT"

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-"1 64 256"}
ROUNDS=${ROUNDS:-2}
EVENTS=${EVENTS:-20}
PACE_MS=${PACE_MS:-10}
TTFE_N=${TTFE_N:-300}
PACED_N=${PACED_N:-40}
RATE_CONNS=${RATE_CONNS:-24}
RATE_DELAY_MS=${RATE_DELAY_MS:-10}
OPEN_STREAMS=${OPEN_STREAMS:-10000}
OPEN_EVENTS=${OPEN_EVENTS:-8}
OPEN_PACE_MS=${OPEN_PACE_MS:-2000}
OPEN_RAMP=${OPEN_RAMP:-8}
FAKE_WORKERS=${FAKE_WORKERS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-$(nproc)}
WRK_THREADS=${WRK_THREADS:-1}
PORT_BASE=${PORT_BASE:-18900}
FAKE_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 2))
REALMS_PORT=$((PORT_BASE + 3))
STAMP=$(date -u +%Y%m%d-%H%M%S)
RAW=$BENCH/results/raw-$STAMP
RESULTS=$RAW/results.jsonl
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
REALMS_BIN=${BENCH_REALMS_BIN:-$BIN/realms}
FAKE_BIN=${BENCH_FAKE_BIN:-$BIN/fake-upstream}
mkdir -p "$RAW" "$RAW/nginx"
: >"$RESULTS"

py() { python3 "$BENCH/report.py" "$@"; }
LOG_TAG=bench
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

# ---------------------------------------------------------------- tools and binaries
if [[ -z ${SKIP_INSTALL:-} ]]; then
  need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || need+=(nginx)
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  if ((${#need[@]})); then
    log "installing ${need[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi
for tool in wrk nginx python3 curl; do command -v $tool >/dev/null || die "$tool is missing"; done

if [[ -z ${SKIP_BUILD:-} ]]; then
  # Symbols and line tables for perf; the code is the same as the shipped release build.
  log "building realms and fake-upstream (release) into $CARGO_TARGET_DIR"
  CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release -q -p realms -p fake-upstream
  if [[ -n ${PGO:-} && -z ${BENCH_REALMS_BIN:-} ]]; then
    log "building the profile-guided realms (scripts/build-pgo), as the packages ship it"
    REALMS_BIN=$(CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
      "$ROOT/scripts/build-pgo" | tail -n 1)
  fi
fi
BUILD=plain
if [[ -n ${BENCH_REALMS_BIN:-} ]]; then
  BUILD=$BENCH_REALMS_BIN
elif [[ -n ${PGO:-} ]]; then
  # with SKIP_BUILD too: the binary an earlier build-pgo left, BOLT-laid-out where it ran
  REALMS_BIN=$CARGO_TARGET_DIR/pgo/bolt/release/realms
  BUILD="profile-guided, BOLT"
  if [[ ! -x $REALMS_BIN ]]; then
    REALMS_BIN=$CARGO_TARGET_DIR/pgo/use/release/realms
    BUILD=profile-guided
  fi
fi
[[ -x $REALMS_BIN && -x $FAKE_BIN ]] || die "no release binaries ($REALMS_BIN, $FAKE_BIN)"

# Raise the fd limit as far as this environment allows (10k streams need 2 fds each in a proxy).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

for port in $FAKE_PORT $NGINX_PORT $REALMS_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then die "port $port is in use (set PORT_BASE)"; fi
done

# ---------------------------------------------------------------- processes
SAMPLER=
cleanup() {
  [[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null || true
  stop_started
}
WORK=$(mktemp -d /tmp/realms-bench.XXXXXX)
trap cleanup EXIT

log "starting fake-upstream on :$FAKE_PORT ($FAKE_WORKERS worker(s))"
start_fake "$FAKE_BIN" "$FAKE_PORT" "$FAKE_WORKERS" "$RAW/fake.log"

log "starting nginx on :$NGINX_PORT ($NGINX_WORKERS workers)"
mkdir -p "$WORK/nginx"
nginx_conf "$WORK/nginx" "$FAKE_PORT" "$NGINX_PORT" "$NGINX_WORKERS" "$NOFILE" >"$RAW/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$RAW/nginx/nginx.conf" -e "$RAW/nginx/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

log "starting realms on :$REALMS_PORT"
# shellcheck disable=SC2086 # BENCH_REALMS_ENV is a list of VAR=value words
start_realms "$REALMS_BIN" "$WORK/realms" "$REALMS_PORT" "$ADMIN_KEY" "$RAW/realms.log" ${BENCH_REALMS_ENV:-}
REALMS_PID=$REALMS_STARTED_PID
PIDS+=("$REALMS_PID")

wait_http "http://127.0.0.1:$FAKE_PORT/v1/models"
wait_http "http://127.0.0.1:$NGINX_PORT/v1/models"
wait_http "http://127.0.0.1:$REALMS_PORT/healthz"
TOKEN=$(python3 "$BENCH/seed.py" "http://127.0.0.1:$REALMS_PORT" "$ADMIN_KEY" \
  "http://127.0.0.1:$FAKE_PORT" "$MODEL")
[[ $TOKEN == sk_* ]] || die "seeding did not return a token"
sleep 1 # the routing snapshot is rebuilt after the catalogue change

nginx_pids() { echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"; }

write_bodies "$WORK" "$MODEL"

# Sanity: each path answers 200 with the same kind of body.
for url in "http://127.0.0.1:$FAKE_PORT" "http://127.0.0.1:$NGINX_PORT" "http://127.0.0.1:$REALMS_PORT"; do
  code=$(curl -s -o "$WORK/probe" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @"$WORK/stream.json" \
    "$url/v1/chat/completions?events=$EVENTS")
  events=$(grep -c '^data:' "$WORK/probe" || true)
  [[ $code == 200 ]] || die "$url answered $code: $(head -c 300 "$WORK/probe")"
  log "probe $url: 200, $events data events"
done

base_url() {
  case $1 in
    direct) echo "http://127.0.0.1:$FAKE_PORT" ;;
    nginx) echo "http://127.0.0.1:$NGINX_PORT" ;;
    realms) echo "http://127.0.0.1:$REALMS_PORT" ;;
  esac
}
target_pids() {
  case $1 in
    direct) echo "$FAKE_PID" ;;
    nginx) nginx_pids ;;
    realms) echo "$REALMS_PID" ;;
  esac
}

start_sampler() { # pid file: samples VmRSS every 200 ms into file
  (while kill -0 "$1" 2>/dev/null; do
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null
    ls "/proc/$1/fd" 2>/dev/null | wc -l >>"$2.fds"
    sleep 0.2
  done) >"$2" &
  SAMPLER=$!
}
stop_sampler() {
  kill "$SAMPLER" 2>/dev/null || true
  wait "$SAMPLER" 2>/dev/null || true
  SAMPLER=
}
max_of() { sort -n "$1" 2>/dev/null | tail -1; }

mem_record() { # label
  read -r rss hwm threads < <(py mem "$REALMS_PID")
  echo "{\"kind\":\"mem\",\"label\":\"$1\",\"rss_kb\":$rss,\"hwm_kb\":$hwm,\"threads\":$threads}" >>"$RESULTS"
}

# run_wrk scenario target conc round [delay_ms] [duration]
run_wrk() {
  local scen=$1 tgt=$2 c=$3 round=$4 delay=${5:-0} dur=${6:-$DURATION}
  local body=$WORK/chat.json query=""
  if [[ $scen == stream ]]; then body=$WORK/stream.json; query="?events=$EVENTS"; fi
  local out=$RAW/wrk-$scen-c$c-$tgt-r$round.json
  local pids threads=$WRK_THREADS
  pids=$(target_pids "$tgt")
  ((c < threads)) && threads=$c
  local t0 f0
  t0=$(py ticks $pids)
  f0=$(py ticks "$FAKE_PID")
  [[ $tgt == realms ]] && start_sampler "$REALMS_PID" "$RAW/rss-$scen-c$c-r$round"
  BENCH_BODY=$body BENCH_TOKEN=$TOKEN BENCH_OUT=$out BENCH_DELAY_MS=$delay \
    timeout $((dur + 30)) wrk -t"$threads" -c"$c" -d"${dur}s" --timeout 10s \
    -s "$BENCH/wrk_post.lua" "$(base_url "$tgt")/v1/chat/completions$query" \
    >"$out.log" 2>&1 || log "wrk exited non-zero ($scen $tgt c=$c)"
  local t1 f1 rss=null hwm=null
  t1=$(py ticks $pids)
  f1=$(py ticks "$FAKE_PID")
  if [[ $tgt == realms ]]; then
    stop_sampler
    rss=$(max_of "$RAW/rss-$scen-c$c-r$round")
    read -r _ hwm _ < <(py mem "$REALMS_PID")
  fi
  [[ -s $out ]] || die "wrk wrote no result for $scen $tgt c=$c (see $out.log)"
  local cpu=$((t1 - t0))
  [[ $tgt == direct ]] && cpu=null # the target is the fake itself; its CPU is fake_ticks
  local kind=wrk
  ((round == 0)) && kind=profile # the profiled run is not part of the table
  echo "{\"kind\":\"$kind\",\"scenario\":\"$scen\",\"target\":\"$tgt\",\"c\":$c,\"round\":$round,\"delay_ms\":$delay,\"cpu_ticks\":$cpu,\"fake_ticks\":$((f1 - f0)),\"rss_max_kb\":${rss:-null},\"hwm_kb\":${hwm:-null},\"wrk\":$(cat "$out")}" >>"$RESULTS"
  log "$scen c=$c $tgt: $(py summary "$out")"
}

rotate() { # round -> target order, so no target always runs first
  case $(($1 % 3)) in
    0) echo "direct nginx realms" ;;
    1) echo "nginx realms direct" ;;
    2) echo "realms direct nginx" ;;
  esac
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat >>"$RESULTS" <<EOF
{"kind":"meta","date":"$(date -u '+%Y-%m-%d %H:%M UTC')","machine":"$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)","loadavg":"$LOAD","rounds":$ROUNDS,"duration":$DURATION,"wrk_threads":$WRK_THREADS,"fake_workers":$FAKE_WORKERS,"nginx_workers":$NGINX_WORKERS,"commit":"$COMMIT","build":"$BUILD","events":$EVENTS,"pace_ms":$PACE_MS,"paced_events":$EVENTS,"open_events":$OPEN_EVENTS,"open_pace_ms":$OPEN_PACE_MS,"open_ramp":$OPEN_RAMP,"nofile":$NOFILE}
EOF

mem_record "idle (started, seeded)"

log "warming up (3 s per target and scenario)"
for tgt in direct nginx realms; do
  for scen in chat stream; do
    BENCH_BODY=$WORK/$scen.json BENCH_TOKEN=$TOKEN BENCH_OUT=$RAW/warmup-$tgt-$scen.json \
      timeout 30 wrk -t1 -c32 -d3s -s "$BENCH/wrk_post.lua" \
      "$(base_url $tgt)/v1/chat/completions?events=$EVENTS" >/dev/null 2>&1 || true
    [[ -s $RAW/warmup-$tgt-$scen.json ]] &&
      echo "{\"kind\":\"warmup\",\"target\":\"$tgt\",\"wrk\":$(cat "$RAW/warmup-$tgt-$scen.json")}" >>"$RESULTS"
  done
done

CLIENT_REQUESTS=0
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  for scen in chat stream; do
    for c in $CONCURRENCY; do
      for tgt in $(rotate "$round"); do run_wrk "$scen" "$tgt" "$c" "$round"; done
    done
  done
  for tgt in $(rotate "$round"); do run_wrk rate "$tgt" "$RATE_CONNS" "$round" "$RATE_DELAY_MS"; done
  for tgt in $(rotate "$round"); do
    python3 "$BENCH/sse_client.py" seq --url "$(base_url "$tgt")/v1/chat/completions?events=$EVENTS" \
      --token "$TOKEN" --body "$WORK/stream.json" -n "$TTFE_N" --warmup 20 >"$RAW/ttfe-$tgt-r$round.json"
    echo "{\"kind\":\"seq\",\"scenario\":\"ttfe\",\"target\":\"$tgt\",\"round\":$round,\"res\":$(cat "$RAW/ttfe-$tgt-r$round.json")}" >>"$RESULTS"
    python3 "$BENCH/sse_client.py" seq \
      --url "$(base_url "$tgt")/v1/chat/completions?events=$EVENTS&pace_ms=$PACE_MS" \
      --token "$TOKEN" --body "$WORK/stream.json" -n "$PACED_N" --warmup 3 >"$RAW/paced-$tgt-r$round.json"
    echo "{\"kind\":\"seq\",\"scenario\":\"paced\",\"target\":\"$tgt\",\"round\":$round,\"res\":$(cat "$RAW/paced-$tgt-r$round.json")}" >>"$RESULTS"
    log "ttfe/paced $tgt done"
  done
done
mem_record "after the load runs"

# ---------------------------------------------------------------- profile (optional)
SYSCALLS="read write writev readv recvfrom sendto recvmsg sendmsg epoll_wait epoll_ctl futex accept4 connect close pwrite64 fsync fdatasync getrandom sched_yield"
syscall_run() { # scenario target: syscalls and context switches per request at c=64
  local scen=$1 tgt=$2 events="context-switches" sc
  for sc in $SYSCALLS; do events+=",syscalls:sys_enter_$sc"; done
  perf stat -x, -e "$events" -p "$(target_pids "$tgt" | xargs | tr ' ' ',')" \
    -o "$RAW/syscalls-$scen-$tgt.csv" -- sleep "$PROFILE_SECS" >/dev/null 2>&1 &
  local perf_pid=$!
  sleep 0.2
  run_wrk "$scen" "$tgt" 64 0 0 "$PROFILE_SECS"
  wait "$perf_pid" || true
  python3 - "$RAW/syscalls-$scen-$tgt.csv" "$RAW/wrk-$scen-c64-$tgt-r0.json" "$scen" "$tgt" >>"$RESULTS" <<'EOF2'
import json, sys
counts = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        counts[f[2].replace("syscalls:sys_enter_", "")] = float(f[0])
reqs = json.load(open(sys.argv[2]))["requests"]
print(json.dumps({"kind": "syscalls", "scenario": sys.argv[3], "target": sys.argv[4],
                  "requests": reqs, "counts": counts}))
EOF2
}
profile_run() { # scenario: perf record of Realms during one c=64 run of that scenario
  local scen=$1 data=$RAW/perf-$1.data
  log "profiling realms during a ${PROFILE_SECS}s $scen run at c=64 (perf, cpu-clock, dwarf)"
  perf record -e cpu-clock -F 499 --call-graph dwarf,65528 -p "$REALMS_PID" -o "$data" \
    -- sleep "$PROFILE_SECS" >"$RAW/perf-$scen.log" 2>&1 &
  local perf_pid=$!
  sleep 0.2
  run_wrk "$scen" realms 64 0 0 "$PROFILE_SECS"
  wait "$perf_pid" || true
  perf script -i "$data" -F comm,tid,ip,sym,dso --no-inline 2>/dev/null \
    | python3 "$BENCH/perf_buckets.py" >"$RAW/perf-$scen.md" || true
  [[ -n ${KEEP_PERF_DATA:-} ]] || rm -f "$data" # ~20 MB a second of profile
}
if [[ -n ${PROFILE:-} ]] && perf stat -e context-switches true >/dev/null 2>&1; then
  PROFILE_SECS=${PROFILE_SECS:-8}
  for scen in stream chat; do
    for tgt in nginx realms; do syscall_run "$scen" "$tgt"; done
    profile_run "$scen"
  done
fi

# ---------------------------------------------------------------- concurrent open streams
if [[ -z ${SKIP_OPEN:-} ]]; then
  # A proxy holds two sockets per stream (client + upstream), so the fd limit caps the count.
  cap=$(((NOFILE - 200) / 2))
  n=$OPEN_STREAMS
  if ((n > cap)); then
    log "fd limit $NOFILE allows $cap proxied streams; running $cap instead of $n"
    n=$cap
  fi
  for tgt in direct realms; do
    pid=$(target_pids "$tgt")
    log "opening $n paced streams against $tgt over ${OPEN_RAMP}s"
    start_sampler "$pid" "$RAW/open-$tgt"
    timeout $((OPEN_RAMP + OPEN_EVENTS * OPEN_PACE_MS / 1000 + 120)) \
      python3 "$BENCH/sse_client.py" open \
      --url "$(base_url "$tgt")/v1/chat/completions?events=$OPEN_EVENTS&pace_ms=$OPEN_PACE_MS" \
      --token "$TOKEN" --body "$WORK/stream.json" -n "$n" --ramp "$OPEN_RAMP" \
      --expect-events "$OPEN_EVENTS" --timeout 90 >"$RAW/open-$tgt.json" || log "open streams client failed"
    stop_sampler
    [[ -s $RAW/open-$tgt.json ]] || die "open streams against $tgt wrote no result"
    echo "{\"kind\":\"open\",\"target\":\"$tgt\",\"rss_max_kb\":$(max_of "$RAW/open-$tgt"),\"fds_max\":$(max_of "$RAW/open-$tgt.fds"),\"res\":$(cat "$RAW/open-$tgt.json")}" >>"$RESULTS"
    log "open $tgt: $(cat "$RAW/open-$tgt.json" | head -c 300)"
    sleep 2
  done
fi

# ---------------------------------------------------------------- usage rows
sleep 2 # the recorder writes in batches as the queue fills; give the last one a moment
DB=$WORK/realms/data/realms.db
if [[ -f $DB ]]; then
  rows=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("select count(*) from usage_events").fetchone()[0])' "$DB")
  CLIENT_REQUESTS=$(python3 - "$RESULTS" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("target") != "realms":
        continue
    if r["kind"] in ("wrk", "profile", "warmup"):
        n += r["wrk"]["requests"]
    elif r["kind"] == "seq":
        n += r["res"]["requests"] + r["res"]["warmup"]
    elif r["kind"] == "open":
        n += r["res"]["streams"]
print(n + 1)  # + the probe
EOF
)
  echo "{\"kind\":\"rows\",\"rows\":$rows,\"client_requests\":$CLIENT_REQUESTS}" >>"$RESULTS"
fi

# ---------------------------------------------------------------- recorder throughput
if [[ -z ${SKIP_RECORDER:-} ]]; then
  log "cargo bench --bench usage_recorder (criterion)"
  # Same profile overrides as the build above, so the release artifacts are reused.
  (cd "$ROOT" && CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo bench -q -p realms-core --bench usage_recorder -- --noplot) \
    >"$RAW/recorder.log" 2>&1 || log "recorder bench failed (see $RAW/recorder.log)"
  for pair in "recorder/20000_records:20000:1" "insert_batch/2048_rows:2048:0"; do
    IFS=: read -r name n headline <<<"$pair"
    est=$CARGO_TARGET_DIR/criterion/$name/new/estimates.json
    if [[ -f $est ]]; then
      res=$(py criterion "$est" "$n")
      echo "{\"kind\":\"recorder\",\"name\":\"$name\",\"headline\":$([[ $headline == 1 ]] && echo true || echo false),${res:1}" >>"$RESULTS"
    fi
  done
fi

py render "$RAW" >"$RAW/report.md"
cp "$RAW/report.md" "$BENCH/results/latest.md"
cat "$BENCH/results/latest.md"
log "raw outputs: $RAW"
