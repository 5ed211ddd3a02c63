#!/bin/bash
# Boot harness: a real systemd (252, Debian bookworm) under systemd-nspawn,
# on a machine whose own init is not systemd. Source it from a bash script:
#
#   . scripts/nspawn/lib.sh
#   nspawn_boot "$ROOTFS" NAME [extra systemd-nspawn options...]
#   ct systemctl is-system-running          # any command, inside the container
#   nspawn_poweroff                         # also run by the EXIT trap it installs
#
# Sets NSPAWN_PID (systemd-nspawn) and CT_PID (the container's systemd, PID 1
# inside). The container root is --volatile=overlay: whatever a run writes
# lands in a tmpfs and the cached root stays as built. It has no network but
# loopback (--private-network). Host Node is bind-mounted at /usr/bin/node,
# unless NSPAWN_HOST_NODE=no (a root with its own nodejs: the .deb test).
#
# cgroups: the host has no systemd to give nspawn a scope, so each run gets
# its own directory in the named systemd hierarchy and in the unified one,
# and nspawn is moved there before it starts; otherwise parallel runs share
# nspawn's payload/supervisor cgroups. The directories are removed at the end.

NSPAWN_PID=""
CT_PID=""
NSPAWN_CG=""
NSPAWN_LOG=""

_nspawn_log() { printf 'nspawn: %s\n' "$*" >&2; }

# Runs a command inside the container, in all its namespaces, as root.
ct() { nsenter -t "$CT_PID" -a -- "$@"; }

nspawn_boot() {
  local root=$1 name=$2; shift 2
  NSPAWN_CG="otcd-nspawn-$name-$$"
  NSPAWN_LOG=$(mktemp "${TMPDIR:-/tmp}/$NSPAWN_CG.XXXXXX.log")
  local h
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h" ] && mkdir -p "/sys/fs/cgroup/$h/$NSPAWN_CG"
  done
  trap nspawn_cleanup EXIT
  trap 'exit 130' INT TERM
  (
    for h in systemd unified; do
      [ -d "/sys/fs/cgroup/$h/$NSPAWN_CG" ] && echo "$BASHPID" > "/sys/fs/cgroup/$h/$NSPAWN_CG/cgroup.procs"
    done
    node_bind=(--bind-ro=/usr/bin/node:/usr/bin/node)
    [ "${NSPAWN_HOST_NODE:-yes}" = no ] && node_bind=()
    exec systemd-nspawn -D "$root" -b --volatile=overlay --register=no --keep-unit --private-network \
      --console=pipe -M "$name" "${node_bind[@]}" "$@"
  ) </dev/null >"$NSPAWN_LOG" 2>&1 &
  NSPAWN_PID=$!
  local deadline=$((SECONDS + 30))
  while [ -z "$CT_PID" ]; do
    CT_PID=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
    if ! kill -0 "$NSPAWN_PID" 2>/dev/null; then _nspawn_log "systemd-nspawn exited:"; cat "$NSPAWN_LOG" >&2; return 1; fi
    [ $SECONDS -lt $deadline ] || { _nspawn_log "no systemd inside after 30 s"; cat "$NSPAWN_LOG" >&2; return 1; }
    [ -n "$CT_PID" ] || sleep 0.1
  done
  # Until the container's systemd is up, is-system-running cannot even connect.
  local state=""
  deadline=$((SECONDS + 60))
  while :; do
    state=$(ct systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    [ $SECONDS -lt $deadline ] || { _nspawn_log "system not up after 60 s (state '$state')"; ct systemctl --failed --no-pager >&2 || true; return 1; }
    sleep 0.2
  done
  _nspawn_log "booted $name: nspawn pid $NSPAWN_PID, container systemd pid $CT_PID, state $state"
}

nspawn_poweroff() {
  [ -n "$NSPAWN_PID" ] || return 0
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    ct systemctl poweroff --no-block >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$NSPAWN_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      _nspawn_log "container did not power off in 30 s; killing systemd-nspawn $NSPAWN_PID"
      kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
  fi
  wait "$NSPAWN_PID" 2>/dev/null || true
  NSPAWN_PID=""
  CT_PID=""
}

nspawn_cleanup() {
  local rc=$?
  nspawn_poweroff
  local h d
  for h in systemd unified; do
    d="/sys/fs/cgroup/$h/$NSPAWN_CG"
    [ -n "$NSPAWN_CG" ] && [ -d "$d" ] || continue
    # children first (nspawn's payload/supervisor), then our own directory
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$d" 2>/dev/null || _nspawn_log "could not remove $d (processes left in it?)"
  done
  [ -n "$NSPAWN_LOG" ] && rm -f "$NSPAWN_LOG"
  return $rc
}
