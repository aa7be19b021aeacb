#!/usr/bin/env bash
# Start-up time (launch -> first GET /health 200) and idle memory of ./open-webui.
#   bench/startup.sh            # N=20 runs each
#   N=50 bench/startup.sh
# Cold: a fresh, empty data dir every run (database created + migrated).
# Warm: one data dir, already initialised, reused for every run.
# Idle RSS: VmRSS from /proc/<pid>/status after 5 s without requests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin

N=${N:-20}
IDLE_S=${IDLE_S:-5}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owui-bench-XXXXXX")
trap 'stop_server; rm -rf "$WORK"' EXIT

machine_info
echo "binary: $BIN"
echo "runs: $N"

cold=()
for ((i = 1; i <= N; i++)); do
  mkdir -p "$WORK/cold$i"
  start_server "$WORK/cold$i/data"
  cold+=("$STARTUP_MS")
  stop_server
  rm -rf "$WORK/cold$i"
done
echo "startup, fresh data dir (ms): $(printf '%s\n' "${cold[@]}" | stats)"

mkdir -p "$WORK/warm"
start_server "$WORK/warm/data" # initialise it once
stop_server
warm=()
for ((i = 1; i <= N; i++)); do
  start_server "$WORK/warm/data"
  warm+=("$STARTUP_MS")
  stop_server
done
echo "startup, warm data dir (ms):  $(printf '%s\n' "${warm[@]}" | stats)"

start_server "$WORK/warm/data"
sleep "$IDLE_S"
rss=$(rss_kb "$SERVER_PID")
hwm=$(hwm_kb "$SERVER_PID")
threads=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")
stop_server
awk -v r="$rss" -v h="$hwm" -v s="$IDLE_S" -v t="$threads" 'BEGIN {
  printf "idle RSS after %ss: %.1f MiB (VmRSS %d kB; peak VmHWM %.1f MiB; %d threads)\n", s, r / 1024, r, h / 1024, t }'
