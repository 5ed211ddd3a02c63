#!/bin/bash
# Build (or reuse) the Debian bookworm root file system that the systemd test
# boots under systemd-nspawn.
#
#   scripts/nspawn/build-rootfs.sh [CACHE_DIR]     prints the root's path
#
# The root is cached in CACHE_DIR (default /var/cache/otcd-nspawn): it is
# reused when its stamp matches this script's recipe, and otherwise rebuilt in
# a scratch directory and renamed into place, so an interrupted build never
# leaves a half-built root that a later run would trust. Runs boot it with
# --volatile=overlay, so the cached root is never written to after the build.
#
# The mirror is read from the machine's apt sources at run time, never written
# here: CI machines point at their own mirror or snapshot.
set -euo pipefail

CACHE_DIR=${1:-${OTCD_NSPAWN_CACHE:-/var/cache/otcd-nspawn}}
SUITE=bookworm
# systemd + dbus: a real init and `systemctl`; socat: ptys for the terminal
# simulator; procps: pgrep/ps for the test; ca-certificates: the system CA
# store Node and the daemon read. Node is bind-mounted from the host.
PACKAGES=systemd,systemd-sysv,dbus,socat,procps,ca-certificates
# Everything that decides the root's content; a change rebuilds the cache.
RECIPE="v2 suite=$SUITE packages=$PACKAGES"
ROOT="$CACHE_DIR/rootfs"
STAMP="$ROOT/.otcd-rootfs-stamp"

log() { printf 'build-rootfs: %s\n' "$*" >&2; }

mirror_from_apt_sources() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822: first URIs: line of a stanza whose Suites include $SUITE
    uri=$(awk -v suite="$SUITE" '
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
    uri=$(awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i+1) == suite) { print $i; exit } break } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] && [ -x "$ROOT/lib/systemd/systemd" ]; then
  log "reusing $ROOT"
  echo "$ROOT"
  exit 0
fi

MIRROR=$(mirror_from_apt_sources) || { log "no deb.debian.org-style mirror for $SUITE in /etc/apt/sources*"; exit 1; }
mkdir -p "$CACHE_DIR"
SCRATCH=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
cleanup() { rm -rf --one-file-system "$SCRATCH"; }
trap cleanup EXIT

log "debootstrap $SUITE from $MIRROR into $SCRATCH (about a minute)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$SCRATCH/rootfs" "$MIRROR" >"$SCRATCH/debootstrap.log" 2>&1 \
  || { tail -n 30 "$SCRATCH/debootstrap.log" >&2; exit 1; }

R="$SCRATCH/rootfs"
# Units a test container has no use for, and which slow or disturb its boot.
for unit in getty@.service console-getty.service systemd-timesyncd.service systemd-networkd.service \
            systemd-networkd.socket systemd-resolved.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_all.timer fstrim.timer systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$unit"
done
echo otcd-test > "$R/etc/hostname"
# Keep the journal in memory (volatile overlay anyway) and big enough for a run.
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\nRateLimitBurst=0\n' > "$R/etc/systemd/journald.conf.d/otcd-test.conf"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"* 
echo "$RECIPE" > "$R/.otcd-rootfs-stamp"

# Replace the old root atomically enough: rename the old one aside, the new one in.
if [ -e "$ROOT" ]; then mv "$ROOT" "$SCRATCH/old"; fi
mv "$R" "$ROOT"
log "built $ROOT"
echo "$ROOT"
