#!/usr/bin/env bash
# HTTPS vs plain HTTP throughput on the same data folder with wrk
# (apt-get install wrk): GET /health and GET /api/v1/chats/?page=1 (60 of 80
# chats, ~150 KB of JSON), each first over http://, then over https:// with
# the server's self-signed certificate (TLS 1.3, HTTP/1.1 keep-alive: wrk
# speaks no HTTP/2). Also the /api/v1/chats/ page with Accept-Encoding: gzip
# and br, to see what compression costs per request.
#   bench/https.sh                      # 10 s, 32 connections, 2 threads each
#   DURATION=30s CONNS=64 bench/https.sh
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

# start_tls DATA_DIR: like start_server, with --tls-self-signed
start_tls() {
  local data_dir=$1
  SERVER_PORT=$(free_port)
  (cd "$data_dir/.." && exec "$BIN" serve --host 127.0.0.1 --port "$SERVER_PORT" --data-dir "$data_dir" --tls-self-signed >>"$SERVER_LOG" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    curl -sfk -m 2 "https://127.0.0.1:$SERVER_PORT/health" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited" >&2; return 1; }
    nap 0.05
  done
  echo "no HTTPS /health within 30 s" >&2
  return 1
}

run() { # label, url, [extra wrk args...]
  local label=$1 url=$2
  shift 2
  local out rps p50 p99 tr
  out=$(timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  tr=$(awk '/^Transfer\/sec:/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  printf '%-44s %10s req/s  %10s/s   p50 %8s   p99 %8s\n' "$label" "$rps" "$tr" "$p50" "$p99"
}

start_server "$WORK/data"
base="http://127.0.0.1:$SERVER_PORT"
token=$(curl -sf -m 10 -H 'content-type: application/json' \
  -d '{"name":"Bench Admin","email":"bench@example.com","password":"Passw0rd!x","profile_image_url":""}' \
  "$base/api/v1/auths/signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 - "$base" "$token" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
for i in range(80):
    msgs, prev = {}, None
    for j in range(6):
        mid = f"m{j}"
        msgs[mid] = {"id": mid, "parentId": prev, "childrenIds": [f"m{j+1}"] if j < 5 else [],
                     "role": "user" if j % 2 == 0 else "assistant",
                     "content": f"message {j} of chat {i} " + "lorem ipsum " * 20, "timestamp": 1700000000 + j}
        prev = mid
    chat = {"title": f"Bench chat {i}", "history": {"currentId": "m5", "messages": msgs},
            "messages": list(msgs.values()), "tags": [], "timestamp": 1700000000000}
    req = urllib.request.Request(base + "/api/v1/chats/new", data=json.dumps({"chat": chat}).encode(),
                                 headers={"content-type": "application/json", "authorization": "Bearer " + token})
    urllib.request.urlopen(req, timeout=10).read()
PY
auth=(-H "Authorization: Bearer $token")
page="/api/v1/chats/?page=1"
size=$(curl -sf -m 10 "${auth[@]}" "$base$page" | wc -c)
gz=$(curl -sf -m 10 "${auth[@]}" -H 'Accept-Encoding: gzip' "$base$page" | wc -c)
br=$(curl -sf -m 10 "${auth[@]}" -H 'Accept-Encoding: br' "$base$page" | wc -c)
echo "page $page: $size bytes plain, $gz gzip, $br br"
echo "wrk -t$THREADS -c$CONNS -d$DURATION"
run "http  GET /health" "$base/health"
run "http  GET $page" "$base$page" "${auth[@]}"
run "http  GET $page (gzip)" "$base$page" "${auth[@]}" -H 'Accept-Encoding: gzip'
run "http  GET $page (br)" "$base$page" "${auth[@]}" -H 'Accept-Encoding: br'
stop_server

start_tls "$WORK/data"
base="https://127.0.0.1:$SERVER_PORT"
run "https GET /health" "$base/health"
run "https GET $page" "$base$page" "${auth[@]}"
run "https GET $page (gzip)" "$base$page" "${auth[@]}" -H 'Accept-Encoding: gzip'
run "https GET $page (br)" "$base$page" "${auth[@]}" -H 'Accept-Encoding: br'
echo "server RSS after load: $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(rss_kb "$SERVER_PID")")"
