#!/usr/bin/env bash
# Chat search latency (`GET /api/v1/chats/search?text=…`) on one account with
# CHATS chats of MESSAGES messages each, for one or more server binaries side
# by side on the same data:
#   bench/chat-search.sh                          # ./open-webui
#   bench/chat-search.sh ../old-build/open-webui ./open-webui
# Env: CHATS (500), MESSAGES (10), ROUNDS (30 searches per query).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHATS=${CHATS:-500}
MESSAGES=${MESSAGES:-10}
ROUNDS=${ROUNDS:-30}
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("$BIN")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owui-bench-XXXXXX")
trap 'stop_server; rm -rf "$WORK"' EXIT

machine_info
echo "chats=$CHATS messages=$MESSAGES rounds=$ROUNDS"

# One data folder, filled once with the first binary, copied for the others.
BIN=${BINS[0]}
require_bin
start_server "$WORK/seed/data"
python3 - "$SERVER_PORT" "$CHATS" "$MESSAGES" <<'PY'
import json, sys, urllib.request
port, chats, msgs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = f"http://127.0.0.1:{port}"
def call(path, body, token=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    return json.load(urllib.request.urlopen(req))
tok = call("/api/v1/auths/signup", {"name": "Bench", "email": "bench@example.com", "password": "Bench-pass-1"})["token"]
words = "harbour lighthouse tide kelp heron ferry anchor ПРИВЕТ Мир ΑΘΗΝΑ".split()
for i in range(chats):
    messages, prev = {}, None
    for j in range(msgs):
        mid = f"m{j}"
        text = f"message {j} of chat {i} about {words[(i + j) % len(words)]} and more filler text " * 4
        messages[mid] = {"id": mid, "parentId": prev, "childrenIds": [f"m{j+1}"] if j + 1 < msgs else [],
                         "role": "user" if j % 2 == 0 else "assistant", "content": text, "timestamp": j}
        prev = mid
    call("/api/v1/chats/new", {"chat": {"title": f"Chat {i} {words[i % len(words)]}", "models": ["m"],
                                         "history": {"currentId": prev, "messages": messages}}}, tok)
PY
stop_server

for b in "${BINS[@]}"; do
  BIN=$b
  require_bin
  rm -rf "$WORK/run" && cp -r "$WORK/seed" "$WORK/run"
  start_server "$WORK/run/data"
  python3 - "$SERVER_PORT" "$ROUNDS" "$b" <<'PY'
import json, statistics, sys, time, urllib.parse, urllib.request
port, rounds, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
req = urllib.request.Request(base + "/api/v1/auths/signin",
                             data=json.dumps({"email": "bench@example.com", "password": "Bench-pass-1"}).encode(),
                             headers={"Content-Type": "application/json"})
tok = json.load(urllib.request.urlopen(req))["token"]
for q in ["heron", "привет мир", "no such words here"]:
    url = base + "/api/v1/chats/search?" + urllib.parse.urlencode({"text": q})
    times, hits = [], 0
    for _ in range(rounds):
        r = urllib.request.Request(url, headers={"Authorization": f"Bearer {tok}"})
        t0 = time.perf_counter()
        hits = len(json.load(urllib.request.urlopen(r)))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"{name}: {q!r:24} hits={hits:3} p50={statistics.median(times):7.1f} ms  p90={times[int(len(times)*0.9)-1]:7.1f} ms")
PY
  stop_server
done
