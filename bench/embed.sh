#!/usr/bin/env bash
# Retrieval engine benchmark: local embedding throughput (and Python
# sentence-transformers on the same chunks, when available), the model alone
# against its candle reference (batch throughput and query latency for queries
# of up to 16 tokens), RSS with the model loaded, and query latency (vector and
# hybrid) at 10k and 100k chunks.
#
# Usage: bench/embed.sh
# Knobs: EMBED_N (chunks to embed, default 256), QUERY_SIZES (default "10000 100000";
#        "" skips the retrieval part),
#        QUERIES (per mode, default 200), ST_PYTHON (python with sentence-transformers;
#        skipped when unset or unusable), RAG_BENCH_BIN (an already built rag_bench example:
#        no cargo build), OWUI_ENCODER_ISA (portable|avx2: measure a fallback path).
# Needs the model (./install.sh --no-build) and builds the example in release mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EMBED_N="${EMBED_N:-256}"
QUERY_SIZES="${QUERY_SIZES-10000 100000}"
QUERIES="${QUERIES:-200}"
MODEL_DIR="${OPEN_WEBUI_MODEL_DIR:-$ROOT/assets/models/all-MiniLM-L6-v2}"
export RUST_LOG="${RUST_LOG:-warn}"

[ -f "$MODEL_DIR/model.safetensors" ] || { echo "no model in $MODEL_DIR: run ./install.sh --no-build" >&2; exit 1; }

cd "$ROOT"
if [ -n "${RAG_BENCH_BIN:-}" ]; then
    BIN="$RAG_BENCH_BIN"
else
    cargo build --release --features candle-reference --example rag_bench >&2
    BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/rag_bench"
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== local embedding, $EMBED_N chunks (default chunking, 1000 chars), through the embedder"
"$BIN" embed "$EMBED_N"
echo "== the model alone: encoder vs the candle reference, same tokens; queries of <= 16 tokens"
"$BIN" compare "$EMBED_N" "$QUERIES"

if [ -n "${ST_PYTHON:-}" ] && "$ST_PYTHON" -c 'import sentence_transformers' 2>/dev/null; then
    TEXTS="$(mktemp)"
    trap 'rm -f "$TEXTS"' EXIT
    "$BIN" texts "$EMBED_N" "$TEXTS"
    echo "== python sentence-transformers, same chunks (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    # OPENBLAS_* are set on this machine for old OpenBLAS builds and slow a current one.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$ST_PYTHON" "$ROOT/bench/embed_st.py" "$MODEL_DIR" "$TEXTS" "$QUERIES" 2>/dev/null
else
    echo "== python sentence-transformers: skipped (set ST_PYTHON to a python that has it)"
fi

for n in $QUERY_SIZES; do
    echo "== query latency, $n chunks, $QUERIES queries per mode"
    "$BIN" query "$n" "$QUERIES"
done
