#!/usr/bin/env bash
# Bytes transferred for a cold load of / in headless Chromium (see cold-load.mjs).
# Needs /usr/bin/chromium and e2e/node_modules (cd e2e && npm ci).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin
if [ ! -d "$REPO_ROOT/e2e/node_modules/playwright-core" ]; then
  (cd "$REPO_ROOT/e2e" && npm ci --no-audit --no-fund)
fi
machine_info
OWUI_BIN="$BIN" exec timeout --kill-after=10 300 node "$BENCH_DIR/cold-load.mjs"
