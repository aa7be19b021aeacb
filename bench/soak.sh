#!/usr/bin/env bash
# Mixed load for SECONDS (default 600): streamed chats over Socket.IO, file uploads that
# are indexed and deleted again, searches and lists, socket connect/disconnect churn,
# all against a mock provider on loopback. The server's RSS is printed every
# SAMPLE_SECONDS (default 10); the run fails if any operation failed.
#   bench/soak.sh
#   SECONDS_TOTAL=120 bench/soak.sh          # a short run
# The driver is examples/soak.rs (built here in release mode).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin

SECONDS_TOTAL=${SECONDS_TOTAL:-600}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}

machine_info
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$REPO_ROOT" && cargo build --release --quiet --example soak)
target_dir=$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "driver: $target_dir/release/examples/soak, server: $BIN"
exec timeout $((SECONDS_TOTAL + 300)) "$target_dir/release/examples/soak" \
  --bin "$BIN" --seconds "$SECONDS_TOTAL" --sample-seconds "$SAMPLE_SECONDS"
