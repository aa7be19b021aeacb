#!/usr/bin/env bash
# Streamed chats through Socket.IO against a mock provider (all on loopback):
#   - first-token latency added by the server (one chat at a time, vs calling the mock directly)
#   - CHATS concurrent chats over USERS users' sockets: lost / reordered tokens, stored answers,
#     the server's peak RSS
#   bench/chat-load.sh                         # 500 chats, 50 users, 40 tokens 20 ms apart
#   CHATS=1000 USERS=100 bench/chat-load.sh
# The driver is examples/chat_load.rs (built here in release mode).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin

CHATS=${CHATS:-500}
USERS=${USERS:-50}
TOKENS=${TOKENS:-40}
GAP_MS=${GAP_MS:-20}
LATENCY_RUNS=${LATENCY_RUNS:-200}

machine_info
(cd "$REPO_ROOT" && cargo build --release --quiet --example chat_load)
target_dir=$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "driver: $target_dir/release/examples/chat_load, server: $BIN"
exec timeout 900 "$target_dir/release/examples/chat_load" \
  --bin "$BIN" --chats "$CHATS" --users "$USERS" --tokens "$TOKENS" \
  --token-gap-ms "$GAP_MS" --latency-runs "$LATENCY_RUNS"
