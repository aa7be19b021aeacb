# shellcheck shell=bash
# Helpers shared by the bench/*.sh scripts (sourced, not executed).
# Everything binds to 127.0.0.1; every wait loop is bounded.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
BIN="${OWUI_BIN:-$REPO_ROOT/open-webui}"
export WEBUI_SECRET_KEY="${WEBUI_SECRET_KEY:-bench-secret}"
# no model provider on a closed network: keep the server from reaching out
export ENABLE_OLLAMA_API="${ENABLE_OLLAMA_API:-false}"
export ENABLE_OPENAI_API="${ENABLE_OPENAI_API:-false}"
export OFFLINE_MODE="${OFFLINE_MODE:-true}"
export ENABLE_VERSION_UPDATE_CHECK="${ENABLE_VERSION_UPDATE_CHECK:-false}"
export RUST_LOG="${RUST_LOG:-warn}"

require_bin() {
  if [ ! -x "$BIN" ]; then
    echo "no server binary at $BIN (run ./install.sh first, or set OWUI_BIN)" >&2
    exit 1
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A builtin sub-millisecond sleep (no process spawn): read with a timeout on a
# pipe that never gets data.
exec {_BENCH_SLEEP_FD}<> <(:)
nap() { read -r -t "${1:-0.001}" -u "$_BENCH_SLEEP_FD" _ || true; }

now_ms() { # wall clock in ms with µs precision, from bash's EPOCHREALTIME
  local t=${EPOCHREALTIME/[.,]/}
  echo "$((t / 1000)).$(printf '%03d' $((t % 1000)))"
}

# health_ok PORT -> 0 if GET /health answers 200 (pure bash, one TCP connection)
health_ok() {
  local port=$1 line=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd" 2>/dev/null || { exec {fd}>&-; return 1; }
  read -r -t 2 -u "$fd" line || true
  exec {fd}>&-
  [[ $line == "HTTP/1."?" 200"* ]]
}

SERVER_PID=""
SERVER_PORT=""
SERVER_LOG="${SERVER_LOG:-/dev/null}"

# start_server DATA_DIR -> sets SERVER_PID, SERVER_PORT; STARTUP_MS = launch -> first /health 200
start_server() {
  local data_dir=$1 timeout_s=${2:-30}
  mkdir -p "$data_dir"
  SERVER_PORT=$(free_port)
  local t0 t1 deadline
  t0=${EPOCHREALTIME/[.,]/}
  (cd "$data_dir/.." && exec "$BIN" serve --host 127.0.0.1 --port "$SERVER_PORT" --data-dir "$data_dir" >>"$SERVER_LOG" 2>&1) &
  SERVER_PID=$!
  deadline=$((t0 + timeout_s * 1000000))
  while :; do
    if health_ok "$SERVER_PORT"; then
      t1=${EPOCHREALTIME/[.,]/}
      STARTUP_MS=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1000 }')
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited before answering /health" >&2
      SERVER_PID=""
      return 1
    fi
    if [ "${EPOCHREALTIME/[.,]/}" -gt "$deadline" ]; then
      echo "no /health 200 within ${timeout_s}s" >&2
      stop_server
      return 1
    fi
    nap 0.001
  done
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    nap 0.05
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

rss_kb() { # VmRSS of a pid in kB
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
hwm_kb() { # VmHWM (peak RSS) of a pid in kB
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# stats < numbers  -> "n= min= median= p90= max=" (nearest-rank percentiles)
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n=0"; exit }
    p50 = v[int((NR + 1) / 2)]; i90 = int(NR * 0.9 + 0.999999); if (i90 < 1) i90 = 1; if (i90 > NR) i90 = NR
    printf "n=%d min=%.1f median=%.1f p90=%.1f max=%.1f\n", NR, v[1], p50, v[i90], v[NR] }'
}

machine_info() {
  echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/^MemTotal:/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
}
