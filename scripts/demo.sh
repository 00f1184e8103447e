#!/usr/bin/env bash
# The quick start in one command (`npm run demo`), idempotent:
#   1. scripts/setup.sh and scripts/ensure-base-image.sh (fast when already done),
#   2. `sway up`: a local fileserver and worker, a first user and its token, and the
#      client config (~/.config/sway/config.json); when they already run, nothing changes,
#   3. in examples/quickstart: `sway export`, then `sway run app.py`, which prints
#      `svd: u=(100, 100), s=(100,)`.
# Run it again after editing examples/quickstart/app.py: the servers are reused and the
# re-export uploads only what changed. `sway down` stops the servers.
# Environment: SWAY_DEMO_UP_ARGS (extra `sway up` flags, e.g. `--fileserver-port 0`),
# SWAY_DEMO_SKIP_SETUP=1 (steps 1 already done: the test of this script sets both).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { printf '==> demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

if [[ "${SWAY_DEMO_SKIP_SETUP:-0}" != 1 ]]; then
  bash scripts/setup.sh
  bash scripts/ensure-base-image.sh
fi

SWAY=(node "$REPO/bin/sway.js")
has_command() { [[ -f "$REPO/dist/ts/cli/commands/$1.js" ]]; }

has_command up || die "sway up is not built (ts/cli/commands/up.ts)"
step "sway up (local fileserver and worker, client config)"
# shellcheck disable=SC2086 # SWAY_DEMO_UP_ARGS is a list of flags
"${SWAY[@]}" up ${SWAY_DEMO_UP_ARGS:-}

cd "$REPO/examples/quickstart"
has_command export || die "sway export is not built yet (ts/cli/commands/export.ts); the servers are up"
step "sway export (examples/quickstart)"
"${SWAY[@]}" export
step "sway run app.py"
"${SWAY[@]}" run app.py
