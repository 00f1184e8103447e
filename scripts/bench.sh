#!/usr/bin/env bash
# The benchmarks (`npm run bench`, or `npm run bench -- NAME...`): benchmarks, not timed
# tests; they print figures and write them under bench/results/, they never pass or fail
# on a timing.
#   1. scripts/setup.sh and scripts/ensure-base-image.sh (fast when already done),
#   2. each entry point bench/<name>.bench.ts (compiled to dist/bench/<name>.bench.js),
#      one after the other (they measure; running them side by side would skew them).
# NAME selects entry points whose name contains it. Each gets SWAY_BENCH_RESULTS
# (bench/results/) and SWAY_BASE_TARBALL (the base image's rootfs, for "native" runs).
# The start-time suite (issue 5) is starts, starts-100mbit, starts-sympy, starts-bigfile,
# then summary (bench/results/suite.{json,md,svg}): `npm run bench -- starts summary`.
# SWAY_BENCH_QUICK=1 (2 runs per contender) or SWAY_BENCH_RUNS=N make it shorter.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { printf '==> bench: %s\n' "$*"; }

bash scripts/setup.sh
SWAY_BASE_TARBALL="$(bash scripts/ensure-base-image.sh --print-tarball)"
export SWAY_BASE_TARBALL
export SWAY_BENCH_RESULTS="$REPO/bench/results"
mkdir -p "$SWAY_BENCH_RESULTS"

entries=()
while IFS= read -r src; do
  name="$(basename "$src" .bench.ts)"
  if (($# == 0)); then
    entries+=("$name")
  else
    for want in "$@"; do [[ "$name" == *"$want"* ]] && entries+=("$name") && break; done
  fi
done < <(find bench -maxdepth 1 -name '*.bench.ts' -type f | sort)
((${#entries[@]})) || { echo "bench: no entry point bench/*.bench.ts${1:+ matching $*}" >&2; exit 1; }

failed=0
for name in "${entries[@]}"; do
  step "$name (dist/bench/$name.bench.js)"
  started=$SECONDS
  if node "dist/bench/$name.bench.js"; then
    step "$name finished in $((SECONDS - started)) s"
  else
    step "$name FAILED after $((SECONDS - started)) s"
    failed=$((failed + 1))
  fi
done
step "${#entries[@]} benchmarks run, $failed failed; results in $SWAY_BENCH_RESULTS"
((failed == 0))
