#!/bin/bash
# Build (or reuse) a cached Debian root file system: the one the systemd tests
# boot under systemd-nspawn, and the foreign-architecture roots the qemu-user
# test runs otcd in.
#
#   scripts/nspawn/build-rootfs.sh [options] [CACHE_DIR]     prints the root's path
#
#   --suite S       Debian release; default bookworm
#   --arch A        Debian architecture (arm64, armhf: run under qemu-user,
#                   which needs binfmt_misc; see test/systemd/foreign-arch-test.sh);
#                   default the host's
#   --packages L    comma-separated packages debootstrap includes; default
#                   systemd,systemd-sysv,dbus,socat,procps,ca-certificates
#                   (a real init and systemctl; socat: ptys for the terminal
#                   simulator; procps: pgrep/ps; the system CA store)
#   --install L     packages then installed with apt-get inside the root, as a
#                   vendor's image build would (e.g. Debian's nodejs)
#   --download L    packages whose .debs (and dependencies') are fetched into
#                   the root's apt cache, with its package lists kept, but not
#                   installed: a test can then run `apt-get install ./otcd.deb`
#                   in the booted root without a network, and see apt resolve
#                   and install them
#
# The root is cached as CACHE_DIR/rootfs-SUITE-ARCH (default CACHE_DIR
# /var/cache/otcd-nspawn): it is reused when its stamp matches the recipe (the
# options and this script's version), and otherwise rebuilt in a scratch
# directory and renamed into place, so an interrupted build never leaves a
# half-built root that a later run would trust. Runs must never write to it:
# nspawn boots it with --volatile=overlay, the other tests mount an overlay.
#
# The mirror is read from the machine's apt sources at run time, never written
# here: CI machines point at their own mirror or snapshot. A suite the sources
# do not list (trixie on a bookworm machine) comes from the mirror that serves
# the machine's own release.
set -euo pipefail

SUITE=bookworm
ARCH=$(dpkg --print-architecture)
PACKAGES=systemd,systemd-sysv,dbus,socat,procps,ca-certificates
INSTALL=""
DOWNLOAD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE=${2:?--suite needs a Debian release}; shift 2 ;;
    --arch) ARCH=${2:?--arch needs a Debian architecture}; shift 2 ;;
    --packages) PACKAGES=${2:?--packages needs a list}; shift 2 ;;
    --install) INSTALL=${2:?--install needs a list}; shift 2 ;;
    --download) DOWNLOAD=${2:?--download needs a list}; shift 2 ;;
    -*) printf 'build-rootfs: unknown option %s\n' "$1" >&2; exit 64 ;;
    *) break ;;
  esac
done
CACHE_DIR=${1:-${OTCD_NSPAWN_CACHE:-/var/cache/otcd-nspawn}}
# Everything that decides the root's content; a change rebuilds the cache.
RECIPE="v3 suite=$SUITE arch=$ARCH packages=$PACKAGES install=$INSTALL download=$DOWNLOAD"
ROOT="$CACHE_DIR/rootfs-$SUITE-$ARCH"
STAMP="$ROOT/.otcd-rootfs-stamp"

log() { printf 'build-rootfs: %s\n' "$*" >&2; }

mirror_for_suite() {
  local suite=$1 f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822: first URIs: line of a stanza whose Suites include $SUITE
    uri=$(awk -v suite="$suite" '
      BEGIN { RS=""; FS="\n" }
      {
        u=""; s=0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); split($i, a, /[ \t]+/); u = a[1] }
          if ($i ~ /^Suites:/) { n = split($i, b, /[ \t]+/); for (j = 2; j <= n; j++) if (b[j] == suite) s = 1 }
        }
        if (s && u != "") { print u; exit }
      }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    uri=$(awk -v suite="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i+1) == suite) { print $i; exit } break } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}

mirror_from_apt_sources() {
  local own
  mirror_for_suite "$SUITE" && return 0
  own=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$own" ] && mirror_for_suite "$own"
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ]; then
  log "reusing $ROOT"
  echo "$ROOT"
  exit 0
fi

MIRROR=$(mirror_from_apt_sources) || { log "no deb.debian.org-style mirror for $SUITE in /etc/apt/sources*"; exit 1; }
mkdir -p "$CACHE_DIR"
SCRATCH=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
cleanup() { rm -rf --one-file-system "$SCRATCH"; }
trap cleanup EXIT

log "debootstrap $SUITE $ARCH from $MIRROR into $SCRATCH (minutes; many more under qemu-user)"
debootstrap --arch="$ARCH" --variant=minbase --include="$PACKAGES" "$SUITE" "$SCRATCH/rootfs" "$MIRROR" >"$SCRATCH/debootstrap.log" 2>&1 \
  || { tail -n 30 "$SCRATCH/debootstrap.log" >&2; exit 1; }

R="$SCRATCH/rootfs"
if [ -n "$INSTALL$DOWNLOAD" ]; then
  # apt inside the root, with the host's network and DNS, /proc and /dev for
  # maintainer scripts; all unmounted before the root is cached.
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  mount -t proc proc "$R/proc" && mount --bind /dev "$R/dev"
  trap 'umount "$R/dev" "$R/proc" 2>/dev/null; cleanup' EXIT
  in_root() { chroot "$R" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@" </dev/null >>"$SCRATCH/apt.log" 2>&1 || { tail -n 30 "$SCRATCH/apt.log" >&2; exit 1; }; }
  in_root apt-get update
  if [ -n "$INSTALL" ]; then log "apt-get install ${INSTALL//,/ } in the root"; in_root apt-get install -y ${INSTALL//,/ }; fi
  if [ -n "$DOWNLOAD" ]; then log "apt-get install --download-only ${DOWNLOAD//,/ } in the root"; in_root apt-get install -y --download-only ${DOWNLOAD//,/ }; fi
  umount "$R/dev" "$R/proc"
  trap cleanup EXIT
fi
# Units a test container has no use for, and which slow or disturb its boot.
mkdir -p "$R/etc/systemd/system"
for unit in getty@.service console-getty.service systemd-timesyncd.service systemd-networkd.service \
            systemd-networkd.socket systemd-resolved.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_all.timer fstrim.timer systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$unit"
done
echo otcd-test > "$R/etc/hostname"
# Keep the journal in memory (volatile overlay anyway) and big enough for a run.
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\nRateLimitBurst=0\n' > "$R/etc/systemd/journald.conf.d/otcd-test.conf"
# The downloaded packages and the lists that name them stay; nothing else does.
[ -n "$DOWNLOAD" ] || rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
echo "$RECIPE" > "$R/.otcd-rootfs-stamp"

# Replace the old root atomically enough: rename the old one aside, the new one in.
if [ -e "$ROOT" ]; then mv "$ROOT" "$SCRATCH/old"; fi
mv "$R" "$ROOT"
log "built $ROOT"
echo "$ROOT"
