#!/usr/bin/env bash
# The whole test suite (`npm test`), or a part of it (`npm test -- ARGS`):
#   1. scripts/setup.sh (packages, npm ci, native and TypeScript builds: fast when done),
#   2. scripts/ensure-base-image.sh (the python3+scipy podman image, cached),
#   3. node's test runner over the compiled tests in dist/, spec output on the terminal,
#   4. a closing line `N passed, N failed, N skipped` counted from the run's TAP output.
# ARGS: paths (test/worker, test/infra/netns.test.ts, dist/test/x.test.js) select files;
# a word found in test file paths selects those files (`npm test -- netns`); any other word
# is a test-name pattern (--test-name-pattern), e.g. `npm test -- 'kill -9'`.
# Only tests whose .ts source exists run, so a deleted test's stale .js in dist/ never does.
# Environment: SWAY_TEST_CONCURRENCY (files at once, default 2), SWAY_TEST_TIMEOUT_MS
# (per test, default 600000), SWAY_TEST_TOTAL_TIMEOUT_S (whole run, default 4800),
# SWAY_TEST_SKIP_SETUP=1, SWAY_TEST_SKIP_BASE_IMAGE=1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { printf '==> test: %s\n' "$*"; }

# Two files at a time: the machine has 2 cores, and most tests wait on FUSE, podman,
# runc or the network rather than compute, so 2 keeps both cores busy without making
# the heavy end-to-end files starve each other.
CONCURRENCY="${SWAY_TEST_CONCURRENCY:-2}"
TIMEOUT_MS="${SWAY_TEST_TIMEOUT_MS:-600000}"
export SWAY_TEST_OUTPUT="${SWAY_TEST_OUTPUT:-$REPO/test-output}"
mkdir -p "$SWAY_TEST_OUTPUT"

# A failed setup (a package that will not install, a type error, a native build error)
# still ends with the closing line, counted as one failure.
setup_failed() {
  echo "test: $1 failed (exit $2); no test ran" >&2
  echo "0 passed, 1 failed"
  exit 1
}
if [[ "${SWAY_TEST_SKIP_SETUP:-0}" != 1 ]]; then bash scripts/setup.sh || setup_failed scripts/setup.sh $?; fi
if [[ "${SWAY_TEST_SKIP_BASE_IMAGE:-0}" != 1 ]]; then bash scripts/ensure-base-image.sh || setup_failed scripts/ensure-base-image.sh $?; fi

# Map a source test path (test/a/b.test.ts, ts/x.test.ts) to its compiled file in dist/.
compiled() { local p="${1#./}"; p="${p%.ts}"; echo "dist/${p#dist/}.js"; }

all_sources() { find test ts -name '*.test.ts' -type f 2>/dev/null | sort; }

files=()
patterns=()
for arg in "$@"; do
  arg="${arg#./}"
  if [[ -d "$arg" ]]; then
    src="${arg#dist/}"
    while IFS= read -r f; do files+=("$(compiled "$f")"); done < <(find "$src" -name '*.test.ts' -type f | sort)
  elif [[ -f "$arg" || -f "${arg%.js}.ts" || -f "${arg#dist/}" || -f "$(sed -E 's#^dist/##; s#\.js$#.ts#' <<<"$arg")" ]]; then
    if [[ "$arg" == dist/* ]]; then files+=("${arg%.ts}"); else files+=("$(compiled "$arg")"); fi
  elif all_sources | grep -qF -- "$arg"; then
    # A word that is part of test file paths selects those files: `npm test -- netns`.
    while IFS= read -r f; do files+=("$(compiled "$f")"); done < <(all_sources | grep -F -- "$arg")
  else
    patterns+=("--test-name-pattern=$arg")
  fi
done
if ((${#files[@]} == 0)); then
  while IFS= read -r f; do files+=("$(compiled "$f")"); done < <(all_sources)
fi
if ((${#files[@]} == 0)); then
  echo "test: no test files found"
  echo "0 passed, 0 failed"
  exit 0
fi
for f in "${files[@]}"; do
  [[ -f "$f" ]] || { echo "test: $f was not built (is its .ts in tsconfig's include?)" >&2; exit 1; }
done

# Network namespaces of test processes that are gone (a killed run) are removed; those of
# live processes, maybe another run's, are left alone. Same rule as test/helpers/netns.ts.
remove_stale_namespaces() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^sway-[0-9]+-[0-9]+-[ab]$' || true); do
    pid="${ns#sway-}"
    pid="${pid%%-*}"
    if ! kill -0 "$pid" 2>/dev/null; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}
remove_stale_namespaces

tap="$SWAY_TEST_OUTPUT/last-run.tap"
step "${#files[@]} test files, concurrency $CONCURRENCY, per-test timeout $((TIMEOUT_MS / 1000)) s${patterns:+, filter ${patterns[*]#--test-name-pattern=}}"
started=$SECONDS
rc=0
# A hung file must not eat CI's 90 minutes without a closing line: stop the whole run
# after SWAY_TEST_TOTAL_TIMEOUT_S (default 80 min) and count what finished.
timeout --signal=TERM --kill-after=30 "${SWAY_TEST_TOTAL_TIMEOUT_S:-4800}" node --test \
  --test-concurrency="$CONCURRENCY" \
  --test-timeout="$TIMEOUT_MS" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  ${patterns[@]+"${patterns[@]}"} \
  "${files[@]}" || rc=$?

remove_stale_namespaces

# node's TAP reporter closes with '# pass N', '# fail N', '# cancelled N', '# skipped N'.
count() { awk -v k="# $1" 'index($0, k " ") == 1 { n = $3 } END { print n + 0 }' "$tap"; }
if grep -q '^# pass ' "$tap" 2>/dev/null; then
  passed=$(count pass)
  failed=$(($(count fail) + $(count cancelled)))
  skipped=$(count skipped)
else
  # No summary: the run was stopped (total timeout). Count the results it did report.
  echo "test: the run did not finish (exit $rc); counting the tests that reported" >&2
  passed=$(grep -cE '^ *ok [0-9]+' "$tap" 2>/dev/null || true)
  skipped=$(grep -E '^ *ok [0-9]+' "$tap" 2>/dev/null | grep -c '# SKIP' || true)
  failed=$(grep -cE '^ *not ok [0-9]+' "$tap" 2>/dev/null || true)
  passed=$((${passed:-0} - ${skipped:-0}))
  failed=$((${failed:-0} + 1))
fi
if ((rc != 0 && failed == 0)); then failed=1; fi # the runner itself failed (crash, bad flag)
echo "test: log in $tap, $((SECONDS - started)) s"
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0)) || exit 1
