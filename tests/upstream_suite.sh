#!/usr/bin/env bash
# Runs Open WebUI's own integration suite (../shared/owui-tests) against a
# release binary and fails when a test the Python 0.12.4 server passes
# (its TARGET.txt) does not pass here, unless CONFORMANCE.md lists that test
# with the reason we answer differently.
#
#   tests/upstream_suite.sh [BINARY] [pytest args...]
#
# BINARY defaults to ./open-webui. OWUI_TESTS_DIR points at the suite
# (default ../shared/owui-tests next to this checkout); OWUI_TESTS_OUT is where
# its results go (default target/owui-tests). Extra pytest arguments (an area
# such as integration/chat) narrow the run: then only the targets of the tests
# that ran are checked.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
bin="${1:-$ROOT/open-webui}"
[ $# -gt 0 ] && shift
suite="${OWUI_TESTS_DIR:-$ROOT/../shared/owui-tests}"
out="${OWUI_TESTS_OUT:-$ROOT/target/owui-tests}"

if [ ! -x "$suite/run.sh" ] || [ ! -f "$suite/TARGET.txt" ]; then
  echo "upstream suite: not found at $suite (set OWUI_TESTS_DIR)" >&2
  exit 2
fi
if [ ! -x "$bin" ]; then
  echo "upstream suite: no server binary at $bin" >&2
  exit 2
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

rm -rf "$out"
mkdir -p "$out"
# The suite's own exit status also counts tests outside TARGET.txt (those the
# Python server fails too); what decides here is the comparison below.
OWUI_TESTS_OUT="$out" OWUI_RS_BIN="$bin" "$suite/run.sh" rust "$@"
results="$out/results-rust.txt"
if [ ! -s "$results" ]; then
  echo "upstream suite: no results were written ($results)" >&2
  exit 1
fi

# Differences we keep on purpose: the node ids in CONFORMANCE.md's list.
allowed="$out/allowed.txt"
sed -n 's/^- `\(integration\/[^`]*\)`.*/\1/p' CONFORMANCE.md | sort -u >"$allowed"

ran="$out/ran.txt"
passed="$out/passed.txt"
# `STATUS node id`; a node id may hold spaces (parameters).
sed -E 's/^[A-Z]+ //' "$results" | sort -u >"$ran"
sed -n -E 's/^PASS //p' "$results" | sort -u >"$passed"

targets="$out/targets.txt"
if [ $# -gt 0 ]; then
  # a narrowed run: only the targets among the tests that ran
  sort -u "$suite/TARGET.txt" | comm -12 - "$ran" >"$targets"
else
  sort -u "$suite/TARGET.txt" >"$targets"
fi

missing="$out/missing.txt"
comm -23 "$targets" "$passed" | comm -23 - "$allowed" >"$missing"
total=$(wc -l <"$targets")
pass_n=$(comm -12 "$targets" "$passed" | wc -l)
allowed_n=$(comm -12 "$targets" "$allowed" | comm -23 - "$passed" | wc -l)
echo "upstream suite: $pass_n of $total targets pass; $allowed_n listed in CONFORMANCE.md"
if [ -s "$missing" ]; then
  echo "upstream suite: $(wc -l <"$missing") targets fail:" >&2
  while read -r id; do
    reason=$(awk -F'\t' -v id="$id" '$1 == id {print $2 ": " $3}' "$out/results-rust.tsv" | head -n 1)
    echo "  $id  ${reason:-did not run}" >&2
  done <"$missing"
  exit 1
fi
