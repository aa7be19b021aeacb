#!/usr/bin/env bash
# Size of the single self-contained executable (frontend embedded).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_bin

bytes=$(stat -c %s "$BIN")
echo "binary: $BIN"
awk -v b="$bytes" 'BEGIN { printf "size: %d bytes = %.1f MiB = %.1f MB\n", b, b / 1048576, b / 1e6 }'
echo "type: $(file -b "$BIN" 2>/dev/null || echo unknown)"
if command -v ldd >/dev/null 2>&1; then
  echo "dynamic libraries: $(ldd "$BIN" 2>/dev/null | awk '{ print $1 }' | tr '\n' ' ')"
fi
if [ -d "$REPO_ROOT/frontend-dist" ]; then
  echo "frontend-dist (input to the build): $(du -sh --apparent-size "$REPO_ROOT/frontend-dist" | cut -f1), $(find "$REPO_ROOT/frontend-dist" -type f | wc -l) files"
fi
