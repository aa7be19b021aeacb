#!/usr/bin/env bash
# Run every test of the project:
#   1. Rust unit + integration tests (cargo nextest if installed, else cargo test; plus doctests)
#   2. browser end-to-end tests: ./install.sh (frontend + release binary), the
#      release artifact check (tests/release_artifact.rs: static, size, healthcheck),
#      then the official frontend in headless Chromium against ./open-webui (e2e/run.mjs)
#   3. Open WebUI's own integration suite against ./open-webui (tests/upstream_suite.sh:
#      every test of ../shared/owui-tests/TARGET.txt passes, or CONFORMANCE.md says why not)
#
# Usage: ./test.sh [--no-e2e | --e2e-only] [--no-install] [--no-suite]
#   --no-e2e      only the cargo tests
#   --e2e-only    only the browser tests and the upstream suite
#   --no-install  do not run ./install.sh; use the existing ./open-webui (or $OWUI_BIN)
#   --no-suite    leave out the upstream suite (step 3)
# Honours CARGO_TARGET_DIR. Exit status is non-zero if anything failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$PWD"

run_cargo=1
run_e2e=1
run_install=1
run_suite=1
for arg in "$@"; do
  case "$arg" in
    --no-e2e) run_e2e=0 ;;
    --e2e-only) run_cargo=0 ;;
    --no-install) run_install=0 ;;
    --no-suite) run_suite=0 ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "test.sh: unknown option: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

section() { printf '\n==== %s ====\n' "$*"; }

cargo_status="skipped"
artifact_status="skipped"
e2e_status="skipped"
suite_status="skipped"
e2e_passed=0
e2e_failed=0
failed=0

# ---------------------------------------------------------------- cargo tests
if [ "$run_cargo" = 1 ]; then
  if [ "$run_install" = 1 ]; then
    # the frontend and the embedding model (cached after the first run), so the
    # tests that need the real model run instead of skipping
    section "fetch frontend + embedding model"
    ./install.sh --no-build || echo "test.sh: ./install.sh --no-build failed; model tests will skip" >&2
  fi
  section "cargo tests"
  cargo_ok=1
  # tests/release_artifact.rs needs ./open-webui, which install.sh builds only
  # in the e2e part below: there it runs again, required (see that file).
  if [ "$run_e2e" = 1 ]; then export OWUI_ARTIFACT_DEFERRED=1; fi
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-tests=pass || cargo_ok=0
    # nextest does not run doctests
    if [ -f src/lib.rs ]; then
      cargo test --workspace --doc || cargo_ok=0
    fi
  else
    cargo test --workspace || cargo_ok=0
  fi
  if [ "$cargo_ok" = 1 ]; then cargo_status="ok"; else cargo_status="FAILED"; failed=1; fi
fi

# ---------------------------------------------------------------- e2e tests
if [ "$run_e2e" = 1 ]; then
  e2e_ok=1

  if [ "$run_install" = 1 ] && [ -z "${OWUI_BIN:-}" ]; then
    section "install (frontend + release binary)"
    if ! ./install.sh; then
      echo "test.sh: ./install.sh failed" >&2
      e2e_ok=0
    fi
  fi
  bin="${OWUI_BIN:-$ROOT/open-webui}"
  if [ "$e2e_ok" = 1 ] && [ ! -x "$bin" ]; then
    echo "test.sh: no server binary at $bin" >&2
    e2e_ok=0
  fi

  if [ "$e2e_ok" = 1 ]; then
    section "release artifact"
    if cargo nextest --version >/dev/null 2>&1; then
      artifact_cmd=(cargo nextest run --no-tests=fail --test release_artifact)
    else
      artifact_cmd=(cargo test --test release_artifact)
    fi
    if OWUI_BIN="$bin" OWUI_ARTIFACT_REQUIRED=1 "${artifact_cmd[@]}"; then
      artifact_status="ok"
    else
      artifact_status="FAILED"
      failed=1
    fi
  fi

  if [ "$e2e_ok" = 1 ] && [ ! -d e2e/node_modules/playwright-core ]; then
    section "e2e dependencies"
    (cd e2e && npm ci --no-audit --no-fund) || e2e_ok=0
  fi
  if [ "$e2e_ok" = 1 ] && [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
    echo "test.sh: /usr/bin/chromium missing (apt-get install -y chromium, or set CHROMIUM_PATH)" >&2
    e2e_ok=0
  fi

  if [ "$e2e_ok" = 1 ]; then
    section "browser e2e"
    mkdir -p e2e/artifacts
    tap="e2e/artifacts/results.tap"
    rm -f "$tap"
    # bounded: every test has its own timeout; this is the outer safety net
    if ! OWUI_BIN="$bin" timeout --kill-after=30 1200 \
      node --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap" \
      e2e/run.mjs; then
      e2e_ok=0
    fi
    if [ -f "$tap" ]; then
      count() { sed -n "s/^# $1 \([0-9][0-9]*\)\$/\1/p" "$tap" | tail -n 1; }
      e2e_passed=$(count pass)
      fail_n=$(count fail)
      cancelled_n=$(count cancelled)
      e2e_passed=${e2e_passed:-0}
      e2e_failed=$((${fail_n:-0} + ${cancelled_n:-0}))
    fi
  fi
  # a failure outside any single test (setup, crash, timeout) still counts as one
  if [ "$e2e_ok" = 0 ] && [ "$e2e_failed" = 0 ]; then e2e_failed=1; fi
  if [ "$e2e_ok" = 1 ] && [ "$e2e_failed" = 0 ]; then e2e_status="ok"; else e2e_status="FAILED"; failed=1; fi
fi

# ---------------------------------------------------------------- upstream suite
# Runs after the browser tests, on the same release binary. Outside CI a
# checkout without ../shared/owui-tests skips it; under CI=true that fails.
if [ "$run_e2e" = 1 ] && [ "$run_suite" = 1 ]; then
  section "upstream suite"
  bin="${OWUI_BIN:-$ROOT/open-webui}"
  suite_dir="${OWUI_TESTS_DIR:-$ROOT/../shared/owui-tests}"
  if [ ! -x "$suite_dir/run.sh" ] && [ "${CI:-}" != "true" ]; then
    echo "test.sh: no upstream suite at $suite_dir; skipped (set OWUI_TESTS_DIR)" >&2
    suite_status="skipped (not found)"
  elif [ ! -x "$bin" ]; then
    echo "test.sh: no server binary at $bin for the upstream suite" >&2
    suite_status="FAILED"
    failed=1
  elif timeout --kill-after=60 3600 tests/upstream_suite.sh "$bin"; then
    suite_status="ok"
  else
    suite_status="FAILED"
    failed=1
  fi
fi

section "summary"
echo "cargo tests: $cargo_status"
echo "release artifact: $artifact_status"
echo "e2e: $e2e_status"
echo "upstream suite: $suite_status"
if [ "$run_e2e" = 1 ]; then
  echo "$e2e_passed passed, $e2e_failed failed"
fi
exit "$failed"
