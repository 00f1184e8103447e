#!/usr/bin/env bash
# Makes sure the podman image localhost/sway/python-base:bookworm exists: Debian bookworm
# (minbase) with python3, numpy and scipy, the base of the quick-start example and of the
# end-to-end tests and benchmarks. No registry is reachable, so it is built locally:
#   debootstrap -> rootfs tarball (cached in /var/cache/sway-test/) -> podman import.
# Cached at both levels: image present = nothing to do (a second); tarball present = a
# podman import (seconds); neither = debootstrap from the apt mirror (minutes).
# Benchmarks extract the same tarball for their "native" runs:
#   scripts/ensure-base-image.sh --extract DIR   also extracts the rootfs into DIR (once)
#   scripts/ensure-base-image.sh --print-tarball prints the tarball's path (after ensuring)
# Progress lines go to stderr, so stdout carries only what --print-tarball asks for.
# Environment: SWAY_BASE_IMAGE, SWAY_TEST_CACHE, SWAY_DEBIAN_MIRROR override the defaults.
set -euo pipefail

IMAGE="${SWAY_BASE_IMAGE:-localhost/sway/python-base:bookworm}"
CACHE_DIR="${SWAY_TEST_CACHE:-/var/cache/sway-test}"
BASE_TARBALL="$CACHE_DIR/python-base-bookworm.tar"
SUITE=bookworm
INCLUDE=python3,python3-numpy,python3-scipy

step() { printf '==> base image: %s\n' "$*" >&2; }
die() { printf 'ensure-base-image: error: %s\n' "$*" >&2; exit 1; }

command -v podman >/dev/null || die "podman is not installed (run scripts/setup.sh)"

# The apt mirror this machine already uses is the reachable one: take the first
# non-security Debian URI from sources.list(.d) (deb822 .sources or one-line .list).
debian_mirror() {
  if [[ -n "${SWAY_DEBIAN_MIRROR:-}" ]]; then echo "$SWAY_DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(
    {
      grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
      grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -v -- '-security' | grep -E '^https?://' | head -n1
  )"
  echo "${uri:-http://deb.debian.org/debian}"
}

build_tarball() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (run scripts/setup.sh)"
  local mirror rootfs
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
  # Remove the half-built tree on any failure; the tarball appears only when complete.
  trap 'rm -rf "$rootfs" "$BASE_TARBALL.tmp"' EXIT
  step "debootstrap --variant=minbase --include=$INCLUDE $SUITE from $mirror (a few minutes)"
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
  # Drop what an image should not carry: downloaded .debs, apt lists, device nodes
  # (registry images have an empty /dev; the runtime provides one).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/dev/*
  step "packing rootfs into $BASE_TARBALL"
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -cf "$BASE_TARBALL.tmp" .
  mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
  rm -rf "$rootfs"
  trap - EXIT
}

import_image() {
  step "podman import $BASE_TARBALL -> $IMAGE"
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "sway test base: debootstrap minbase $SUITE + $INCLUDE" \
    --quiet "$BASE_TARBALL" "$IMAGE" >/dev/null
}

# The image exists but the tarball was removed: write it from the image (no debootstrap).
export_tarball_from_image() {
  step "exporting $IMAGE into $BASE_TARBALL"
  local container
  container="$(podman create --runtime runc "$IMAGE" true)"
  podman export -o "$BASE_TARBALL.tmp" "$container" && mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
  podman rm -f "$container" >/dev/null
  [[ -f "$BASE_TARBALL" ]] || die "podman export of $IMAGE failed"
}

extract_dir=""
print_tarball=0
while (($#)); do
  case "$1" in
    --extract) extract_dir="${2:?--extract needs a directory}"; shift 2 ;;
    --print-tarball) print_tarball=1; shift ;;
    *) die "unknown argument $1 (known: --extract DIR, --print-tarball)" ;;
  esac
done

# What the caller asked for beyond the image itself; runs on every way out below.
finish() {
  if [[ -n "$extract_dir" ]]; then
    if [[ -x "$extract_dir/usr/bin/python3" ]]; then
      step "rootfs already extracted in $extract_dir"
    else
      step "extracting rootfs into $extract_dir"
      mkdir -p "$extract_dir"
      tar --numeric-owner --xattrs --xattrs-include='*' -C "$extract_dir" -xf "$BASE_TARBALL"
    fi
  fi
  if ((print_tarball)); then echo "$BASE_TARBALL"; fi
}

started=$SECONDS
mkdir -p "$CACHE_DIR"
# Serialise concurrent callers (several test runs may start at once); the second one
# finds the image already there.
exec 9>"$CACHE_DIR/.ensure-base-image.lock"
flock 9

if podman image exists "$IMAGE" && [[ -f "$BASE_TARBALL" ]]; then
  step "$IMAGE present, tarball cached ($((SECONDS - started)) s)"
  finish
  exit 0
fi
if podman image exists "$IMAGE"; then
  export_tarball_from_image
else
  [[ -f "$BASE_TARBALL" ]] || build_tarball
  import_image
fi
step "$IMAGE ready in $((SECONDS - started)) s"
finish
