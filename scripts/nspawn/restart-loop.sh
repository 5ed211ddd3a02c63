#!/bin/bash
# Quick restarts of the installed otcd, as a technician or an upgrade makes
# them: builds the amd64 .deb, installs it with apt into a Debian trixie root
# booted under systemd-nspawn (Debian's nodejs), runs the provider stand-in and
# the terminal simulator (TCP) beside it, then restarts otcd.service N times,
# GAP seconds apart, and prints what a technician would read afterwards
# (journalctl -p warning, otcctl status) and a payment.
#
#   npm run build && scripts/nspawn/restart-loop.sh [N=100] [GAP=0.5]     (root)
#
# Figures it gave (README, otcd.service): with the default KillMode, 3 of 100
# stops logged "systemd notification not delivered" at warning; with
# KillMode=mixed, none. With GAP=3.6 each otcd lives past its first PING's
# answer timeout while the next one's PING still falls inside the terminal's
# T_dup: about 1 restart in 100 draws its predecessor's SEQ, and the
# simulator's "dup":true count and otcd's debug line "PING acknowledged but
# not answered; asking once more" show it, with nothing at warning.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESTARTS=${1:-100}
GAP=${2:-0.5}
cd "$REPO"
# shellcheck source=lib.sh
. scripts/nspawn/lib.sh
# shellcheck source=../../test/systemd/checks.sh
. test/systemd/checks.sh
WORK=$(mktemp -d /tmp/otcd-restart-loop.XXXXXX)
scripts/build-deb.sh --arch amd64 --revision 1 --out "$WORK/debs" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
VERSION=$(node -p 'require("./package.json").version')
ROOTFS=$(scripts/nspawn/build-rootfs.sh --suite trixie --download nodejs) || exit 1
export NSPAWN_HOST_NODE=no
nspawn_boot "$ROOTFS" "otcd-restarts-$$" --bind-ro="$REPO":/src --bind-ro="$WORK/debs":/debs || exit 1
ct env DEBIAN_FRONTEND=noninteractive apt-get install -y "/debs/otcd_${VERSION}-1_amd64.deb" </dev/null >/dev/null 2>&1 || { echo "apt-get install failed"; exit 1; }
ct systemd-run -q --unit=otcd-test-provider -p StandardOutput=file:/run/otcd-provider.log -p StandardError=inherit \
  /usr/bin/node /src/dist/scripts/provider-standin.js --port 8443 --cert-dir /run/otcd-provider
ct systemd-run -q --unit=otcd-test-terminal -p StandardOutput=file:/run/otcd-terminal.log -p StandardError=inherit \
  /usr/bin/node /src/dist/scripts/terminal-sim.js --listen tcp://127.0.0.1:4001 --prog-sent-delay 100 --result-delay 100
configure_for_test_peers /usr/bin/otcd
# Debug, for the "asking once more" line; the warnings are what a technician reads.
printf '[daemon]\nlog_level = "debug"\n' | ct install -D -m 0640 -o root -g otcd /dev/stdin /etc/otcd/otcd.toml.d/90-restart-loop-debug.toml
ct systemctl start otcd.service
sleep 3
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; ct "$@"; echo "(exit $?)"; }
since=$(ct date '+%Y-%m-%d %H:%M:%S')
t0=$SECONDS
# reset-failed: more than StartLimitBurst starts in StartLimitIntervalSec would
# otherwise leave the unit failed (start-limit-hit), as the unit intends.
for _ in $(seq 1 "$RESTARTS"); do ct systemctl reset-failed otcd.service; ct systemctl restart otcd.service; sleep "$GAP"; done
sleep 4
echo "$RESTARTS restarts, $GAP s apart, in $((SECONDS - t0)) s"
echo "first PINGs the simulator took for retransmissions: $(ct grep -c '"cmd":"PING","dup":true' /run/otcd-terminal.log)"
echo "otcd asked such a PING again: $(ct journalctl -u otcd --since "$since" --no-pager -o cat | grep -c 'PING acknowledged but not answered') time(s)"
run journalctl -u otcd -p warning --since "$since" --no-pager -o cat
run otcctl status
run otcctl pay --amount 12000 --authorization-id RESTARTS-1 --intent-id "restart-loop-$$"
rm -rf "$WORK"
