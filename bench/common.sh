# Pieces shared by bench/run.sh, bench/ab.sh and bench/instructions.sh (sourced, not run). Expects
# $BENCH, and $LOG_TAG naming the script in its log lines.

# The seeded catalogue and admin key every script uses (seed.py creates them).
# shellcheck disable=SC2034 # read by the scripts that source this file
ADMIN_KEY=bench-admin-key-0123456789abcdef
# shellcheck disable=SC2034
MODEL=bench-model

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Background processes the scripts start, stopped by stop_started at exit.
PIDS=()

# stop_started: stops every process in PIDS and removes $WORK (the scripts' EXIT trap).
stop_started() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "${WORK:?}"
}

# start_fake BIN PORT WORKERS LOG: starts the fake upstream in the background, tracked in PIDS;
# sets FAKE_PID.
start_fake() {
  RUST_LOG=warn "$1" --addr "127.0.0.1:$2" --workers "$3" >"$4" 2>&1 &
  FAKE_PID=$!
  PIDS+=("$FAKE_PID")
}

# wait_http URL: waits up to 15 s for any HTTP answer.
wait_http() {
  for _ in $(seq 150); do
    curl -s -o /dev/null -m 1 "$1" && return 0
    sleep 0.1
  done
  die "$1 did not answer"
}

# wait_started URL PID LOG [SECONDS]: waits up to SECONDS (60) for any HTTP answer from the
# process PID; if it exits first or never answers, shows the end of its LOG and dies.
wait_started() {
  local url=$1 pid=$2 log_file=$3 tries=$((${4:-60} * 10))
  until curl -s -o /dev/null -m 1 "$url"; do
    tries=$((tries - 1))
    if ! kill -0 "$pid" 2>/dev/null || ((tries <= 0)); then
      tail -n 20 "$log_file" >&2
      die "the process behind $url did not start"
    fi
    sleep 0.1
  done
}

# nginx_conf WORKDIR FAKE_PORT NGINX_PORT WORKERS NOFILE: prints nginx.conf for a plain reverse
# proxy in front of the fake.
nginx_conf() {
  sed -e "s#@WORK@#$1#g" -e "s#@FAKE_PORT@#$2#g" -e "s#@NGINX_PORT@#$3#g" \
    -e "s#@WORKERS@#$4#g" -e "s#@NOFILE@#$5#g" "$BENCH/nginx.conf.in"
}

# start_realms BIN DIR PORT ADMIN_KEY LOG [VAR=value ...]: starts Realms in the background from
# the empty directory DIR with a clean environment (no realms.toml, .env or REALMS_* variable of
# the caller is picked up), self mode, data in DIR/data. Sets REALMS_STARTED_PID.
start_realms() {
  local bin=$1 dir=$2 port=$3 key=$4 log=$5
  shift 5
  mkdir -p "$dir"
  (cd "$dir" && exec env -i PATH="$PATH" HOME="$HOME" REALMS_ADDR=127.0.0.1:$port \
    REALMS_DATA_DIR="$dir/data" REALMS_SELF_MODE=true REALMS_ADMIN_API_KEY=$key REALMS_LOG=warn \
    "$@" "$bin" >"$log" 2>&1) &
  REALMS_STARTED_PID=$!
}

# write_bodies DIR MODEL: the chat and stream request bodies. The stream asks for usage itself,
# so Realms forwards the body untouched (it would otherwise add `stream_options.include_usage`,
# re-serialising the JSON).
write_bodies() {
  printf '{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}]}' \
    "$2" >"$1/chat.json"
  printf '{"model":"%s","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello in one short sentence."}]}' \
    "$2" >"$1/stream.json"
}
