#!/usr/bin/env bash
# Sets up everything sway needs on a Debian 12 machine, idempotently, as root:
#   1. Debian packages (installed only when missing; one `apt-get update` first),
#   2. npm dependencies (`npm ci`, skipped while package-lock.json is unchanged),
#   3. the native FUSE addon (`npm run build:native`, skipped while up to date),
#   4. the TypeScript build (`npm run build:ts`, incremental),
#   5. `sway` on PATH (/usr/local/bin/sway -> this checkout's bin/sway.js).
# On a machine where all of this is already done it takes a few seconds.
# Environment: SWAY_SETUP_SKIP_APT=1 skips step 1 (e.g. not root, packages known present);
# SWAY_SETUP_SKIP_NATIVE=1 skips step 3 (while the addon is being worked on).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { printf '==> setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Everything the product, its tests and its benchmarks use, by purpose:
#   FUSE + containers: fuse3 libfuse3-dev runc crun podman uidmap; runsc (gVisor, the
#   worker's optional stronger runtime)
#   base image: debootstrap; networking tests: iproute2; TLS: openssl ca-certificates
#   a run's private network: slirp4netns (user-mode NAT) nftables (its egress filter)
#   native build: cmake make g++ pkg-config python3 (node-gyp for better-sqlite3)
#   small fixtures: busybox-static; dashboard browser test: chromium
#   systemd unit checks: systemd (systemd-analyze); benchmark: docker-registry skopeo umoci
#   (pull-then-run contender) strace (which files an app opens)
#   process tools used by tests and scripts: procps (pgrep, sysctl) psmisc (fuser)
PACKAGES=(
  fuse3 libfuse3-dev runc crun runsc podman debootstrap iproute2 pkg-config uidmap openssl
  busybox-static cmake make g++ chromium systemd docker-registry skopeo umoci strace
  ca-certificates python3 procps psmisc slirp4netns nftables
)

install_missing_debian_packages() {
  local missing=() pkg status
  for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    step "Debian packages: all ${#PACKAGES[@]} present"
    return
  fi
  [[ $EUID -eq 0 ]] || die "missing Debian packages (${missing[*]}); run as root to install them"
  step "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d refusal: packages such as docker-registry must not start host services;
  # tests and benchmarks start their own instances inside their own namespaces.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  # chromium (only a headless browser for one test) without its desktop recommendations;
  # everything else as Debian recommends, as a person installing it would get it.
  local log=/var/log/sway-setup-apt.log rc=0 browser=() others=()
  for pkg in "${missing[@]}"; do
    if [[ "$pkg" == chromium ]]; then browser+=(chromium fonts-liberation); else others+=("$pkg"); fi
  done
  : >"$log"
  if ((${#others[@]})); then apt-get install -y -q "${others[@]}" >>"$log" 2>&1 || rc=$?; fi
  if ((rc == 0 && ${#browser[@]})); then apt-get install -y -q --no-install-recommends "${browser[@]}" >>"$log" 2>&1 || rc=$?; fi
  ((rc == 0)) || tail -n 30 "$log" >&2
  ((created_policy)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get install failed (exit $rc); full log in $log"
}

install_npm_dependencies() {
  # npm ci wipes and reinstalls node_modules (a minute or more: better-sqlite3 compiles from
  # source here). Skip it while the lockfile it was run against is unchanged.
  local marker=node_modules/.sway-lock-sha256
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [[ -f "$marker" && "$(cat "$marker")" == "$want" && -d node_modules/better-sqlite3 ]]; then
    step "npm dependencies: up to date"
    return
  fi
  # A tree installed by hand (npm install) that satisfies package.json and whose native
  # module loads is adopted as is: reinstalling it under others' feet gains nothing.
  if [[ ! -f "$marker" && -d node_modules ]] && npm ls --all >/dev/null 2>&1 &&
    node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" 2>/dev/null; then
    echo "$want" >"$marker"
    step "npm dependencies: existing node_modules matches package.json, adopted"
    return
  fi
  step "npm dependencies: npm ci"
  # node-gyp must build native modules against the installed Node headers, not download them.
  if [[ -z "${npm_config_nodedir:-}" && -d /usr/include/node ]]; then
    export npm_config_nodedir=/usr
  fi
  npm ci --no-audit --no-fund
  echo "$want" >"$marker"
}

build_native_addon() {
  if [[ "${SWAY_SETUP_SKIP_NATIVE:-0}" == 1 ]]; then
    step "native addon: skipped (SWAY_SETUP_SKIP_NATIVE=1)"
    return
  fi
  if [[ ! -f native/CMakeLists.txt ]]; then
    step "native addon: native/CMakeLists.txt not there yet, skipped"
    return
  fi
  # Up to date when a built .node exists and no native source is newer than it.
  local built
  built="$(find native/build -name '*.node' -type f 2>/dev/null | head -n1 || true)"
  if [[ -n "$built" ]] && [[ -z "$(find native -path 'native/build*' -prune -o -type f -newer "$built" -print -quit)" ]]; then
    step "native addon: up to date ($built)"
    return
  fi
  step "native addon: npm run build:native"
  npm run --silent build:native
}

build_typescript() {
  step "TypeScript: npm run build:ts (incremental)"
  npm run --silent build:ts -- --incremental
}

put_sway_on_path() {
  local link=/usr/local/bin/sway target="$REPO/bin/sway.js"
  chmod +x "$target"
  if [[ "$(readlink "$link" 2>/dev/null || true)" == "$target" ]]; then
    step "sway on PATH: $link -> $target"
    return
  fi
  if [[ -w "$(dirname "$link")" ]]; then
    ln -sfn "$target" "$link"
    step "sway on PATH: linked $link -> $target"
  else
    step "sway on PATH: cannot write $(dirname "$link"); use 'npx sway' or $target"
  fi
}

check_fuse_device() {
  if [[ ! -e /dev/fuse ]]; then
    modprobe fuse 2>/dev/null || true
  fi
  [[ -e /dev/fuse ]] && step "FUSE: /dev/fuse present" || step "FUSE: warning: /dev/fuse missing; mounts will fail"
}

started=$SECONDS
# One setup at a time per checkout (two `npm test` at once would race on apt's lock,
# node_modules, native/build and dist/); the second waits, then finds everything done.
exec 8>"/tmp/sway-setup-$(echo "$REPO" | sha256sum | cut -c1-12).lock"
flock 8
if [[ "${SWAY_SETUP_SKIP_APT:-0}" == 1 ]]; then
  step "Debian packages: skipped (SWAY_SETUP_SKIP_APT=1)"
else
  install_missing_debian_packages
fi
check_fuse_device
install_npm_dependencies
build_native_addon
build_typescript
put_sway_on_path
step "done in $((SECONDS - started)) s"
