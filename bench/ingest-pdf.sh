#!/usr/bin/env bash
# End-to-end ingest of a 100-page PDF: upload -> text extraction -> chunking ->
# local embeddings (bundled all-MiniLM-L6-v2) -> vectors + BM25, timed until
# the file's processing status is "completed"; then one query against it.
#   bench/ingest-pdf.sh            # PAGES=100
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin
PAGES=${PAGES:-100}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owui-ingest-XXXXXX")
trap 'stop_server; rm -rf "$WORK"' EXIT

machine_info
python3 "$BENCH_DIR/make_pdf.py" "$WORK/doc.pdf" "$PAGES"
echo "document: $PAGES pages, $(stat -c %s "$WORK/doc.pdf") bytes"
start_server "$WORK/data"
base="http://127.0.0.1:$SERVER_PORT"
token=$(curl -sf -m 10 -H 'content-type: application/json' \
  -d '{"name":"Bench","email":"bench@example.com","password":"Passw0rd!x"}' \
  "$base/api/v1/auths/signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
rss_before=$(rss_kb "$SERVER_PID")
t0=${EPOCHREALTIME/[.,]/}
id=$(curl -sf -m 60 -H "Authorization: Bearer $token" -F "file=@$WORK/doc.pdf;type=application/pdf" \
  "$base/api/v1/files/?process=true" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
status=""
for _ in $(seq 1 6000); do # at most 10 minutes
  status=$(curl -sf -m 10 -H "Authorization: Bearer $token" "$base/api/v1/files/$id/process/status" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",""))')
  case "$status" in completed | failed) break ;; esac
  nap 0.1
done
t1=${EPOCHREALTIME/[.,]/}
echo "status: $status after $(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1000000 }') s (upload to completed)"
chunks=$(curl -sf -m 30 -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"collection_name\":\"file-$id\",\"query\":\"lighthouse harbour engine\",\"k\":3}" \
  "$base/api/v1/retrieval/query/doc" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len((d.get("documents") or [[]])[0]))')
echo "query on the file: $chunks passages returned"
echo "server RSS: $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$rss_before") before, $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(rss_kb "$SERVER_PID")") after (peak $(awk '{ printf "%.1f MiB", $1 / 1024 }' <<<"$(hwm_kb "$SERVER_PID")"))"
[ "$status" = completed ]
