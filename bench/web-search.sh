#!/usr/bin/env bash
# What one web search costs inside the server, over the stand-ins' own time.
#
# A Python stand-in plays the external search engine (answering 5 results at
# once) and the 5 web pages the results link to (each a small HTML page,
# answered at once). Each run posts one query to
# /api/v1/retrieval/process/web/search, so the server asks the engine, loads
# the 5 pages through its guarded fetcher (local fetches allowed for the
# stand-ins) and extracts their text. The wall time of that request is
# reported for two modes:
#   whole      BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL on: pages returned whole
#   embedded   the pages chunked and embedded into the search's collection with
#              the server's embedding engine (the bundled local model by
#              default; skipped when it is not available)
# The stand-ins answer in well under a millisecond, so the figures are the
# latency web search adds to a chat turn, minus the provider's own time.
#
#   bench/web-search.sh                      # ./open-webui
#   OWUI_BIN=target/release/open-webui RUNS=30 bench/web-search.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owui-bench-XXXXXX")
STANDIN_PID=""
trap 'stop_server; [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

require_bin
machine_info
echo "runs=$RUNS results=5"

STANDIN_PORT=$(free_port)
python3 - "$STANDIN_PORT" <<'PY' &
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
base = f"http://127.0.0.1:{port}"
PAGE = ("<html><head><title>Page {n}</title></head><body><h1>Page {n}</h1>"
        + "<p>Harbour notes for page {n}: tides, ferries and berths. </p>" * 40
        + "</body></html>")

class StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def answer(self, body, kind):
        self.send_response(200); self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        results = [{"link": f"{base}/page/{n}", "title": f"Page {n}", "snippet": f"about page {n}"}
                   for n in range(1, 6)]
        self.answer(json.dumps(results).encode(), "application/json")
    def do_GET(self):
        n = self.path.rsplit("/", 1)[-1]
        self.answer(PAGE.replace("{n}", n).encode(), "text/html; charset=utf-8")

ThreadingHTTPServer(("127.0.0.1", port), StandIn).serve_forever()
PY
STANDIN_PID=$!

export ENABLE_LOCAL_WEB_FETCH=true
start_server "$WORK/data"
python3 - "$SERVER_PORT" "$STANDIN_PORT" "$RUNS" <<'PY'
import json, sys, time, urllib.error, urllib.request
port, standin, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = f"http://127.0.0.1:{port}"
def call(path, body=None, token=None):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")
token = call("/api/v1/auths/signup", {"name": "Bench", "email": "bench@example.com", "password": "bench-pw"})["token"]

def configure(bypass_embedding):
    web = call("/api/v1/retrieval/config", token=token)["web"]
    web.update({"ENABLE_WEB_SEARCH": True, "WEB_SEARCH_ENGINE": "external",
                "EXTERNAL_WEB_SEARCH_URL": f"http://127.0.0.1:{standin}/search",
                "EXTERNAL_WEB_SEARCH_API_KEY": "bench", "WEB_SEARCH_RESULT_COUNT": 5,
                "BYPASS_WEB_SEARCH_WEB_LOADER": False,
                "BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": bypass_embedding})
    call("/api/v1/retrieval/config/update", {"web": web}, token)

def q(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]

for mode, bypass in (("whole", True), ("embedded", False)):
    configure(bypass)
    walls = []
    try:
        for i in range(runs + 1):
            t = time.perf_counter()
            out = call("/api/v1/retrieval/process/web/search", {"queries": [f"harbour tides {i}"]}, token)
            walls.append((time.perf_counter() - t) * 1000)
            assert out["loaded_count"] == 5, out
    except urllib.error.HTTPError as e:
        print(f"{mode:9s} skipped: {e.code} {e.read()[:200]!r}")
        continue
    walls = walls[1:]  # the first run warms the connection pool (and the embedding model)
    print(f"{mode:9s} one search, 5 pages: p50 {q(walls, .5):.1f} ms  p90 {q(walls, .9):.1f} ms  max {max(walls):.1f} ms")
PY
