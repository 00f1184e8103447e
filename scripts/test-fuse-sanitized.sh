#!/usr/bin/env bash
# The FUSE tests (test/fuse) against an AddressSanitizer + UndefinedBehaviorSanitizer build
# of the native addon (issue 3): builds native/build-asan with -DSANITIZE=ON, then runs the
# tests with only the mount-helper processes loading that build and preloading the
# sanitizer runtimes (node itself is not instrumented). A sanitizer report on a helper's
# stderr fails its test (test/fuse/helper-client.ts). Extra ARGS go to scripts/test.sh.
# Run after `npm run setup` (the normal build and the test image must exist).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
npx cmake-js compile --directory native --out native/build-asan --CDSANITIZE=ON --CDCMAKE_BUILD_TYPE=RelWithDebInfo
addon="$(find native/build-asan -name sway_fuse.node -print -quit)"
[[ -n "$addon" ]] || { echo "test-fuse-sanitized: no sway_fuse.node under native/build-asan" >&2; exit 1; }
export SWAY_FUSE_SANITIZED_ADDON="$REPO/$addon"
export SWAY_FUSE_SANITIZER_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export SWAY_TEST_SKIP_SETUP=1 SWAY_TEST_SKIP_BASE_IMAGE=1
exec bash scripts/test.sh "${@:-test/fuse}"
