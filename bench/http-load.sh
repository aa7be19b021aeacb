#!/usr/bin/env bash
# HTTP throughput / latency on loopback with wrk (apt-get install wrk).
#   bench/http-load.sh                 # 10 s, 32 connections, 2 threads per endpoint
#   DURATION=30s CONNS=64 bench/http-load.sh
# Note: wrk and the server share the machine's cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin
command -v wrk >/dev/null 2>&1 || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owui-bench-XXXXXX")
trap 'stop_server; rm -rf "$WORK"' EXIT

machine_info
start_server "$WORK/data"
base="http://127.0.0.1:$SERVER_PORT"
echo "server: $base (pid $SERVER_PID), wrk -t$THREADS -c$CONNS -d$DURATION"

# one admin, so that an authenticated endpoint can be measured too
token=$(curl -sf -m 10 -H 'content-type: application/json' \
  -d '{"name":"Bench Admin","email":"bench@example.com","password":"Passw0rd!x","profile_image_url":""}' \
  "$base/api/v1/auths/signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || token=""

run() { # label, path, [extra wrk args...]
  local label=$1 path=$2
  shift 2
  local out
  out=$(timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$base$path")
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$label" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

run "GET /health" /health
run "GET /api/version" /api/version
run "GET /api/config (anonymous)" /api/config
if [ -n "$token" ]; then
  run "GET /api/config (Bearer)" /api/config -H "Authorization: Bearer $token"
  run "GET /api/v1/auths/ (Bearer)" /api/v1/auths/ -H "Authorization: Bearer $token"
fi
run "GET / (index.html)" / -H "Accept-Encoding: gzip, br"
echo "server RSS after load: $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(rss_kb "$SERVER_PID")") (peak $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(hwm_kb "$SERVER_PID")"))"
