#!/usr/bin/env bash
# The quick start in one command (`npm run demo`), idempotent:
#   1. scripts/setup.sh and scripts/ensure-base-image.sh (fast when already done),
#   2. a local fileserver and worker: `sway up` (servers, a user, its token and the client
#      config under one directory); until `sway up` exists, a fileserver started here in
#      the background with its own user and a client config of its own,
#   3. in examples/quickstart: `sway export`, then `sway run app.py`, which prints
#      `svd: u=(100, 100), s=(100,)`.
# Run it again after editing examples/quickstart/app.py: the servers and the export are
# reused. Environment: SWAY_DEMO_DIR (fallback state, default /var/lib/sway-demo).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { printf '==> demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

bash scripts/setup.sh
bash scripts/ensure-base-image.sh

SWAY=(node "$REPO/bin/sway.js")
has_command() { [[ -f "$REPO/dist/ts/cli/commands/$1.js" ]]; }

if has_command up; then
  step "sway up (local fileserver + worker, client config)"
  "${SWAY[@]}" up
else
  # Fallback while `sway up` is being written: a fileserver on this machine, its state
  # and a client config of its own under $SWAY_DEMO_DIR (the user's ~/.config is untouched).
  DEMO_DIR="${SWAY_DEMO_DIR:-/var/lib/sway-demo}"
  data="$DEMO_DIR/fileserver"
  pidfile="$DEMO_DIR/fileserver.pid"
  log="$DEMO_DIR/fileserver.log"
  mkdir -p "$DEMO_DIR"
  chmod 700 "$DEMO_DIR"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    step "fileserver already running (pid $(cat "$pidfile"), log $log)"
  else
    step "starting sway fileserver --data $data on 127.0.0.1:8443 (log $log)"
    : >"$log"
    nohup "${SWAY[@]}" fileserver --data "$data" --host 127.0.0.1 --port 8443 >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      grep -q 'fileserver listening' "$log" && break
      kill -0 "$(cat "$pidfile")" 2>/dev/null || die "the fileserver exited; see $log"
      sleep 0.5
    done
    grep -q 'fileserver listening' "$log" || die "the fileserver did not start within 60 s; see $log"
  fi
  if [[ ! -s "$DEMO_DIR/token" ]]; then
    step "adding user demo"
    (umask 077 && "${SWAY[@]}" fileserver adduser demo --data "$data" >"$DEMO_DIR/token")
  fi
  export SWAY_CONFIG="$DEMO_DIR/config.json"
  (umask 077 && cat >"$SWAY_CONFIG" <<EOF
{
  "fileserver": "https://127.0.0.1:8443",
  "token": "$(cat "$DEMO_DIR/token")",
  "ca": "$data/tls/ca.pem",
  "username": "demo"
}
EOF
  )
  step "client config in $SWAY_CONFIG (stop the fileserver: kill \$(cat $pidfile))"
fi

cd "$REPO/examples/quickstart"
has_command export || die "sway export is not built yet (ts/cli/commands/export.ts)"
step "sway export (examples/quickstart)"
"${SWAY[@]}" export
has_command run || die "sway run is not built yet (ts/cli/commands/run.ts); the image is exported"
step "sway run app.py"
"${SWAY[@]}" run app.py
