#!/usr/bin/env bash
# What one tool round costs inside the server, over the tool's own time.
#
# A stand-in provider (OpenAI-compatible, streamed) asks for one call of an
# OpenAPI tool server's operation, then answers in text once it sees the
# result; the tool server answers at once. Both stand-ins run in one Python
# process and stamp each event with the same clock:
#   t0  the provider has sent the last byte of the reply that asks for the call
#   t1  the tool server receives the call
#   t2  the tool server has sent its answer
#   t3  the provider receives the follow-up request with the result
# The server's share of the round is (t1 - t0) + (t3 - t2): decoding the
# call, building and sending the HTTP request, reading the answer, storing
# the output item and sending the next request. Python's own request parsing
# is inside those gaps too, so the figures are an upper bound.
#
#   bench/tool-roundtrip.sh                 # ./open-webui
#   OWUI_BIN=target/release/open-webui TURNS=50 bench/tool-roundtrip.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TURNS=${TURNS:-30}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owui-bench-XXXXXX")
STANDIN_PID=""
trap 'stop_server; [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

require_bin
machine_info
echo "turns=$TURNS"

PROVIDER_PORT=$(free_port)
TOOL_PORT=$(free_port)
python3 - "$PROVIDER_PORT" "$TOOL_PORT" "$WORK/stamps" <<'PY' &
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

provider_port, tool_port, stamps_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
def stamp(name):
    with lock, open(stamps_path, "a") as f:
        f.write(f"{name} {time.perf_counter_ns()}\n")

def chunk(delta, finish=None):
    c = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "bench-gpt",
         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(c)}\n\n".encode()

class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "bench-gpt", "object": "model", "created": 1, "owned_by": "bench"}]}).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if not req.get("stream"):
            body = json.dumps({"id": "t", "object": "chat.completion", "created": 1, "model": "bench-gpt",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}]}).encode()
            self.send_response(200); self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body); return
        followup = any(m.get("role") == "tool" for m in req.get("messages", []))
        if followup:
            stamp("t3")
        out = chunk({"role": "assistant", "content": ""})
        if followup:
            out += chunk({"content": "done"}) + chunk({}, "stop")
        else:
            out += chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                          "function": {"name": "ping", "arguments": "{\"n\": 1}"}}]})
            out += chunk({}, "tool_calls")
        out += b"data: [DONE]\n\n"
        self.send_response(200); self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(out))); self.end_headers()
        self.wfile.write(out); self.wfile.flush()
        if not followup:
            stamp("t0")

DOC = {"openapi": "3.1.0", "info": {"title": "Bench", "version": "1"}, "paths": {"/ping": {"get": {
    "operationId": "ping", "description": "Answers at once",
    "parameters": [{"name": "n", "in": "query", "schema": {"type": "integer"}}]}}}}

class Tool(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_GET(self):
        is_call = self.path.startswith("/ping")
        if is_call:
            stamp("t1")
        body = json.dumps({"pong": True} if is_call else DOC).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body); self.wfile.flush()
        if is_call:
            stamp("t2")

for port, handler in ((provider_port, Provider), (tool_port, Tool)):
    s = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait()
PY
STANDIN_PID=$!

start_server "$WORK/data"
python3 - "$SERVER_PORT" "$PROVIDER_PORT" "$TOOL_PORT" "$TURNS" "$WORK/stamps" <<'PY'
import json, statistics, sys, time, urllib.request
port, provider, tool, turns, stamps_path = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
base = f"http://127.0.0.1:{port}"
def call(path, body=None, token=None):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")
token = call("/api/v1/auths/signup", {"name": "Bench", "email": "bench@example.com", "password": "bench-pw"})["token"]
call("/openai/config/update", {"ENABLE_OPENAI_API": True, "OPENAI_API_BASE_URLS": [f"http://127.0.0.1:{provider}/v1"],
                               "OPENAI_API_KEYS": ["x"], "OPENAI_API_CONFIGS": {}}, token)
call("/api/v1/configs/tool_servers", {"TOOL_SERVER_CONNECTIONS": [{"url": f"http://127.0.0.1:{tool}", "path": "openapi.json",
    "type": "openapi", "auth_type": "none", "key": "", "config": {"enable": True}, "info": {"id": "bench", "name": "Bench"}}]}, token)

walls = []
for i in range(turns):
    history = {"currentId": "a", "messages": {
        "u": {"id": "u", "role": "user", "content": "ping", "timestamp": 1, "models": ["bench-gpt"], "childrenIds": ["a"], "parentId": None},
        "a": {"id": "a", "role": "assistant", "content": "", "parentId": "u", "childrenIds": [], "model": "bench-gpt",
              "modelIdx": 0, "done": False, "timestamp": 2}}}
    chat = call("/api/v1/chats/new", {"chat": {"title": "b", "models": ["bench-gpt"], "history": history}}, token)
    t = time.perf_counter()
    call("/api/chat/completions", {"model": "bench-gpt", "stream": True, "chat_id": chat["id"], "id": "a",
        "tool_ids": ["server:bench"], "messages": [{"role": "user", "content": "ping"}],
        "background_tasks": {"title_generation": False, "tags_generation": False}}, token)
    walls.append((time.perf_counter() - t) * 1000)
    stored = call(f"/api/v1/chats/{chat['id']}", token=token)["chat"]["history"]["messages"]["a"]
    assert stored["content"] == "done", stored

rows = [l.split() for l in open(stamps_path)]
by = {k: [int(v) for n, v in rows if n == k] for k in ("t0", "t1", "t2", "t3")}
assert all(len(v) == turns for v in by.values()), {k: len(v) for k, v in by.items()}
gaps = [((b1 - a0) + (d3 - c2)) / 1e6 for a0, b1, c2, d3 in zip(by["t0"], by["t1"], by["t2"], by["t3"])]
tool_time = [(c2 - b1) / 1e6 for b1, c2 in zip(by["t1"], by["t2"])]
def q(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
gaps, walls = gaps[1:], walls[1:]  # the first turn fetches the tool server's document
print(f"server share of one tool round: p50 {q(gaps, .5):.2f} ms  p90 {q(gaps, .9):.2f} ms  max {max(gaps):.2f} ms")
print(f"tool's own time (stand-in):     p50 {q(tool_time, .5):.2f} ms")
print(f"whole turn (2 model calls + 1 tool call, stored): p50 {q(walls, .5):.2f} ms  p90 {q(walls, .9):.2f} ms")
PY
