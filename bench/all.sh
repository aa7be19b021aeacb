#!/usr/bin/env bash
# Run every benchmark in turn (figures for BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for b in binary-size startup cold-load http-load; do
  printf '\n== bench/%s.sh ==\n' "$b"
  "./$b.sh"
done
