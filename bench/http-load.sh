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
MOCK_PID=""
trap 'stop_server; [ -z "$MOCK_PID" ] || kill "$MOCK_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

machine_info
# A mock OpenAI-compatible provider (20 models) so that /api/models has something
# to merge; the driver of bench/chat-load.sh serves it.
(cd "$REPO_ROOT" && cargo build --release --quiet --example chat_load)
target_dir=$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
"$target_dir/release/examples/chat_load" --mock-only >"$WORK/mock.out" 2>&1 &
MOCK_PID=$!
mock_url=""
for _ in $(seq 1 100); do
  mock_url=$(sed -n 's/^MOCK_URL=//p' "$WORK/mock.out")
  [ -n "$mock_url" ] && break
  nap 0.05
done
[ -n "$mock_url" ] || { echo "mock provider did not start" >&2; exit 1; }
export ENABLE_OPENAI_API=true OPENAI_API_BASE_URL="$mock_url" OPENAI_API_BASE_URLS="$mock_url" OPENAI_API_KEY=x OPENAI_API_KEYS=x
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
  # CHATS chats of 6 messages each (default 80, so the first page of 60 is
  # full); MORE_CHATS (default 2000) measures the same page again once that
  # many are stored, since the sidebar must not get slower as history grows.
  add_chats() { # from, to
    python3 - "$base" "$token" "$1" "$2" <<'PY'
import json, sys, urllib.request
base, token, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(start, end):
    msgs = {}
    prev = None
    for j in range(6):
        mid = f"m{j}"
        msgs[mid] = {"id": mid, "parentId": prev, "childrenIds": [f"m{j+1}"] if j < 5 else [],
                     "role": "user" if j % 2 == 0 else "assistant",
                     "content": f"message {j} of chat {i} " + "lorem ipsum " * 20, "timestamp": 1700000000 + j}
        prev = mid
    chat = {"title": f"Bench chat {i}", "models": ["load-model"], "history": {"currentId": "m5", "messages": msgs},
            "messages": list(msgs.values()), "tags": [], "timestamp": 1700000000000}
    req = urllib.request.Request(base + "/api/v1/chats/new", data=json.dumps({"chat": chat}).encode(),
                                 headers={"content-type": "application/json", "authorization": "Bearer " + token})
    urllib.request.urlopen(req, timeout=10).read()
PY
  }
  CHATS=${CHATS:-80}
  MORE_CHATS=${MORE_CHATS:-2000}
  add_chats 0 "$CHATS"
  run "GET /api/v1/chats/?page=1 (60 of $CHATS)" "/api/v1/chats/?page=1" -H "Authorization: Bearer $token"
  run "GET /api/models (20 upstream models)" /api/models -H "Authorization: Bearer $token"
  if [ "$MORE_CHATS" -gt "$CHATS" ]; then
    add_chats "$CHATS" "$MORE_CHATS"
    run "GET /api/v1/chats/?page=1 (60 of $MORE_CHATS)" "/api/v1/chats/?page=1" -H "Authorization: Bearer $token"
  fi
fi
run "GET / (index.html)" / -H "Accept-Encoding: gzip, br"
echo "server RSS after load: $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(rss_kb "$SERVER_PID")") (peak $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(hwm_kb "$SERVER_PID")"))"
